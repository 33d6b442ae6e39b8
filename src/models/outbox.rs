//! The transactional outbox: an e-mail is a row written in the same
//! transaction as the change that causes it; `workers::outbox` delivers it.

use std::collections::BTreeMap;

use chrono::Duration;
use sea_orm::{
    entity::prelude::*,
    sea_query::{Expr, ExprTrait, OnConflict},
    ActiveValue::Set,
    ConnectionTrait, DbBackend, QueryOrder, QuerySelect, QueryTrait, Statement,
};

pub use super::_entities::outbox_messages::{self, ActiveModel, Column, Entity, Model};
use super::{
    lease,
    tx::{Script, Tx},
};
use crate::{
    domain::{crypto::Keyring, now},
    mailers::Mail,
};

impl ActiveModelBehavior for ActiveModel {}

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// A message to queue. `locals` may hold secrets (an OTP): it is stored
/// encrypted and blanked once delivered.
#[derive(Clone)]
pub struct NewMail {
    pub mail: Mail,
    pub to: String,
    pub locals: serde_json::Value,
    /// When set, a second message with the same key is never queued.
    pub dedupe_key: Option<String>,
}

impl std::fmt::Debug for NewMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMail")
            .field("mail", &self.mail)
            .field("dedupe_key", &self.dedupe_key)
            .finish_non_exhaustive()
    }
}

impl NewMail {
    #[must_use]
    pub fn new(mail: Mail, to: impl Into<String>, locals: serde_json::Value) -> Self {
        Self {
            mail,
            to: to.into(),
            locals,
            dedupe_key: None,
        }
    }

    #[must_use]
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    fn to_active_model(&self, key: &Keyring, leased: Option<DateTimeWithTimeZone>) -> ActiveModel {
        let t = now();
        ActiveModel {
            template: Set(self.mail.name().to_string()),
            recipient: Set(self.to.clone()),
            payload: Set(key.encrypt(self.locals.to_string().as_bytes())),
            status: Set(PENDING.to_string()),
            attempts: Set(0),
            next_attempt_at: Set(t),
            locked_until: Set(leased),
            last_error: Set(None),
            sent_at: Set(None),
            dedupe_key: Set(self.dedupe_key.clone()),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        }
    }
}

/// Queues `mail` in `tx`; the delivery worker is woken once `tx` commits.
///
/// # Errors
/// On database failure.
pub async fn enqueue(tx: &Tx, key: &Keyring, mail: NewMail) -> Result<(), DbErr> {
    enqueue_many(tx, key, [mail]).await
}

/// Queues several messages in one statement (a batch of orders' mail).
/// A message whose dedupe key is already queued is skipped.
///
/// # Errors
/// On database failure.
pub async fn enqueue_many(
    tx: &Tx,
    key: &Keyring,
    mails: impl IntoIterator<Item = NewMail>,
) -> Result<(), DbErr> {
    let mut script = Script::new();
    enqueue_in(tx, &mut script, key, mails);
    script.run(tx).await
}

/// [`enqueue_many`] as one statement of `script`, which the caller runs
/// in `tx`.
pub fn enqueue_in(
    tx: &Tx,
    script: &mut Script,
    key: &Keyring,
    mails: impl IntoIterator<Item = NewMail>,
) {
    let rows: Vec<ActiveModel> = mails
        .into_iter()
        .map(|m| m.to_active_model(key, None))
        .collect();
    if push_insert(tx, script, rows) {
        tx.after_commit(wake);
    }
}

/// Mail handed to the running delivery worker in memory once its
/// transaction commits, instead of being found by the worker's next scan
/// and claimed (an update that reads each row back) and decrypted: the
/// intake's confirmations, written already leased to that worker (see
/// [`enqueue_handed_over`]).
/// Its `Debug` shows no recipient nor locals (see [`NewMail`]'s).
#[derive(Debug)]
pub struct HandedOver {
    /// The lease the rows were written with, and the worker's claim token.
    pub token: DateTimeWithTimeZone,
    pub mails: Vec<NewMail>,
}

/// [`enqueue_in`] for mail the caller hands to the delivery worker itself
/// once `tx` commits: the rows are written leased until `token`, so no scan
/// takes them meanwhile, and if the process dies first the lease runs out
/// and the worker's scan delivers them like any other. The worker marks
/// them sent by dedupe key, so only messages with one are handed over (a
/// message without one is queued for the scan, as by [`enqueue_in`]), and
/// the key must be one no stored row has: a repeat would be skipped by the
/// insert yet still handed over.
pub fn enqueue_handed_over(
    tx: &Tx,
    script: &mut Script,
    key: &Keyring,
    mails: Vec<NewMail>,
    token: DateTimeWithTimeZone,
) -> HandedOver {
    let (mails, unkeyed): (Vec<NewMail>, Vec<NewMail>) =
        mails.into_iter().partition(|m| m.dedupe_key.is_some());
    enqueue_in(tx, script, key, unkeyed);
    let rows = mails
        .iter()
        .map(|m| m.to_active_model(key, Some(token)))
        .collect();
    // No doorbell: the worker's scan would find these rows leased.
    push_insert(tx, script, rows);
    HandedOver { token, mails }
}

/// Adds the insert of `rows` to `script`, a repeated dedupe key skipped;
/// `false` when there is nothing to insert.
fn push_insert(tx: &Tx, script: &mut Script, rows: Vec<ActiveModel>) -> bool {
    if rows.is_empty() {
        return false;
    }
    let insert = Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .into_query();
    script.push(tx.get_database_backend().build(&insert));
    true
}

static DOORBELL: lease::Doorbell = lease::Doorbell::new();

/// Tells the delivery worker that new mail is waiting.
pub fn wake() {
    DOORBELL.ring();
}

/// Waits until [`wake`] is called or `timeout` passes.
pub async fn wait(timeout: std::time::Duration) {
    DOORBELL.wait(timeout).await;
}

/// Ids of messages due for delivery and not leased by another worker.
///
/// # Errors
/// On database failure.
pub async fn due_ids<C: ConnectionTrait>(db: &C, limit: u64) -> Result<Vec<i64>, DbErr> {
    let t = now();
    Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Status.eq(PENDING))
        .filter(Column::NextAttemptAt.lte(t))
        .filter(lease::free(Column::LockedUntil, t))
        // The (status, next_attempt_at) index's own order: the scan stops
        // after `limit` rows however long the queue is.
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Leases the messages among `ids` that are still pending and free, in one
/// statement, and returns them. The lease's expiry carries random
/// microseconds, so it doubles as this worker's claim token.
///
/// # Errors
/// On database failure.
pub async fn claim_batch<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    lease: Duration,
) -> Result<Vec<Model>, DbErr> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let t = now();
    let token = lease::token(lease);
    // One statement (`RETURNING`), so the claim holds SQLite's one write
    // connection for a single hand-off instead of an update and a read.
    let claim = Entity::update_many()
        .col_expr(Column::LockedUntil, Expr::value(token))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::Status.eq(PENDING))
        .filter(lease::free(Column::LockedUntil, t))
        .into_query()
        .returning_all()
        .to_owned();
    let mut batch = Entity::find()
        .from_raw_sql(db.get_database_backend().build(&claim))
        .all(db)
        .await?;
    batch.sort_by_key(|m| m.id);
    Ok(batch)
}

/// Picks and leases up to `limit` due messages in one go, and returns them
/// (their `locked_until` is this claim's token).
///
/// On PostgreSQL one statement does both, with `FOR UPDATE SKIP LOCKED`:
/// workers on several instances each take a different batch at once
/// instead of racing for the same oldest rows (where all but one would come
/// away empty until the next poll). On SQLite, which has one writer and no
/// row locks, [`due_ids`] on `reader` then [`claim_batch`]. Either way a row is leased
/// by one worker only: the lease is set only where it is still free.
///
/// # Errors
/// On database failure.
pub async fn claim_due<C: ConnectionTrait, R: ConnectionTrait>(
    db: &C,
    reader: &R,
    limit: u64,
    lease: Duration,
) -> Result<Vec<Model>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        let ids = due_ids(reader, limit).await?;
        return claim_batch(db, &ids, lease).await;
    }
    let t = now();
    let token = lease::token(lease);
    let mut batch = Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            r"UPDATE outbox_messages SET locked_until = $1
          WHERE id IN (
            SELECT id FROM outbox_messages
            WHERE status = $2 AND next_attempt_at <= $3
              AND (locked_until IS NULL OR locked_until < $3)
            ORDER BY next_attempt_at
            LIMIT $4
            FOR UPDATE SKIP LOCKED)
          RETURNING *",
            [
                token.into(),
                PENDING.into(),
                t.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .all(db)
        .await?;
    batch.sort_by_key(|m| m.id);
    Ok(batch)
}

/// Marks messages delivered and blanks their payloads, in one statement;
/// only while they are still under this worker's lease (`token`). Returns
/// how many it marked.
///
/// # Errors
/// On database failure.
pub async fn mark_sent<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    token: Option<DateTimeWithTimeZone>,
) -> Result<usize, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    mark_sent_where(
        db,
        sea_orm::Condition::all()
            .add(Column::Id.is_in(ids.iter().copied()))
            .add(Column::LockedUntil.eq(token)),
    )
    .await
}

/// Marks the rows `leased` selects delivered and blanks their payloads.
async fn mark_sent_where<C: ConnectionTrait>(
    db: &C,
    leased: sea_orm::Condition,
) -> Result<usize, DbErr> {
    let t = now();
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(SENT))
        .col_expr(Column::SentAt, Expr::value(t))
        .col_expr(Column::Payload, Expr::value(""))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTimeWithTimeZone>::None),
        )
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(t))
        .filter(leased)
        .exec(db)
        .await?;
    Ok(usize::try_from(res.rows_affected).unwrap_or(0))
}

/// [`mark_sent`] for handed-over mail, by dedupe key, each key with the
/// token it was handed over with; one statement.
///
/// # Errors
/// On database failure.
pub async fn mark_sent_by_key<C: ConnectionTrait>(
    db: &C,
    sent: &[(DateTimeWithTimeZone, &str)],
) -> Result<usize, DbErr> {
    if sent.is_empty() {
        return Ok(0);
    }
    let mut by_token: BTreeMap<DateTimeWithTimeZone, Vec<&str>> = BTreeMap::new();
    for (token, key) in sent {
        by_token.entry(*token).or_default().push(key);
    }
    let leased = by_token
        .into_iter()
        .fold(sea_orm::Condition::any(), |any, (token, keys)| {
            any.add(
                sea_orm::Condition::all()
                    .add(Column::DedupeKey.is_in(keys))
                    .add(Column::LockedUntil.eq(token)),
            )
        });
    mark_sent_where(db, leased).await
}

/// Records a failed attempt: retried at `retry_at`, or given up (`failed`)
/// once `max_attempts` is reached. `error` must hold no secret.
///
/// # Errors
/// On database failure.
pub async fn mark_failed<C: ConnectionTrait>(
    db: &C,
    msg: &Model,
    error: &str,
    retry_at: DateTimeWithTimeZone,
    max_attempts: i32,
) -> Result<bool, DbErr> {
    let attempts = msg.attempts + 1;
    let gave_up = attempts >= max_attempts;
    Entity::update_many()
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(
            Column::Status,
            Expr::value(if gave_up { FAILED } else { PENDING }),
        )
        .col_expr(
            Column::LastError,
            Expr::value(error.chars().take(500).collect::<String>()),
        )
        .col_expr(Column::NextAttemptAt, Expr::value(retry_at))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTimeWithTimeZone>::None),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(Column::Id.eq(msg.id))
        .filter(Column::LockedUntil.eq(msg.locked_until))
        .exec(db)
        .await?;
    Ok(gave_up)
}

/// Messages waiting and messages given up on (for `/metrics`).
///
/// # Errors
/// On database failure.
pub async fn counts<C: ConnectionTrait>(db: &C) -> Result<(u64, u64), DbErr> {
    let pending = Entity::find()
        .filter(Column::Status.eq(PENDING))
        .count(db)
        .await?;
    let failed = Entity::find()
        .filter(Column::Status.eq(FAILED))
        .count(db)
        .await?;
    Ok((pending, failed))
}

/// Messages not delivered yet, `status` pending or failed (both when
/// `None`), oldest first: `(count, page)`.
///
/// # Errors
/// On database failure.
pub async fn list_unsent<C: ConnectionTrait>(
    db: &C,
    status: Option<&str>,
    page: u64,
    page_size: u64,
) -> Result<(u64, Vec<Model>), DbErr> {
    let select = match status {
        Some(s) => Entity::find().filter(Column::Status.eq(s)),
        None => Entity::find().filter(Column::Status.is_in([PENDING, FAILED])),
    };
    let count = sea_orm::PaginatorTrait::count(select.clone(), db).await?;
    let rows = select
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .offset((page - 1) * page_size)
        .limit(page_size)
        .all(db)
        .await?;
    Ok((count, rows))
}

/// "Retry now": a pending or failed message becomes due at once (a failed
/// one gets one more attempt) and the worker is woken. `false` when no such
/// unsent message exists.
///
/// # Errors
/// On database failure.
pub async fn retry_now<C: ConnectionTrait>(db: &C, id: i64) -> Result<bool, DbErr> {
    let t = now();
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(PENDING))
        .col_expr(Column::NextAttemptAt, Expr::value(t))
        .col_expr(Column::UpdatedAt, Expr::value(t))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.is_in([PENDING, FAILED]))
        .filter(lease::free(Column::LockedUntil, t))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    wake();
    Ok(true)
}

//! Orders: accepted in batches (one transaction writes the orders, their
//! first history rows and their customers' confirmation e-mails), listed and
//! moved forward by their company only.

use std::collections::HashMap;

use sea_orm::{
    entity::prelude::*,
    sea_query::{Expr, Query},
    ActiveValue::Set,
    ConnectionTrait, DbBackend, PaginatorTrait, QueryOrder, QuerySelect, QueryTrait,
};
use serde_json::json;

pub use super::_entities::orders::{self, ActiveModel, Column, Entity, Model};
use super::{
    _entities::order_status_changes as changes,
    events::{self, NewEvent},
    kyc,
    outbox::{self, HandedOver, NewMail},
    search,
    tx::{Script, Tx},
    users,
};
use crate::{
    domain::{
        email::Email,
        event_type::EventType,
        now,
        phone::Phone,
        tracking::{TrackingStatus, TransitionError},
    },
    errors::{ApiError, ApiResult},
    mailers::Mail,
    settings::AppSettings,
};

impl ActiveModelBehavior for ActiveModel {}
impl ActiveModelBehavior for changes::ActiveModel {}

/// An order as parsed from the webhook, ready to store.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub user_id: i64,
    pub pid: Uuid,
    pub external_order_id: Option<String>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    pub customer_name: String,
    pub customer_email: Email,
    pub customer_phone: Phone,
    pub item_summary: String,
    pub address: String,
    pub tracking_status: TrackingStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DedupeKey {
    External(i64, String),
    Idempotency(i64, String),
}

impl NewOrder {
    /// A repeat is an order of the same company with the same external id or
    /// the same idempotency key.
    fn dedupe_keys(&self) -> impl Iterator<Item = DedupeKey> + '_ {
        let ext = self
            .external_order_id
            .clone()
            .map(|k| DedupeKey::External(self.user_id, k));
        let idem = self
            .idempotency_key
            .clone()
            .map(|k| DedupeKey::Idempotency(self.user_id, k));
        ext.into_iter().chain(idem)
    }
}

/// The answer for one order of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Created(Uuid),
    /// A repeat of an order already stored: its id.
    Duplicate(Uuid),
}

impl Model {
    /// The stored status; one that names no status is a corrupt row.
    ///
    /// # Errors
    /// An internal error naming the row.
    pub fn status(&self) -> ApiResult<TrackingStatus> {
        self.tracking_status.parse().map_err(|_| {
            ApiError::invariant(format!(
                "orders row {}: unknown status {:?}",
                self.id, self.tracking_status
            ))
        })
    }

    /// The order `pid` of company `user_id`; another company's order is not found.
    ///
    /// # Errors
    /// 404 when absent or not the company's.
    pub async fn find_for_company<C: ConnectionTrait>(
        db: &C,
        user_id: i64,
        pid: Uuid,
    ) -> ApiResult<Self> {
        Entity::find()
            .filter(Column::UserId.eq(user_id))
            .filter(Column::Pid.eq(pid))
            .one(db)
            .await?
            .ok_or_else(ApiError::not_found)
    }

    /// The company that owns this order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn owner<C: ConnectionTrait>(&self, db: &C) -> Result<Option<users::Model>, DbErr> {
        users::Entity::find_by_id(self.user_id).one(db).await
    }

    /// Any company's order (the admin console).
    ///
    /// # Errors
    /// 404 when absent.
    pub async fn find_any<C: ConnectionTrait>(db: &C, pid: Uuid) -> ApiResult<Self> {
        Entity::find()
            .filter(Column::Pid.eq(pid))
            .one(db)
            .await?
            .ok_or_else(ApiError::not_found)
    }

    /// # Errors
    /// 404 when the company has no order with this external id.
    pub async fn find_by_external_id<C: ConnectionTrait>(
        db: &C,
        user_id: i64,
        external_id: &str,
    ) -> ApiResult<Self> {
        Entity::find()
            .filter(Column::UserId.eq(user_id))
            .filter(Column::ExternalOrderId.eq(external_id))
            .one(db)
            .await?
            .ok_or_else(ApiError::not_found)
    }

    /// The status history, oldest first.
    ///
    /// # Errors
    /// On database failure.
    pub async fn history<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<changes::Model>, DbErr> {
        changes::Entity::find()
            .filter(changes::Column::OrderId.eq(self.id))
            .order_by_asc(changes::Column::Id)
            .all(db)
            .await
    }
}

/// Filters for the company's order list.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub status: Option<TrackingStatus>,
    /// Matched against customer name, e-mail and external id, any case.
    pub q: Option<String>,
    pub page: u64,
    pub page_size: u64,
}

impl ListQuery {
    fn offset(&self) -> u64 {
        self.page.saturating_sub(1) * self.page_size
    }

    /// How far a list's count goes: [`COUNT_CAP`], or the end of the page
    /// asked for if that is further.
    fn count_limit(&self) -> u64 {
        COUNT_CAP.max(self.offset() + self.page_size)
    }
}

/// Order lists count their orders exactly up to this many; past it (a
/// surname among a million orders) they say "more than". An exact count
/// reads every matching order (one heap page each on PostgreSQL: ~60 ms for
/// 8 000 matches), which no page of 100 needs.
pub const COUNT_CAP: u64 = 1000;

/// How many orders a list holds: `n`, or more than `n` when not `exact`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub n: u64,
    pub exact: bool,
}

impl Counted {
    /// An empty list.
    pub const NONE: Self = Self::exactly(0);

    /// Exactly `n`.
    #[must_use]
    pub const fn exactly(n: u64) -> Self {
        Self { n, exact: true }
    }

    /// From `found` rows counted with a limit of `limit + 1`.
    const fn of(found: u64, limit: u64) -> Self {
        if found > limit {
            Self {
                n: limit,
                exact: false,
            }
        } else {
            Self {
                n: found,
                exact: true,
            }
        }
    }
}

/// The company's orders, newest first.
///
/// # Errors
/// On database failure.
pub async fn list_for_company<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    query: &ListQuery,
) -> ApiResult<(Counted, Vec<Model>)> {
    list(db, Some(user_id), query).await
}

/// Every company's orders, newest first (the admin console's search).
///
/// # Errors
/// On database failure.
pub async fn search_all<C: ConnectionTrait>(
    db: &C,
    query: &ListQuery,
) -> ApiResult<(Counted, Vec<Model>)> {
    list(db, None, query).await
}

/// Orders by tracking status for one company: `(status, count)`.
///
/// # Errors
/// On database failure.
pub async fn counts_by_status<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<Vec<(String, i64)>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::TrackingStatus)
        .column_as(Column::Id.count(), "n")
        .filter(Column::UserId.eq(user_id))
        .group_by(Column::TrackingStatus)
        .order_by_asc(Column::TrackingStatus)
        .into_tuple()
        .all(db)
        .await
}

/// Orders created since `since`, all companies.
///
/// # Errors
/// On database failure.
pub async fn count_since<C: ConnectionTrait>(
    db: &C,
    since: DateTimeWithTimeZone,
) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::CreatedAt.gte(since))
        .count(db)
        .await
}

async fn list<C: ConnectionTrait>(
    db: &C,
    owner: Option<i64>,
    query: &ListQuery,
) -> ApiResult<(Counted, Vec<Model>)> {
    let mut select = Entity::find();
    if let Some(user_id) = owner {
        select = select.filter(Column::UserId.eq(user_id));
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        return Ok(find(db, owner, query, &search::words(q)).await?);
    }
    if let Some(s) = query.status {
        select = select.filter(Column::TrackingStatus.eq(s.as_str()));
    }
    let count = count_upto(db, select.clone(), query.count_limit()).await?;
    let rows = newest_first(select)
        .offset(query.offset())
        .limit(query.page_size)
        .all(db)
        .await?;
    Ok((count, rows))
}

fn newest_first(select: Select<Entity>) -> Select<Entity> {
    select
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
}

/// The company's `n` newest orders, without a count (the admin's company
/// page counts by status instead).
///
/// # Errors
/// On database failure.
pub async fn newest_for_company<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    n: u64,
) -> Result<Vec<Model>, DbErr> {
    newest_first(Entity::find().filter(Column::UserId.eq(user_id)))
        .limit(n)
        .all(db)
        .await
}

/// How many rows `select` finds, counted up to `limit` (one more tells
/// there are more).
async fn count_upto<C: ConnectionTrait>(
    db: &C,
    select: Select<Entity>,
    limit: u64,
) -> Result<Counted, DbErr> {
    let matches = select
        .select_only()
        .column(Column::Id)
        .limit(limit + 1)
        .build(db.get_database_backend());
    let count = sea_orm::Statement::from_sql_and_values(
        matches.db_backend,
        format!("SELECT count(*) AS n FROM ({}) AS matches", matches.sql),
        matches.values.map(|v| v.0).unwrap_or_default(),
    );
    counted(db, count, limit).await
}

/// Runs `count`, a `SELECT count(*) AS n` over rows limited to `limit + 1`.
async fn counted<C: ConnectionTrait>(
    db: &C,
    count: sea_orm::Statement,
    limit: u64,
) -> Result<Counted, DbErr> {
    let found = db
        .query_one_raw(count)
        .await?
        .map_or(Ok(0), |row| row.try_get::<i64>("", "n"))?;
    Ok(Counted::of(u64::try_from(found).unwrap_or(0), limit))
}

/// A search: the orders (of `owner`, in `query.status`) where every word
/// is a word of the customer's name or e-mail or the external id, newest
/// first, through the index of the `order_search` migrations. Newest means
/// last stored (the highest id), which the index can order by itself.
async fn find<C: ConnectionTrait>(
    db: &C,
    owner: Option<i64>,
    query: &ListQuery,
    words: &[String],
) -> Result<(Counted, Vec<Model>), DbErr> {
    if words.is_empty() {
        return Ok((Counted::NONE, Vec::new()));
    }
    let (limit, offset) = (query.page_size, query.offset());
    let status = query.status.map(TrackingStatus::as_str);
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite {
        let fts = search::fts5_query(words, owner, status);
        let count_limit = query.count_limit();
        let count = counted(
            db,
            sea_orm::Statement::from_sql_and_values(
                backend,
                "SELECT count(*) AS n FROM \
                 (SELECT rowid FROM orders_search WHERE orders_search MATCH ? LIMIT ?)",
                [fts.clone().into(), sea_orm::Value::from(count_limit + 1)],
            ),
            count_limit,
        )
        .await?;
        let rows = Entity::find()
            .filter(Expr::cust_with_values(
                r#""orders"."id" IN (SELECT rowid FROM orders_search WHERE orders_search MATCH ? ORDER BY rowid DESC LIMIT ? OFFSET ?)"#,
                [fts.into(), sea_orm::Value::from(limit), sea_orm::Value::from(offset)],
            ))
            .order_by_desc(Column::Id)
            .all(db)
            .await?;
        return Ok((count, rows));
    }
    // `search_words`: the generated column of the `order_search_words`
    // migration, which a GIN index serves.
    let mut select = Entity::find().filter(Expr::cust_with_values(
        r#""orders"."search_words" @@ to_tsquery('simple', $1)"#,
        [search::tsquery(words)],
    ));
    if let Some(user_id) = owner {
        select = select.filter(Column::UserId.eq(user_id));
    }
    if let Some(s) = status {
        select = select.filter(Column::TrackingStatus.eq(s));
    }
    let count = count_upto(db, select.clone(), query.count_limit()).await?;
    // Newest first. When the count is exact the matches are no more than
    // the count limit (1 000, or the end of the page asked for, which a
    // deep page reads anyway), and the page is theirs sorted: `id + 0`
    // keeps the planner from walking the primary key backwards instead and
    // checking every order on the way, which it picks when it overestimates
    // the matches (a whole table read, seconds at a million, for an external
    // id whose `seed` and run words are in every order). Many matches are
    // met soon on that walk.
    let newest_first = if count.exact {
        Expr::cust(r#""orders"."id" + 0"#)
    } else {
        Expr::col((Entity, Column::Id))
    };
    let rows = select
        .order_by_desc(newest_first)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((count, rows))
}

/// What [`insert_batch`] did.
#[derive(Debug)]
pub struct Inserted {
    /// One answer per order of the batch, in its order.
    pub answers: Vec<Accepted>,
    /// The new orders' confirmations, for the caller to hand to the mail
    /// worker once the transaction commits; `None` unless asked for.
    pub mail: Option<HandedOver>,
}

/// Stores a batch of orders in `txn`: repeats (of stored orders or within the
/// batch) are answered with the original id and create nothing; each new
/// order gets its first history row and its confirmation e-mail. With
/// `hand_over` (a lease token), the confirmations are written leased
/// until then and returned for the caller to hand to the mail worker
/// (`outbox::enqueue_handed_over`). The caller commits; on a unique
/// violation (another server raced) it retries.
///
/// # Errors
/// On database failure.
pub async fn insert_batch(
    tx: &Tx,
    app: &AppSettings,
    batch: &[NewOrder],
    hand_over: Option<DateTimeWithTimeZone>,
) -> Result<Inserted, DbErr> {
    let mut answers: Vec<Option<Accepted>> = vec![None; batch.len()];
    let mut first_with_key: HashMap<DedupeKey, usize> = HashMap::new();
    let mut repeat_of: Vec<Option<usize>> = vec![None; batch.len()];
    for (i, order) in batch.iter().enumerate() {
        let earlier = order
            .dedupe_keys()
            .find_map(|k| first_with_key.get(&k).copied());
        match earlier {
            Some(j) => repeat_of[i] = Some(j),
            None => {
                for key in order.dedupe_keys() {
                    first_with_key.insert(key, i);
                }
            }
        }
    }
    // One indexed lookup per company and key kind: (user_id, external_order_id)
    // and (user_id, idempotency_key) are unique indexes, so each probe is a
    // seek, never a scan of the company's orders.
    let mut wanted: HashMap<(i64, bool), Vec<String>> = HashMap::new();
    for key in first_with_key.keys() {
        match key {
            DedupeKey::External(u, k) => wanted.entry((*u, true)).or_default().push(k.clone()),
            DedupeKey::Idempotency(u, k) => wanted.entry((*u, false)).or_default().push(k.clone()),
        }
    }
    for ((user_id, external), keys) in wanted {
        let column = if external {
            Column::ExternalOrderId
        } else {
            Column::IdempotencyKey
        };
        let existing = Entity::find()
            .filter(Column::UserId.eq(user_id))
            .filter(column.is_in(keys))
            .all(tx)
            .await?;
        for row in existing {
            let keys = [
                row.external_order_id
                    .clone()
                    .map(|k| DedupeKey::External(row.user_id, k)),
                row.idempotency_key
                    .clone()
                    .map(|k| DedupeKey::Idempotency(row.user_id, k)),
            ];
            for key in keys.into_iter().flatten() {
                if let Some(&i) = first_with_key.get(&key) {
                    answers[i] = Some(Accepted::Duplicate(row.pid));
                }
            }
        }
    }

    let fresh: Vec<&NewOrder> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| answers[*i].is_none() && repeat_of[*i].is_none())
        .map(|(_, o)| o)
        .collect();
    let mail = if fresh.is_empty() {
        None
    } else {
        store_fresh(tx, app, &fresh, hand_over).await?
    };
    for (i, order) in batch.iter().enumerate() {
        if answers[i].is_none() && repeat_of[i].is_none() {
            answers[i] = Some(Accepted::Created(order.pid));
        }
    }
    for i in 0..batch.len() {
        if let Some(j) = repeat_of[i] {
            answers[i] = answers[j].map(|a| match a {
                Accepted::Created(p) | Accepted::Duplicate(p) => Accepted::Duplicate(p),
            });
        }
    }
    // Every order is new, a repeat of a stored one, or a repeat of an
    // earlier one in this batch: all three were answered above.
    let answers = answers
        .into_iter()
        .map(|a| a.ok_or_else(|| DbErr::Custom("an order of the batch got no answer".into())))
        .collect::<Result<_, _>>()?;
    Ok(Inserted { answers, mail })
}

async fn store_fresh(
    tx: &Tx,
    app: &AppSettings,
    fresh: &[&NewOrder],
    hand_over: Option<DateTimeWithTimeZone>,
) -> Result<Option<HandedOver>, DbErr> {
    let backend = tx.get_database_backend();
    let t = now();
    let mut user_ids: Vec<i64> = fresh.iter().map(|o| o.user_id).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let names = kyc::approved_business_names(tx, user_ids).await?;

    // Every write of the batch is one script (one hand-off on SQLite): the
    // orders, then their first history rows, which find their order's id
    // by pid (`INSERT … SELECT`) instead of reading it back first.
    let mut script = Script::new();
    let rows = fresh.iter().map(|o| ActiveModel {
        pid: Set(o.pid),
        user_id: Set(o.user_id),
        external_order_id: Set(o.external_order_id.clone()),
        idempotency_key: Set(o.idempotency_key.clone()),
        customer_name: Set(o.customer_name.clone()),
        customer_email: Set(o.customer_email.as_str().to_string()),
        customer_phone: Set(o.customer_phone.as_str().to_string()),
        item_summary: Set(o.item_summary.clone()),
        address: Set(o.address.clone()),
        tracking_status: Set(o.tracking_status.as_str().to_string()),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    });
    script.push(backend.build(&Entity::insert_many(rows).into_query()));
    let first_changes = Query::select()
        .column(Column::Id)
        .column(Column::TrackingStatus)
        .expr(Expr::val(Source::Webhook.as_str()))
        .column(Column::CreatedAt)
        .column(Column::UpdatedAt)
        .from(Entity)
        .and_where(Column::Pid.is_in(fresh.iter().map(|o| o.pid)))
        .order_by(Column::Id, sea_orm::Order::Asc)
        .to_owned();
    script.push_insert_select(
        backend,
        changes::Entity,
        [
            changes::Column::OrderId,
            changes::Column::ToStatus,
            changes::Column::Source,
            changes::Column::CreatedAt,
            changes::Column::UpdatedAt,
        ],
        first_changes,
    )?;

    let created: Vec<NewEvent> = fresh
        .iter()
        .map(|o| {
            NewEvent::new(
                o.user_id,
                EventType::OrderCreated,
                json!({
                    "order_id": o.pid,
                    "external_order_id": o.external_order_id,
                    "status": o.tracking_status.as_str(),
                    "customer": {
                        "name": o.customer_name,
                        "email": o.customer_email.as_str(),
                        "phone": o.customer_phone.as_str(),
                    },
                    "item_summary": o.item_summary,
                    "address": o.address,
                    "created_at": t,
                }),
            )
        })
        .collect();
    events::record_in(tx, &mut script, &created).await?;

    // The dedupe key is the new order's: no stored row has it, as
    // `enqueue_handed_over` needs.
    let mails = fresh.iter().map(|o| {
        NewMail::new(
            Mail::OrderConfirmation,
            o.customer_email.as_str(),
            json!({
                "customer_name": o.customer_name,
                "business_name": names.get(&o.user_id),
                "order_id": o.pid,
                "item_summary": o.item_summary,
                "address": o.address,
                "status": o.tracking_status.label(),
            }),
        )
        .dedupe(format!("order:{}:confirmation", o.pid))
    });
    let keys = &app.keys.mail;
    let handed_over = match hand_over {
        Some(token) => Some(outbox::enqueue_handed_over(
            tx,
            &mut script,
            keys,
            mails.collect(),
            token,
        )),
        None => {
            outbox::enqueue_in(tx, &mut script, keys, mails);
            None
        }
    };
    script.run(tx).await?;
    Ok(handed_over)
}

/// Where a status change comes from, for the history and the
/// `order.status_changed` event's `changed_by`.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    Webhook,
    Api,
    /// The business dashboard's form.
    Dashboard,
}

impl Source {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Api => "api",
            Self::Dashboard => "dashboard",
        }
    }
}

/// Moves `order` to `to` (forward only; terminal statuses never move), records
/// the change and queues exactly one status e-mail for it. Moving to the
/// current status changes nothing.
///
/// # Errors
/// 409 with the current status when the move is refused.
pub async fn change_status(
    db: &DatabaseConnection,
    app: &AppSettings,
    order: Model,
    to: TrackingStatus,
    note: Option<String>,
    source: Source,
) -> ApiResult<Model> {
    let tx = Tx::begin(db).await?;
    // Re-read under lock: two updates at once must not both pass the check.
    let order = Entity::find_by_id(order.id)
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let from = order.status()?;
    let changed = from.check_move(to).map_err(|e| {
        let msg = match e {
            TransitionError::Terminal(s) => {
                format!("Order is {s}: its status can no longer change")
            }
            TransitionError::Backwards(s) => format!("Cannot move an order from {s} back to {to}"),
        };
        ApiError::conflict(msg, Some(from.to_string()))
    })?;
    if !changed {
        tx.rollback().await?;
        return Ok(order);
    }
    let t = now();
    let business_name = kyc::approved_business_names(&tx, [order.user_id])
        .await?
        .remove(&order.user_id);
    let mut am: ActiveModel = order.into();
    am.tracking_status = Set(to.as_str().to_string());
    am.updated_at = Set(t);
    let order = am.update(&tx).await?;
    changes::ActiveModel {
        order_id: Set(order.id),
        from_status: Set(Some(from.as_str().to_string())),
        to_status: Set(to.as_str().to_string()),
        note: Set(note.clone()),
        source: Set(source.as_str().into()),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let mail = NewMail::new(
        Mail::OrderStatus,
        order.customer_email.clone(),
        json!({
            "customer_name": order.customer_name,
            "business_name": business_name,
            "order_id": order.pid,
            "item_summary": order.item_summary,
            "status": to.as_str(),
            "status_label": to.label(),
            "note": note,
        }),
    )
    .dedupe(format!("order:{}:status:{}", order.pid, to.as_str()));
    outbox::enqueue(&tx, &app.keys.mail, mail).await?;
    let changed = json!({
        "order_id": order.pid,
        "external_order_id": order.external_order_id,
        "old_status": from.as_str(),
        "new_status": to.as_str(),
        "note": note,
        "changed_by": source.as_str(),
    });
    events::record(
        &tx,
        NewEvent::new(order.user_id, EventType::OrderStatusChanged, changed),
    )
    .await?;
    tx.commit().await?;
    Ok(order)
}

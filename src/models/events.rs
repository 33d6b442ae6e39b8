//! Outbound events and their deliveries.
//!
//! An event is stored once, in the transaction of the change that causes it
//! ([`record`], [`record_many`]), and fanned out there into one delivery row
//! per enabled endpoint subscribed to its type: the queue that
//! `workers::deliveries` leases from, sends and retries. So a committed
//! change always has its event, and its event always reaches every endpoint
//! that was subscribed at that moment, whatever crashes in between.
//!
//! This model is a leaf: the order, KYC and key models call it; it calls
//! none of them.
//!
//! Why one file of ~700 lines: recording, leasing, outcome recording and
//! replay are the three tables' one set of invariants (a delivery row's
//! status, lease and attempt count change together); read apart, each half
//! hides what the other relies on. Half of it is doc comments.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Duration;
use sea_orm::{
    entity::prelude::*,
    sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Query, SimpleExpr},
    ActiveValue::Set,
    ConnectionTrait, PaginatorTrait, QueryOrder, QuerySelect, QueryTrait,
};
use serde_json::Value;

pub use super::_entities::{
    event_deliveries as deliveries, event_delivery_attempts as attempts, events,
};
use super::{
    endpoints, lease,
    tx::{Script, Tx},
};
use crate::{
    domain::{
        event_type::{new_event_id, EventType},
        now,
    },
    errors::{ApiError, ApiResult},
};

impl ActiveModelBehavior for events::ActiveModel {}
impl ActiveModelBehavior for deliveries::ActiveModel {}
impl ActiveModelBehavior for attempts::ActiveModel {}

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

/// `status = '<status>'` with the status as a literal, so the partial
/// indexes on a status (`… WHERE status = 'pending'`) serve the query on
/// PostgreSQL's generic plans too, where a bound parameter would not.
fn status_is(status: &'static str) -> SimpleExpr {
    Expr::col((deliveries::Entity, deliveries::Column::Status))
        .eq(SimpleExpr::Constant(status.into()))
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub user_id: i64,
    pub event_type: EventType,
    pub data: Value,
    /// For events that must happen once: a second one with the same key is
    /// never recorded (the key's expiry warning).
    pub dedupe_key: Option<String>,
}

impl NewEvent {
    #[must_use]
    pub fn new(user_id: i64, event_type: EventType, data: Value) -> Self {
        Self {
            user_id,
            event_type,
            data,
            dedupe_key: None,
        }
    }

    #[must_use]
    pub fn once(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

impl events::Model {
    /// # Errors
    /// An internal error for a corrupt row.
    pub fn kind(&self) -> ApiResult<EventType> {
        self.event_type.parse().map_err(|_| {
            ApiError::invariant(format!(
                "events row {}: unknown type {:?}",
                self.id, self.event_type
            ))
        })
    }

    /// # Errors
    /// An internal error for a corrupt row.
    pub fn payload(&self) -> ApiResult<Value> {
        serde_json::from_str(&self.data)
            .map_err(|e| ApiError::invariant(format!("events row {}: {e}", self.id)))
    }
}

/// Records `event` in `tx` and queues its deliveries.
///
/// # Errors
/// On database failure.
pub async fn record(tx: &Tx, event: NewEvent) -> Result<usize, DbErr> {
    record_many(tx, vec![event]).await
}

/// Records several events with one statement for the events and one per
/// subscribed endpoint for their deliveries; returns how many events were
/// new (a repeat of a dedupe key is skipped and fans out nothing). The
/// delivery worker is woken once `tx` commits.
///
/// # Errors
/// On database failure.
pub async fn record_many(tx: &Tx, batch: Vec<NewEvent>) -> Result<usize, DbErr> {
    if batch.is_empty() {
        return Ok(0);
    }
    let t = now();
    let ids: Vec<String> = batch.iter().map(|_| new_event_id()).collect();
    let mut insert = insert_events(&batch, &ids, t);
    // RETURNING names the rows actually inserted.
    insert.returning(Query::returning().column(events::Column::EventId));
    let backend = tx.get_database_backend();
    let mut inserted: HashSet<String> = HashSet::with_capacity(batch.len());
    for row in tx.query_all_raw(backend.build(&insert)).await? {
        inserted.insert(row.try_get::<String>("", "event_id")?);
    }
    let new: Vec<(&NewEvent, &String)> = batch
        .iter()
        .zip(&ids)
        .filter(|(_, id)| inserted.contains(*id))
        .collect();
    let mut script = Script::new();
    fan_out(tx, &mut script, &new, t).await?;
    script.run(tx).await?;
    Ok(new.len())
}

/// [`record_many`] when nothing needs its answer (the intake's batch): the
/// events and their deliveries become statements of `script`, which the
/// caller runs in `tx`. Meant for events without a dedupe key: every event
/// of `batch` is counted as created and fanned out (a skipped repeat would
/// still fan out nothing: its deliveries find no event by its new id).
///
/// # Errors
/// On database failure (reading the subscriptions).
pub async fn record_in(tx: &Tx, script: &mut Script, batch: &[NewEvent]) -> Result<(), DbErr> {
    if batch.is_empty() {
        return Ok(());
    }
    let t = now();
    let ids: Vec<String> = batch.iter().map(|_| new_event_id()).collect();
    script.push(
        tx.get_database_backend()
            .build(&insert_events(batch, &ids, t)),
    );
    let events: Vec<(&NewEvent, &String)> = batch.iter().zip(&ids).collect();
    fan_out(tx, script, &events, t).await
}

/// Counts `events` (each with its event id) as created and adds to
/// `script` one pending delivery per event and enabled endpoint subscribed
/// to it, due now: per endpoint one `INSERT … SELECT` that finds the event
/// rows by id.
async fn fan_out(
    tx: &Tx,
    script: &mut Script,
    events: &[(&NewEvent, &String)],
    t: DateTimeWithTimeZone,
) -> Result<(), DbErr> {
    let users: Vec<i64> = events
        .iter()
        .map(|(e, _)| e.user_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let subscriptions = endpoints::subscriptions(tx, &users).await?;
    let mut owed: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (event, id) in events {
        metrics::counter!("events_created_total", "type" => event.event_type.as_str()).increment(1);
        for sub in subscriptions.get(&event.user_id).into_iter().flatten() {
            if sub.filter.matches(event.event_type) {
                owed.entry(sub.endpoint_id).or_default().push((*id).clone());
            }
        }
    }
    let backend = tx.get_database_backend();
    for (endpoint, event_ids) in &owed {
        let select = Query::select()
            .column(events::Column::Id)
            .expr(Expr::val(*endpoint))
            .expr(Expr::val(PENDING))
            .expr(Expr::val(0))
            .expr(Expr::val(t))
            .expr(Expr::val(t))
            .expr(Expr::val(t))
            .from(events::Entity)
            .and_where(events::Column::EventId.is_in(event_ids.iter().cloned()))
            .to_owned();
        script.push_insert_select(
            backend,
            deliveries::Entity,
            [
                deliveries::Column::EventRowId,
                deliveries::Column::EndpointId,
                deliveries::Column::Status,
                deliveries::Column::Attempts,
                deliveries::Column::NextAttemptAt,
                deliveries::Column::CreatedAt,
                deliveries::Column::UpdatedAt,
            ],
            select,
        )?;
    }
    if !owed.is_empty() {
        tx.after_commit(wake);
    }
    Ok(())
}

/// The insert of `batch`'s events under `ids`, skipping repeated dedupe keys.
fn insert_events(batch: &[NewEvent], ids: &[String], t: DateTimeWithTimeZone) -> InsertStatement {
    let ms = t.timestamp_millis();
    let rows = batch.iter().zip(ids).map(|(e, id)| events::ActiveModel {
        event_id: Set(id.clone()),
        user_id: Set(e.user_id),
        event_type: Set(e.event_type.as_str().to_string()),
        data: Set(e.data.to_string()),
        occurred_at_ms: Set(ms),
        dedupe_key: Set(e.dedupe_key.clone()),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    });
    events::Entity::insert_many(rows)
        .on_conflict(
            // The unique index is partial (keys are rare), so the target
            // names its condition.
            OnConflict::column(events::Column::DedupeKey)
                .target_and_where(Expr::col(events::Column::DedupeKey).is_not_null())
                .do_nothing()
                .to_owned(),
        )
        .into_query()
}

/// Inserts one pending delivery per `(event row, endpoint)`, due now, in one
/// statement; `leased` claims them for the caller at once (a test send).
async fn queue(
    tx: &Tx,
    owed: &[(i64, i64)],
    leased: Option<DateTimeWithTimeZone>,
) -> Result<(), DbErr> {
    if owed.is_empty() {
        return Ok(());
    }
    let t = now();
    let rows = owed
        .iter()
        .map(|&(event_row_id, endpoint_id)| deliveries::ActiveModel {
            event_row_id: Set(event_row_id),
            endpoint_id: Set(endpoint_id),
            status: Set(PENDING.to_string()),
            attempts: Set(0),
            next_attempt_at: Set(t),
            locked_until: Set(leased),
            last_error: Set(None),
            succeeded_at: Set(None),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        });
    deliveries::Entity::insert_many(rows)
        .exec_without_returning(tx)
        .await?;
    if leased.is_none() {
        tx.after_commit(wake);
    }
    Ok(())
}

static DOORBELL: lease::Doorbell = lease::Doorbell::new();

/// Tells the delivery worker that deliveries are waiting.
pub fn wake() {
    DOORBELL.ring();
}

/// Waits until [`wake`] is called or `timeout` passes.
pub async fn wait(timeout: std::time::Duration) {
    DOORBELL.wait(timeout).await;
}

/// Deliveries due now and not leased, oldest due first: `(id, endpoint)`.
/// Endpoints in `busy` (already at their in-flight limit) are skipped, so
/// one slow endpoint's backlog never hides the others' work.
///
/// # Errors
/// On database failure.
pub async fn due<C: ConnectionTrait>(
    db: &C,
    limit: u64,
    busy: &[i64],
) -> Result<Vec<(i64, i64)>, DbErr> {
    let t = now();
    let mut q = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::Id)
        .column(deliveries::Column::EndpointId)
        .filter(status_is(PENDING))
        .filter(deliveries::Column::NextAttemptAt.lte(t))
        .filter(lease::free(deliveries::Column::LockedUntil, t));
    if !busy.is_empty() {
        q = q.filter(deliveries::Column::EndpointId.is_not_in(busy.iter().copied()));
    }
    q.order_by_asc(deliveries::Column::NextAttemptAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Leases the deliveries among `ids` that are still pending and free, in
/// one statement, and returns them (their `locked_until` is this claim's token).
///
/// # Errors
/// On database failure.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    lease_for: Duration,
) -> Result<Vec<deliveries::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let t = now();
    let token = lease::token(lease_for);
    let mut update = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::LockedUntil, Expr::value(token))
        .filter(deliveries::Column::Id.is_in(ids.iter().copied()))
        .filter(deliveries::Column::Status.eq(PENDING))
        .filter(lease::free(deliveries::Column::LockedUntil, t));
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Rows another instance is claiming right now are skipped, not
        // waited for (the update re-checks every row it keeps).
        update = update.filter(
            deliveries::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(deliveries::Column::Id)
                    .from(deliveries::Entity)
                    .and_where(deliveries::Column::Id.is_in(ids.iter().copied()))
                    .lock_with_behavior(
                        sea_orm::sea_query::LockType::Update,
                        sea_orm::sea_query::LockBehavior::SkipLocked,
                    )
                    .to_owned(),
            ),
        );
    }
    update.exec(db).await?;
    deliveries::Entity::find()
        .filter(deliveries::Column::Id.is_in(ids.iter().copied()))
        .filter(deliveries::Column::LockedUntil.eq(token))
        .order_by_asc(deliveries::Column::Id)
        .all(db)
        .await
}

/// Events by row id (the worker's batch).
///
/// # Errors
/// On database failure.
pub async fn by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> Result<HashMap<i64, events::Model>, DbErr> {
    Ok(events::Entity::find()
        .filter(events::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect())
}

/// What became of one leased delivery.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery: deliveries::Model,
    /// What the request got; `None` when nothing was sent (the endpoint was
    /// disabled or deleted meanwhile).
    pub attempt: Option<Attempt>,
    pub verdict: Verdict,
}

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status_code: Option<u16>,
    /// A network error, a refused address, or `HTTP <status>`; never a secret.
    pub error: Option<String>,
    pub latency_ms: i32,
    /// At most the first 1 KiB of the response body.
    pub response_body: Option<String>,
}

/// What to do with the delivery after this attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    RetryAt(DateTimeWithTimeZone),
    /// Out of retries, or nothing to send to.
    Failed,
    /// 410: fail it and disable the endpoint.
    Gone,
}

/// Endpoints whose state changed while recording outcomes.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Disabled now: the endpoint answered 410 Gone.
    pub gone: Vec<endpoints::Model>,
    /// Disabled now: no success within `disable_after`.
    pub failing: Vec<endpoints::Model>,
}

/// Records a set of outcomes in `tx`: every attempt (one statement), the
/// successes (one statement per lease), each failure with its next try, and
/// the endpoints' success and failure streaks. An endpoint that answered 410,
/// or has had no success since `failing_cutoff`, is disabled.
///
/// # Errors
/// On database failure.
pub async fn record_outcomes(
    tx: &Tx,
    outcomes: &[Outcome],
    failing_cutoff: DateTimeWithTimeZone,
) -> Result<Recorded, DbErr> {
    if outcomes.is_empty() {
        return Ok(Recorded::default());
    }
    let t = now();
    let attempt_rows: Vec<attempts::ActiveModel> = outcomes
        .iter()
        .filter_map(|o| {
            let a = o.attempt.as_ref()?;
            Some(attempts::ActiveModel {
                delivery_id: Set(o.delivery.id),
                endpoint_id: Set(o.delivery.endpoint_id),
                event_row_id: Set(o.delivery.event_row_id),
                attempt: Set(o.delivery.attempts + 1),
                succeeded: Set(o.verdict == Verdict::Succeeded),
                status_code: Set(a.status_code.map(i32::from)),
                error: Set(a.error.clone()),
                latency_ms: Set(a.latency_ms),
                response_body: Set(a.response_body.clone()),
                next_retry_at: Set(match o.verdict {
                    Verdict::RetryAt(at) => Some(at),
                    _ => None,
                }),
                created_at: Set(t),
                updated_at: Set(t),
                ..Default::default()
            })
        })
        .collect();
    if !attempt_rows.is_empty() {
        attempts::Entity::insert_many(attempt_rows)
            .exec_without_returning(tx)
            .await?;
    }

    let mut succeeded: HashMap<Option<DateTimeWithTimeZone>, Vec<i64>> = HashMap::new();
    let (mut ok_endpoints, mut failed_endpoints, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for o in outcomes {
        let d = &o.delivery;
        if o.verdict == Verdict::Succeeded {
            succeeded.entry(d.locked_until).or_default().push(d.id);
            ok_endpoints.push(d.endpoint_id);
            continue;
        }
        let (status, next) = match o.verdict {
            Verdict::RetryAt(at) => (PENDING, at),
            _ => (FAILED, t),
        };
        let error = o
            .attempt
            .as_ref()
            .and_then(|a| a.error.clone())
            .unwrap_or_else(|| "endpoint disabled or deleted".into());
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Status, Expr::value(status))
            .col_expr(
                deliveries::Column::Attempts,
                Expr::col(deliveries::Column::Attempts).add(i32::from(o.attempt.is_some())),
            )
            .col_expr(deliveries::Column::NextAttemptAt, Expr::value(next))
            .col_expr(deliveries::Column::LastError, Expr::value(error))
            .col_expr(
                deliveries::Column::LockedUntil,
                Expr::value(Option::<DateTimeWithTimeZone>::None),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(t))
            .filter(deliveries::Column::Id.eq(d.id))
            .filter(deliveries::Column::LockedUntil.eq(d.locked_until))
            .exec(tx)
            .await?;
        if o.attempt.is_some() {
            failed_endpoints.push(d.endpoint_id);
        }
        if o.verdict == Verdict::Gone {
            gone.push(d.endpoint_id);
        }
    }
    for (token, ids) in succeeded {
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Status, Expr::value(SUCCEEDED))
            .col_expr(
                deliveries::Column::Attempts,
                Expr::col(deliveries::Column::Attempts).add(1),
            )
            .col_expr(deliveries::Column::SucceededAt, Expr::value(t))
            .col_expr(
                deliveries::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                deliveries::Column::LockedUntil,
                Expr::value(Option::<DateTimeWithTimeZone>::None),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(t))
            .filter(deliveries::Column::Id.is_in(ids))
            .filter(deliveries::Column::LockedUntil.eq(token))
            .exec(tx)
            .await?;
    }
    ok_endpoints.sort_unstable();
    ok_endpoints.dedup();
    endpoints::mark_succeeded(tx, &ok_endpoints).await?;
    failed_endpoints.retain(|id| ok_endpoints.binary_search(id).is_err());
    failed_endpoints.sort_unstable();
    failed_endpoints.dedup();
    let stale = endpoints::mark_failed(tx, &failed_endpoints, failing_cutoff).await?;
    Ok(Recorded {
        gone: endpoints::disable(tx, &gone, endpoints::DISABLED_GONE).await?,
        failing: endpoints::disable(tx, &stale, endpoints::DISABLED_FAILING).await?,
    })
}

/// The company's event `event_id` (`evt_…`).
///
/// # Errors
/// 404 when absent or another company's.
pub async fn find_for_company<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    event_id: &str,
) -> ApiResult<events::Model> {
    events::Entity::find()
        .filter(events::Column::UserId.eq(user_id))
        .filter(events::Column::EventId.eq(event_id))
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Sends `event` again: to `only` (an endpoint of the company, enabled), or
/// to every enabled endpoint subscribed to its type. Returns how many
/// deliveries were queued.
///
/// # Errors
/// 409 when `only` is disabled.
pub async fn replay(
    db: &DatabaseConnection,
    event: &events::Model,
    only: Option<&endpoints::Model>,
) -> ApiResult<usize> {
    let targets: Vec<i64> = match only {
        Some(endpoint) if !endpoint.enabled => return Err(disabled()),
        Some(endpoint) => vec![endpoint.id],
        None => {
            let kind = event.kind()?;
            endpoints::subscriptions(db, &[event.user_id])
                .await?
                .get(&event.user_id)
                .into_iter()
                .flatten()
                .filter(|s| s.filter.matches(kind))
                .map(|s| s.endpoint_id)
                .collect()
        }
    };
    let owed: Vec<(i64, i64)> = targets.iter().map(|&e| (event.id, e)).collect();
    let tx = Tx::begin(db).await?;
    queue(&tx, &owed, None).await?;
    tx.commit().await?;
    Ok(owed.len())
}

/// The 409 for sending to a disabled endpoint.
#[must_use]
pub fn disabled() -> ApiError {
    ApiError::conflict("The endpoint is disabled; enable it first", None)
}

/// Queues again every delivery to `endpoint` that failed since `since`,
/// with a fresh retry schedule. Returns how many.
///
/// # Errors
/// 409 when the endpoint is disabled.
pub async fn recover(
    db: &DatabaseConnection,
    endpoint: &endpoints::Model,
    since: DateTimeWithTimeZone,
) -> ApiResult<u64> {
    if !endpoint.enabled {
        return Err(disabled());
    }
    let tx = Tx::begin(db).await?;
    let t = now();
    let res = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Status, Expr::value(PENDING))
        .col_expr(deliveries::Column::Attempts, Expr::value(0))
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(t))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(t))
        .filter(deliveries::Column::EndpointId.eq(endpoint.id))
        .filter(status_is(FAILED))
        .filter(deliveries::Column::CreatedAt.gte(since))
        .exec(&tx)
        .await?;
    if res.rows_affected > 0 {
        tx.after_commit(wake);
    }
    tx.commit().await?;
    Ok(res.rows_affected)
}

/// Records a `ping` event for `endpoint` and a delivery to it alone, leased
/// to the caller for `lease_for` (it sends at once, not the worker).
///
/// # Errors
/// 409 when the endpoint is disabled.
pub async fn queue_ping(
    db: &DatabaseConnection,
    endpoint: &endpoints::Model,
    lease_for: Duration,
) -> ApiResult<(events::Model, deliveries::Model)> {
    if !endpoint.enabled {
        return Err(disabled());
    }
    let tx = Tx::begin(db).await?;
    let t = now();
    let event = events::ActiveModel {
        event_id: Set(new_event_id()),
        user_id: Set(endpoint.user_id),
        event_type: Set(EventType::Ping.as_str().to_string()),
        data: Set(serde_json::json!({
            "endpoint_id": endpoint.pid,
            "message": "A test event from My Order Fellow.",
        })
        .to_string()),
        occurred_at_ms: Set(t.timestamp_millis()),
        dedupe_key: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    metrics::counter!("events_created_total", "type" => EventType::Ping.as_str()).increment(1);
    let token = lease::token(lease_for);
    queue(&tx, &[(event.id, endpoint.id)], Some(token)).await?;
    let delivery = deliveries::Entity::find()
        .filter(deliveries::Column::EventRowId.eq(event.id))
        .one(&tx)
        .await?
        .ok_or_else(|| ApiError::invariant("the ping's delivery vanished"))?;
    tx.commit().await?;
    Ok((event, delivery))
}

/// Which attempts to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFilter {
    All,
    Succeeded,
    Failed,
}

impl std::str::FromStr for AttemptFilter {
    type Err = crate::domain::DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "succeeded" | "success" => Ok(Self::Succeeded),
            "failed" | "failure" => Ok(Self::Failed),
            _ => Err(crate::domain::DomainError::new(
                "Must be succeeded or failed.",
            )),
        }
    }
}

/// The endpoint's attempts, newest first, with their event.
///
/// # Errors
/// On database failure.
pub async fn attempts_for_endpoint<C: ConnectionTrait>(
    db: &C,
    endpoint_id: i64,
    filter: AttemptFilter,
    page: u64,
    page_size: u64,
) -> ApiResult<(u64, Vec<(attempts::Model, events::Model)>)> {
    let mut q = attempts::Entity::find().filter(attempts::Column::EndpointId.eq(endpoint_id));
    match filter {
        AttemptFilter::All => {}
        AttemptFilter::Succeeded => q = q.filter(attempts::Column::Succeeded.eq(true)),
        AttemptFilter::Failed => q = q.filter(attempts::Column::Succeeded.eq(false)),
    }
    let count = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(attempts::Column::Id)
        .offset((page - 1) * page_size)
        .limit(page_size)
        .all(db)
        .await?;
    let event_ids: Vec<i64> = rows.iter().map(|a| a.event_row_id).collect();
    let events = by_ids(db, &event_ids).await?;
    let joined = rows
        .into_iter()
        .map(|a| {
            let event = events
                .get(&a.event_row_id)
                .cloned()
                .ok_or_else(|| ApiError::invariant(format!("attempt {} has no event", a.id)))?;
            Ok((a, event))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((count, joined))
}

/// The attempt just recorded for `delivery` (a test send's answer).
///
/// # Errors
/// On database failure; 500 when none was recorded.
pub async fn last_attempt<C: ConnectionTrait>(
    db: &C,
    delivery_id: i64,
) -> ApiResult<attempts::Model> {
    attempts::Entity::find()
        .filter(attempts::Column::DeliveryId.eq(delivery_id))
        .order_by_desc(attempts::Column::Id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::invariant(format!("delivery {delivery_id} has no attempt")))
}

/// Deliveries still owed (for `/metrics` and the benchmark).
///
/// # Errors
/// On database failure.
pub async fn pending_count<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    deliveries::Entity::find()
        .filter(status_is(PENDING))
        .count(db)
        .await
}

/// Which of `keys` already name a recorded event.
///
/// # Errors
/// On database failure.
pub async fn recorded_keys<C: ConnectionTrait>(
    db: &C,
    keys: Vec<String>,
) -> Result<HashSet<String>, DbErr> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<Option<String>> = events::Entity::find()
        .select_only()
        .column(events::Column::DedupeKey)
        .filter(events::Column::DedupeKey.is_in(keys))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found.into_iter().flatten().collect())
}

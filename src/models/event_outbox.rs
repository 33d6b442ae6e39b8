//! The admin's view of outbound event deliveries across companies: what is
//! owed or given up on, and "retry now" for one. Apart from `events` so that
//! the worker's invariants there stay readable; it changes a delivery only
//! the way [`events::recover`] does.

use std::collections::HashMap;

use sea_orm::{
    entity::prelude::*, sea_query::Expr, ConnectionTrait, PaginatorTrait, QueryOrder, QuerySelect,
};

use super::{
    _entities::users,
    endpoints,
    events::{self, by_ids, deliveries, disabled, wake, FAILED, PENDING},
    lease,
};
use crate::{
    domain::now,
    errors::{ApiError, ApiResult},
};

/// One delivery still owed or given up on, for the admin's outbox page.
#[derive(Debug, Clone)]
pub struct Unsent {
    pub delivery: deliveries::Model,
    pub event: Option<events::events::Model>,
    pub endpoint: Option<endpoints::Model>,
    pub company: Option<users::Model>,
}

/// Deliveries pending and failed, across companies (the summary page).
///
/// # Errors
/// On database failure.
pub async fn counts<C: ConnectionTrait>(db: &C) -> Result<(u64, u64), DbErr> {
    let count = |status: &'static str| {
        deliveries::Entity::find()
            .filter(deliveries::Column::Status.eq(status))
            .count(db)
    };
    Ok((count(PENDING).await?, count(FAILED).await?))
}

/// Deliveries across companies that are `status` (pending or failed; both
/// when `None`), oldest first, with their event, endpoint and company.
///
/// # Errors
/// On database failure.
pub async fn list_unsent<C: ConnectionTrait>(
    db: &C,
    status: Option<&str>,
    page: u64,
    page_size: u64,
) -> Result<(u64, Vec<Unsent>), DbErr> {
    let q = match status {
        Some(s) => deliveries::Entity::find().filter(deliveries::Column::Status.eq(s)),
        None => {
            deliveries::Entity::find().filter(deliveries::Column::Status.is_in([PENDING, FAILED]))
        }
    };
    let count = q.clone().count(db).await?;
    let rows = q
        .order_by_asc(deliveries::Column::CreatedAt)
        .order_by_asc(deliveries::Column::Id)
        .offset((page - 1) * page_size)
        .limit(page_size)
        .all(db)
        .await?;
    let ids = |f: fn(&deliveries::Model) -> i64| rows.iter().map(f).collect::<Vec<_>>();
    let events = by_ids(db, &ids(|d| d.event_row_id)).await?;
    let endpoints = endpoints::by_ids(db, &ids(|d| d.endpoint_id)).await?;
    let user_ids: Vec<i64> = endpoints.values().map(|e| e.user_id).collect();
    let companies: HashMap<i64, users::Model> = users::Entity::find()
        .filter(users::Column::Id.is_in(user_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let unsent = rows
        .into_iter()
        .map(|d| {
            let endpoint = endpoints.get(&d.endpoint_id).cloned();
            Unsent {
                event: events.get(&d.event_row_id).cloned(),
                company: endpoint
                    .as_ref()
                    .and_then(|e| companies.get(&e.user_id).cloned()),
                endpoint,
                delivery: d,
            }
        })
        .collect();
    Ok((count, unsent))
}

/// "Retry now" for one delivery: a pending or failed one, not leased, to an
/// enabled endpoint, becomes due at once with a fresh retry schedule (as
/// [`recover`] does for an endpoint's failures), and the worker is woken.
///
/// # Errors
/// 404 when no such unsent delivery exists; 409 when its endpoint is
/// disabled (or deleted) or the worker holds it right now.
pub async fn retry_now(db: &DatabaseConnection, delivery_id: i64) -> ApiResult<()> {
    let t = now();
    let missing = || ApiError::NotFound("No such unsent delivery".into());
    let delivery = deliveries::Entity::find_by_id(delivery_id)
        .filter(deliveries::Column::Status.is_in([PENDING, FAILED]))
        .one(db)
        .await?
        .ok_or_else(missing)?;
    let enabled = endpoints::by_ids(db, &[delivery.endpoint_id])
        .await?
        .get(&delivery.endpoint_id)
        .is_some_and(|e| e.enabled);
    if !enabled {
        return Err(disabled());
    }
    let res = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Status, Expr::value(PENDING))
        .col_expr(deliveries::Column::Attempts, Expr::value(0))
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(t))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(t))
        .filter(deliveries::Column::Id.eq(delivery_id))
        .filter(deliveries::Column::Status.is_in([PENDING, FAILED]))
        .filter(lease::free(deliveries::Column::LockedUntil, t))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(ApiError::conflict(
            "The delivery is being sent right now; reload the page",
            None,
        ));
    }
    wake();
    Ok(())
}

//! Orders across companies: search by external id, customer e-mail or name,
//! and status; an order's page with its history.

use axum::extract::State;
use loco_rs::prelude::AppContext;
use serde_json::json;

use crate::{
    controllers::{
        extract::{parse_pid, ApiPath, ApiQuery},
        orders::ListParams,
        web::{AdminSession, PageResult},
    },
    db::Readers,
    domain::tracking::TrackingStatus,
    errors::ApiError,
    models::orders,
    views::{
        auth::UserView,
        orders::{HistoryView, OrderView},
        Page,
    },
};

/// `GET /admin/orders?q=&status=&page=` → newest first.
pub async fn search(
    State(ctx): State<AppContext>,
    session: AdminSession,
    q: Result<ApiQuery<ListParams>, ApiError>,
) -> PageResult {
    let ApiQuery(p) = q?;
    let query = p.query()?;
    let (count, rows) = orders::search_all(&Readers::get(&ctx), &query).await?;
    let results: Vec<_> = rows.iter().map(OrderView::from).collect();
    session.page(
        "orders.html",
        json!({
            "page": Page::new(count, query.page, query.page_size, results),
            "q": p.q.unwrap_or_default(),
            "status": p.status.unwrap_or_default(),
            "statuses": TrackingStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        }),
    )
}

/// `GET /admin/orders/<id>` → the order, its company and its history.
pub async fn detail(
    State(ctx): State<AppContext>,
    session: AdminSession,
    id: Result<ApiPath<String>, ApiError>,
) -> PageResult {
    let ApiPath(id) = id?;
    let readers = Readers::get(&ctx);
    let order = orders::Model::find_any(&readers, parse_pid(&id)?).await?;
    let history: Vec<_> = order
        .history(&readers)
        .await?
        .iter()
        .map(HistoryView::from)
        .collect();
    let company = order.owner(&readers).await?;
    session.page(
        "admin/order.html",
        json!({
            "order": OrderView::from(&order),
            "history": history,
            "company": company.as_ref().map(UserView::from),
        }),
    )
}

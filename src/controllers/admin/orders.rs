//! Orders across companies: search by external id, customer e-mail or name,
//! and status; an order's page with its history.

use axum::extract::State;
use loco_rs::prelude::AppContext;
use serde_json::json;

use crate::{
    controllers::{
        extract::{ApiQuery, Pid},
        orders::ListParams,
        web::{AdminSession, PageResult},
    },
    db::Readers,
    errors::ApiError,
    models::orders,
    views::{
        auth::UserView,
        orders::{HistoryView, OrderView},
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
    session.page("orders.html", p.page_context(&query, count, &rows))
}

/// `GET /admin/orders/<id>` → the order, its company and its history.
pub async fn detail(
    State(ctx): State<AppContext>,
    session: AdminSession,
    id: Result<Pid, ApiError>,
) -> PageResult {
    let Pid(id) = id?;
    let readers = Readers::get(&ctx);
    let order = orders::Model::find_any(&readers, id).await?;
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

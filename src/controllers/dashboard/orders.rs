//! The company's orders: filter and search, and move one along.

use axum::{
    extract::{rejection::FormRejection, State},
    http::HeaderMap,
    Form,
};
use loco_rs::prelude::AppContext;
use serde::Deserialize;
use serde_json::json;

use crate::{
    controllers::{
        extract::{parse_pid, ApiPath, ApiQuery},
        orders::ListParams,
        web::{bad_form, see_other, BusinessSession, PageResult},
    },
    db::Readers,
    domain::{text, tracking::TrackingStatus},
    errors::ApiError,
    models::orders::{self, Source},
    settings::AppSettings,
    views::{orders::OrderView, Page},
};

/// `GET /dashboard/orders?q=&status=&page=` → newest first.
pub async fn list(
    State(ctx): State<AppContext>,
    session: BusinessSession,
    q: Result<ApiQuery<ListParams>, ApiError>,
) -> PageResult {
    let ApiQuery(p) = q?;
    let query = p.query()?;
    let (count, rows) =
        orders::list_for_company(&Readers::get(&ctx), session.user.id, &query).await?;
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

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    tracking_status: String,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /dashboard/orders/<id>/status` `csrf, tracking_status, note?` → the
/// API's `PATCH /orders/<id>/`; another company's order → 404.
pub async fn change_status(
    State(ctx): State<AppContext>,
    session: BusinessSession,
    headers: HeaderMap,
    id: Result<ApiPath<String>, ApiError>,
    form: Result<Form<StatusForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| bad_form())?;
    session.check(&headers, form.csrf.as_deref())?;
    let ApiPath(id) = id?;
    let order = orders::Model::find_for_company(&ctx.db, session.user.id, parse_pid(&id)?).await?;
    let to = TrackingStatus::parse(&form.tracking_status)
        .map_err(|e| ApiError::field("tracking_status", e.0))?;
    let note = text::note(form.note.as_deref().filter(|n| !n.trim().is_empty()))
        .map_err(|e| ApiError::field("note", e.0))?;
    let app = AppSettings::get(&ctx);
    orders::change_status(&ctx.db, &app, order, to, note, Source::Dashboard).await?;
    Ok(see_other("/dashboard/orders"))
}

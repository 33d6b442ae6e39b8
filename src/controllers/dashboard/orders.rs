//! The company's orders: filter and search, and move one along.

use axum::{
    extract::{rejection::FormRejection, State},
    http::HeaderMap,
    Form,
};
use loco_rs::prelude::AppContext;
use serde::Deserialize;

use crate::{
    controllers::{
        extract::{ApiQuery, Pid},
        orders::ListParams,
        web::{bad_form, see_other, BusinessSession, PageResult},
    },
    db::Readers,
    domain::{text, tracking::TrackingStatus},
    errors::ApiError,
    models::orders::{self, Source},
    settings::AppSettings,
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
    session.page("orders.html", p.page_context(&query, count, &rows))
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
    id: Result<Pid, ApiError>,
    form: Result<Form<StatusForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| bad_form())?;
    session.check(&headers, form.csrf.as_deref())?;
    let Pid(id) = id?;
    let order = orders::Model::find_for_company(&ctx.db, session.user.id, id).await?;
    let to = TrackingStatus::parse(&form.tracking_status)
        .map_err(|e| ApiError::field("tracking_status", e.0))?;
    let note = text::note(form.note.as_deref().filter(|n| !n.trim().is_empty()))
        .map_err(|e| ApiError::field("note", e.0))?;
    let app = AppSettings::get(&ctx);
    orders::change_status(&ctx.db, &app, order, to, note, Source::Dashboard).await?;
    Ok(see_other("/dashboard/orders"))
}

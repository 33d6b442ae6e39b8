//! `/api/v1/orders/`: a business lists, reads and moves its own orders (JWT).

use axum::{extract::State, response::IntoResponse, Json};
use loco_rs::prelude::{get, AppContext, Routes};
use serde::Deserialize;

use super::{
    extract::{optional_field, parse_pid, ApiJson, ApiPath, ApiQuery, CurrentUser},
    pagination::PageParams,
};
use crate::{
    db::Readers,
    domain::{text, tracking::TrackingStatus},
    errors::{ApiError, ApiResult},
    models::orders::{self, ListQuery, Source},
    settings::AppSettings,
    views::{
        orders::{HistoryView, OrderDetailView, OrderView},
        Page,
    },
};

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    q: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

/// `GET /orders/?status=&q=&page=&page_size=` → newest first.
async fn list(
    State(ctx): State<AppContext>,
    CurrentUser(user): CurrentUser,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult {
    let status = optional_field("status", p.status.as_deref())?;
    if p.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::field(
            "q",
            "Ensure this field has no more than 200 characters.",
        ));
    }
    let (page, page_size) = PageParams {
        page: p.page,
        page_size: p.page_size,
    }
    .resolve()?;
    let query = ListQuery {
        status,
        q: p.q,
        page,
        page_size,
    };
    let (count, rows) = orders::list_for_company(&Readers::get(&ctx), user.id, &query).await?;
    let results = rows.iter().map(OrderView::from).collect();
    Ok(Json(Page::new(count, page, page_size, results)).into_response())
}

async fn detail_view(ctx: &AppContext, order: &orders::Model) -> ApiResult {
    let history = order.history(&Readers::get(ctx)).await?;
    Ok(Json(OrderDetailView {
        order: OrderView::from(order),
        history: history.iter().map(HistoryView::from).collect(),
    })
    .into_response())
}

/// `GET /orders/<id>/` → the order with its history; another company's → 404.
async fn detail(
    State(ctx): State<AppContext>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let order =
        orders::Model::find_for_company(&Readers::get(&ctx), user.id, parse_pid(&id)?).await?;
    detail_view(&ctx, &order).await
}

#[derive(Deserialize)]
struct PatchBody {
    tracking_status: String,
    #[serde(default)]
    note: Option<String>,
}

/// `PATCH /orders/<id>/` `{"tracking_status", "note"?}` → 200; 409 when refused.
async fn update(
    State(ctx): State<AppContext>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> ApiResult {
    let order = orders::Model::find_for_company(&ctx.db, user.id, parse_pid(&id)?).await?;
    let to = TrackingStatus::parse(&body.tracking_status)
        .map_err(|e| ApiError::field("tracking_status", e.0))?;
    let note = text::note(body.note.as_deref()).map_err(|e| ApiError::field("note", e.0))?;
    let order = orders::change_status(
        &ctx.db,
        &AppSettings::get(&ctx),
        order,
        to,
        note,
        Source::Api,
    )
    .await?;
    detail_view(&ctx, &order).await
}

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/api/v1/orders")
        .add("/", get(list))
        .add("/{id}", get(detail).patch(update))
}

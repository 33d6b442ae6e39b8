//! `/api/v1/orders/`: a business lists, reads and moves its own orders (JWT).

use axum::{extract::State, response::IntoResponse, Json};
use loco_rs::prelude::{get, AppContext, Routes};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{
    extract::{optional_field, ApiJson, ApiQuery, CurrentUser, Pid},
    pagination::PageParams,
};
use crate::{
    db::Readers,
    domain::{text, tracking::TrackingStatus},
    errors::{ApiError, ApiResult},
    models::orders::{self, Counted, ListQuery, Source},
    openapi::ErrorBody,
    settings::AppSettings,
    views::{
        orders::{HistoryView, OrderDetailView, OrderView},
        Page,
    },
};

#[derive(OpenApi)]
#[openapi(paths(list, detail, update))]
pub struct Api;

/// `?status=&q=&page=&page_size=` of an order list: the API's, the admin
/// console's search and the dashboard's.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// A tracking status (`PENDING`, `SHIPPED`, ...).
    pub status: Option<String>,
    /// Words to find (≤ 200 characters): every word must be a whole word of the
    /// external id, the customer's name or e-mail, in any case (`alan
    /// bletchley` finds `alan@bletchley.uk`). Results are newest stored first.
    pub q: Option<String>,
    /// From 1.
    page: Option<String>,
    /// 1 to 100, default 20.
    page_size: Option<String>,
}

impl ListParams {
    /// What an order list page (`orders.html`, in the console and the
    /// dashboard) shows: the page of `rows` out of `count`, and the filters
    /// as entered.
    pub(crate) fn page_context(
        self,
        query: &ListQuery,
        count: Counted,
        rows: &[orders::Model],
    ) -> serde_json::Value {
        let results: Vec<_> = rows.iter().map(OrderView::from).collect();
        json!({
            "page": Page::counted(count, query.page, query.page_size, results),
            "q": self.q.unwrap_or_default(),
            "status": self.status.unwrap_or_default(),
            "statuses": TrackingStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        })
    }

    /// The parsed query.
    ///
    /// # Errors
    /// 400 naming the field for a bad status, search or page.
    pub(crate) fn query(&self) -> Result<ListQuery, ApiError> {
        let status = optional_field("status", self.status.as_deref())?;
        if self.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::field(
                "q",
                "Ensure this field has no more than 200 characters.",
            ));
        }
        let (page, page_size) = PageParams {
            page: self.page.clone(),
            page_size: self.page_size.clone(),
        }
        .resolve()?;
        Ok(ListQuery {
            status,
            q: self.q.clone(),
            page,
            page_size,
        })
    }
}

/// `GET /orders/?status=&q=&page=&page_size=` → newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])), params(ListParams),
    responses(
        (status = 200, description = "The company's orders, newest first", body = Page<OrderView>),
        (status = 400, description = "Invalid filter or page", body = ErrorBody),
    ))]
async fn list(
    State(ctx): State<AppContext>,
    CurrentUser(user): CurrentUser,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult {
    let query = p.query()?;
    let (count, rows) = orders::list_for_company(&Readers::get(&ctx), user.id, &query).await?;
    let results = rows.iter().map(OrderView::from).collect();
    Ok(Json(Page::counted(count, query.page, query.page_size, results)).into_response())
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
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path, description = "The order id (UUID)")),
    responses(
        (status = 200, description = "The order with its history", body = OrderDetailView),
        (status = 404, description = "No such order of this company", body = ErrorBody),
    ))]
async fn detail(
    State(ctx): State<AppContext>,
    CurrentUser(user): CurrentUser,
    Pid(id): Pid,
) -> ApiResult {
    let order = orders::Model::find_for_company(&Readers::get(&ctx), user.id, id).await?;
    detail_view(&ctx, &order).await
}

#[derive(Deserialize, ToSchema)]
#[schema(as = OrderStatusChange, example = json!({"tracking_status": "SHIPPED", "note": "Left the warehouse"}))]
struct PatchBody {
    tracking_status: String,
    #[serde(default)]
    note: Option<String>,
}

/// `PATCH /orders/<id>/` `{"tracking_status", "note"?}` → 200; 409 when refused.
#[utoipa::path(patch, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path, description = "The order id (UUID)")),
    request_body = PatchBody,
    responses(
        (status = 200, description = "The order with its history", body = OrderDetailView),
        (status = 400, description = "Invalid status or note", body = ErrorBody),
        (status = 404, description = "No such order of this company", body = ErrorBody),
        (status = 409, description = "The move is not allowed from the current status", body = ErrorBody),
    ))]
async fn update(
    State(ctx): State<AppContext>,
    CurrentUser(user): CurrentUser,
    Pid(id): Pid,
    ApiJson(body): ApiJson<PatchBody>,
) -> ApiResult {
    let order = orders::Model::find_for_company(&ctx.db, user.id, id).await?;
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

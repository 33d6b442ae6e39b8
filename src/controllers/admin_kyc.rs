//! `/api/v1/admin/kyc/`: review of KYC applications (admin JWT only).

use axum::{extract::State, response::IntoResponse, Json};
use loco_rs::prelude::{get, post, AppContext, Routes};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::{
    extract::{optional_field, AdminUser, ApiJson, ApiQuery, Pid},
    pagination::PageParams,
};
use crate::{
    domain::{kyc_status::KycAction, text},
    errors::{ApiError, ApiResult},
    models::{
        kyc::{self, Actor, Decision, ReviewFilter},
        users,
    },
    openapi::ErrorBody,
    settings::AppSettings,
    views::{
        kyc::{AdminKycView, AuditView},
        Page,
    },
};

#[derive(OpenApi)]
#[openapi(paths(list, detail, audit, approve, reject, suspend))]
pub struct Api;

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// `GET /admin/kyc/?status=&page=&page_size=` → oldest first.
#[utoipa::path(get, path = "/api/v1/admin/kyc", tag = "admin", security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "pending, approved, rejected or suspended"),
        ("page" = Option<String>, Query, description = "From 1"),
        ("page_size" = Option<String>, Query, description = "1 to 100, default 20"),
    ),
    responses(
        (status = 200, description = "Applications, oldest first", body = Page<AdminKycView>),
        (status = 400, description = "Invalid filter or page", body = ErrorBody),
        (status = 403, description = "Not an admin account", body = ErrorBody, example = json!({"error": "Admin access required"})),
    ))]
async fn list(
    State(ctx): State<AppContext>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<ListParams>,
) -> ApiResult {
    let status = optional_field("status", q.status.as_deref())?;
    let (page, size) = q.page.resolve()?;
    let (count, rows) = kyc::Model::list_for_review(
        &ctx.db,
        ReviewFilter {
            status,
            manual_review: None,
        },
        page,
        size,
    )
    .await?;
    let results = rows
        .iter()
        .map(|(k, u)| AdminKycView::new(k, u.as_ref()))
        .collect();
    Ok(Json(Page::new(count, page, size, results)).into_response())
}

async fn load(ctx: &AppContext, id: Uuid) -> ApiResult<(kyc::Model, Option<users::Model>)> {
    let application = kyc::Model::find_by_pid(&ctx.db, id).await?;
    let company = application.company(&ctx.db).await?;
    Ok((application, company))
}

/// `GET /admin/kyc/<id>/`
#[utoipa::path(get, path = "/api/v1/admin/kyc/{id}", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "The application id (UUID)")),
    responses(
        (status = 200, description = "The application and its company", body = AdminKycView),
        (status = 403, description = "Not an admin account", body = ErrorBody, example = json!({"error": "Admin access required"})),
        (status = 404, description = "No such application", body = ErrorBody),
    ))]
async fn detail(State(ctx): State<AppContext>, _admin: AdminUser, Pid(id): Pid) -> ApiResult {
    let (k, u) = load(&ctx, id).await?;
    Ok(Json(AdminKycView::new(&k, u.as_ref())).into_response())
}

/// `GET /admin/kyc/<id>/audit/`
#[utoipa::path(get, path = "/api/v1/admin/kyc/{id}/audit", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "The application id (UUID)")),
    responses(
        (status = 200, description = "The application's status changes, oldest first", body = Vec<AuditView>),
        (status = 403, description = "Not an admin account", body = ErrorBody, example = json!({"error": "Admin access required"})),
        (status = 404, description = "No such application", body = ErrorBody),
    ))]
async fn audit(State(ctx): State<AppContext>, _admin: AdminUser, Pid(id): Pid) -> ApiResult {
    let (k, _) = load(&ctx, id).await?;
    let rows = k.audit_log(&ctx.db).await?;
    Ok(Json(rows.iter().map(AuditView::from).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = KycDecision, example = json!({"reason": "The registration number does not match the registry.", "resubmit_allowed": true}))]
struct ReasonBody {
    reason: String,
    #[serde(default)]
    resubmit_allowed: Option<bool>,
}

fn reason(raw: &str) -> Result<String, ApiError> {
    text::parse(raw, 1, 1000, true).map_err(|e| ApiError::field("reason", e.0))
}

async fn decide(
    ctx: &AppContext,
    admin: &users::Model,
    pid: Uuid,
    decision: Decision,
) -> ApiResult {
    let app = AppSettings::get(ctx);
    let application =
        kyc::transition(&ctx.db, &app, pid, decision, &Actor::Admin(admin.pid)).await?;
    let company = application.company(&ctx.db).await?;
    Ok(Json(AdminKycView::new(&application, company.as_ref())).into_response())
}

/// `POST /admin/kyc/<id>/approve/`
#[utoipa::path(post, path = "/api/v1/admin/kyc/{id}/approve", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "The application id (UUID)")),
    responses(
        (status = 200, description = "Approved: the company's webhook secret is issued", body = AdminKycView),
        (status = 403, description = "Not an admin account", body = ErrorBody, example = json!({"error": "Admin access required"})),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 409, description = "Not allowed from the current status", body = ErrorBody),
    ))]
async fn approve(
    State(ctx): State<AppContext>,
    AdminUser(admin): AdminUser,
    Pid(id): Pid,
) -> ApiResult {
    decide(&ctx, &admin, id, Decision::approve()).await
}

impl ReasonBody {
    /// The decision this body asks for; the reason is required.
    fn decision(&self, action: KycAction) -> Result<Decision, ApiError> {
        Ok(Decision {
            action,
            reason: Some(reason(&self.reason)?),
            resubmit_allowed: self.resubmit_allowed.unwrap_or(true),
        })
    }
}

/// `POST /admin/kyc/<id>/reject/` `{"reason", "resubmit_allowed"?}`
#[utoipa::path(post, path = "/api/v1/admin/kyc/{id}/reject", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "The application id (UUID)")), request_body = ReasonBody,
    responses(
        (status = 200, description = "Rejected with a reason (resubmission allowed unless `resubmit_allowed` is false)", body = AdminKycView),
        (status = 400, description = "Missing or invalid reason", body = ErrorBody),
        (status = 403, description = "Not an admin account", body = ErrorBody, example = json!({"error": "Admin access required"})),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 409, description = "Not allowed from the current status", body = ErrorBody),
    ))]
async fn reject(
    State(ctx): State<AppContext>,
    AdminUser(admin): AdminUser,
    Pid(id): Pid,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult {
    decide(&ctx, &admin, id, body.decision(KycAction::Reject)?).await
}

/// `POST /admin/kyc/<id>/suspend/` `{"reason"}`: the company's secret stops working at once.
#[utoipa::path(post, path = "/api/v1/admin/kyc/{id}/suspend", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "The application id (UUID)")), request_body = ReasonBody,
    responses(
        (status = 200, description = "Suspended with a reason: the company's secret stops working at once", body = AdminKycView),
        (status = 400, description = "Missing or invalid reason", body = ErrorBody),
        (status = 403, description = "Not an admin account", body = ErrorBody, example = json!({"error": "Admin access required"})),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 409, description = "Not allowed from the current status", body = ErrorBody),
    ))]
async fn suspend(
    State(ctx): State<AppContext>,
    AdminUser(admin): AdminUser,
    Pid(id): Pid,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult {
    decide(&ctx, &admin, id, body.decision(KycAction::Suspend)?).await
}

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/api/v1/admin/kyc")
        .add("/", get(list))
        .add("/{id}", get(detail))
        .add("/{id}/audit", get(audit))
        .add("/{id}/approve", post(approve))
        .add("/{id}/reject", post(reject))
        .add("/{id}/suspend", post(suspend))
}

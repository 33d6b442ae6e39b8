//! The KYC queue: filter, read, decide. Decisions go through
//! `kyc::transition`, the API's own path, so the after-save hook issues the
//! company's secret exactly as it does there.

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
        extract::{optional_field, parse_pid, ApiPath, ApiQuery, Pid},
        pagination::PageParams,
        web::{bad_form, see_other, AdminSession, PageResult},
    },
    domain::{kyc_status::KycAction, text},
    errors::ApiError,
    models::kyc::{self, Actor, Decision, ReviewFilter},
    settings::AppSettings,
    views::{
        kyc::{AdminKycView, AuditView},
        Page,
    },
};

#[derive(Deserialize)]
pub struct QueueParams {
    status: Option<String>,
    /// `yes`, `no`, or blank for either.
    manual: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

fn manual_filter(raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some("yes") => Ok(Some(true)),
        Some("no") => Ok(Some(false)),
        Some(_) => Err(ApiError::field("manual", "Must be yes, no or blank.")),
    }
}

/// `GET /admin/kyc?status=&manual=&page=` → oldest first.
pub async fn queue(
    State(ctx): State<AppContext>,
    session: AdminSession,
    q: Result<ApiQuery<QueueParams>, ApiError>,
) -> PageResult {
    let ApiQuery(q) = q?;
    let filter = ReviewFilter {
        status: optional_field("status", q.status.as_deref().filter(|s| !s.is_empty()))?,
        manual_review: manual_filter(q.manual.as_deref())?,
    };
    let (page_no, size) = q.page.resolve()?;
    let (count, rows) = kyc::Model::list_for_review(&ctx.db, filter, page_no, size).await?;
    let results: Vec<_> = rows
        .iter()
        .map(|(k, u)| AdminKycView::new(k, u.as_ref()))
        .collect();
    let listing = Page::new(count, page_no, size, results);
    session.page(
        "admin/kyc_queue.html",
        json!({
            "page": listing,
            "status": q.status.unwrap_or_default(),
            "manual": q.manual.unwrap_or_default(),
            "statuses": ["pending", "approved", "rejected", "suspended"],
        }),
    )
}

/// `GET /admin/kyc/<id>` → the application, its company, its audit trail
/// and the decision forms.
pub async fn detail(
    State(ctx): State<AppContext>,
    session: AdminSession,
    id: Result<Pid, ApiError>,
) -> PageResult {
    let Pid(id) = id?;
    let application = kyc::Model::find_by_pid(&ctx.db, id).await?;
    let company = application.company(&ctx.db).await?;
    let audit: Vec<_> = application
        .audit_log(&ctx.db)
        .await?
        .iter()
        .map(AuditView::from)
        .collect();
    session.page(
        "admin/kyc_detail.html",
        json!({
            "k": AdminKycView::new(&application, company.as_ref()),
            "audit": audit,
        }),
    )
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    /// A checkbox: present when ticked.
    #[serde(default)]
    resubmit_allowed: Option<String>,
}

/// `POST /admin/kyc/<id>/<approve|reject|suspend>` `csrf`, and for a
/// rejection `reason, resubmit_allowed?`, for a suspension `reason`.
pub async fn decide(
    State(ctx): State<AppContext>,
    session: AdminSession,
    headers: HeaderMap,
    path: Result<ApiPath<(String, String)>, ApiError>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| bad_form())?;
    session.check(&headers, form.csrf.as_deref())?;
    let ApiPath((id, action)) = path?;
    let action = match action.as_str() {
        "approve" => KycAction::Approve,
        "reject" => KycAction::Reject,
        "suspend" => KycAction::Suspend,
        _ => return Err(ApiError::not_found().into()),
    };
    let pid = parse_pid(&id)?;
    let decision = if action == KycAction::Approve {
        Decision::approve()
    } else {
        let reason = text::parse(form.reason.as_deref().unwrap_or_default(), 1, 1000, true)
            .map_err(|e| ApiError::field("reason", e.0))?;
        Decision {
            action,
            reason: Some(reason),
            resubmit_allowed: form.resubmit_allowed.is_some(),
        }
    };
    let app = AppSettings::get(&ctx);
    kyc::transition(
        &ctx.db,
        &app,
        pid,
        decision,
        &Actor::Admin(session.user.pid),
    )
    .await?;
    Ok(see_other(&format!("/admin/kyc/{pid}")))
}

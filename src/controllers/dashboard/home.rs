//! The dashboard's first page (KYC status and form), and the endpoints list.

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
        kyc::SubmitBody,
        web::{bad_form, see_other, BusinessSession, PageResult},
    },
    db::Readers,
    domain::kyc_status::KycStatus,
    errors::ApiResult,
    models::{
        endpoints,
        kyc::{self, Submission},
        webhook_secrets,
    },
    views::{kyc::KycView, webhook_endpoints::EndpointView},
};

/// `GET /dashboard/` → KYC status (and the form when one may be sent), the
/// secret's status.
pub async fn show(State(ctx): State<AppContext>, session: BusinessSession) -> PageResult {
    let readers = Readers::get(&ctx);
    let application = kyc::Model::current_for(&readers, session.user.id).await?;
    let can_submit = match &application {
        None => true,
        Some(a) => a.status()? == KycStatus::Rejected && a.resubmit_allowed,
    };
    let secret = webhook_secrets::active_for(&readers, session.user.id).await?;
    session.page(
        "dashboard/home.html",
        json!({
            "kyc": application.as_ref().map(KycView::from),
            "can_submit": can_submit,
            "has_secret": secret.is_some(),
        }),
    )
}

#[derive(Deserialize)]
pub struct KycForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(flatten)]
    body: SubmitBody,
}

/// `POST /dashboard/kyc` → the same submission as `POST /api/v1/kyc/`.
pub async fn submit_kyc(
    State(ctx): State<AppContext>,
    session: BusinessSession,
    headers: HeaderMap,
    form: Result<Form<KycForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| bad_form())?;
    session.check(&headers, form.csrf.as_deref())?;
    kyc::Model::submit(&ctx.db, &session.user, Submission::try_from(form.body)?).await?;
    Ok(see_other("/dashboard/"))
}

/// `GET /dashboard/endpoints` → where the company's events go.
pub async fn endpoints(State(ctx): State<AppContext>, session: BusinessSession) -> PageResult {
    let rows = endpoints::list_for_company(&Readers::get(&ctx), session.user.id).await?;
    let views = rows
        .iter()
        .map(EndpointView::new)
        .collect::<ApiResult<Vec<_>>>()?;
    session.page("dashboard/endpoints.html", json!({ "endpoints": views }))
}

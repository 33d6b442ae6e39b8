//! `POST /api/v1/webhooks/kyc/{onfido,jumio,sumsub}/`: identity providers
//! report verification results. The raw body is verified before it is parsed.

use axum::{
    extract::{Request, State},
    http::HeaderMap,
    response::IntoResponse,
    Json,
};
use loco_rs::prelude::{post, AppContext, Routes};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

use super::extract::{read_body, ApiPath};
use crate::{
    domain::{crypto::sha256_hex, kyc_providers},
    errors::{ApiError, ApiResult},
    limits::Limiters,
    models::kyc,
    openapi::ErrorBody,
    settings::AppSettings,
};

#[derive(OpenApi)]
#[openapi(paths(receive))]
pub struct Api;

/// What became of a provider's delivery.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ProviderOutcome {
    /// `processed`, `ignored` or `duplicate`.
    status: String,
}

/// `POST /webhooks/kyc/<provider>/`: signed with the provider's own header
/// (Onfido `X-SHA2-Signature`, Jumio `X-Jumio-Signature`, Sumsub's digest
/// headers) over the raw body.
#[utoipa::path(post, path = "/api/v1/webhooks/kyc/{provider}", tag = "provider webhooks",
    params(("provider" = String, Path, description = "onfido, jumio or sumsub")),
    request_body(content = Object, description = "The provider's own payload"),
    responses(
        (status = 200, description = "Verified and handled", body = ProviderOutcome),
        (status = 400, description = "Bad signature or payload", body = ErrorBody),
        (status = 404, description = "Unknown or unconfigured provider", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many deliveries from this provider", body = ErrorBody),
    ))]
async fn receive(
    State(ctx): State<AppContext>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult {
    let provider = kyc_providers::Provider::from_path(&name).ok_or_else(ApiError::not_found)?;
    let app = AppSettings::get(&ctx);
    let secret = app.settings.provider_secret(provider);
    if secret.is_empty() {
        return Err(ApiError::not_found());
    }
    let body = read_body(req, app.settings.json_max_body_bytes).await?;
    let invalid = |e: kyc_providers::WebhookError| {
        tracing::warn!(provider = provider.name(), error = %e, "KYC webhook refused");
        ApiError::BadRequest(e.message().into())
    };
    kyc_providers::verify(provider, secret, &headers, &body).map_err(invalid)?;
    // Counted after verification, so forged traffic cannot use up the
    // provider's budget.
    Limiters::get(&ctx).provider(provider.name()).await?;
    let event = kyc_providers::parse(provider, &body).map_err(invalid)?;
    let outcome = kyc::apply_provider_event(&ctx.db, &app, &event, sha256_hex(&body)).await?;
    Ok(Json(json!({ "status": outcome.as_str() })).into_response())
}

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/api/v1/webhooks/kyc")
        .add("/{provider}", post(receive))
}

//! `/api/v1/webhook/secret/`: the business reads or rotates its key.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use loco_rs::prelude::{get, AppContext, Routes};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use super::extract::{CurrentUser, OptionalJson};
use crate::{
    errors::ApiResult,
    models::companies,
    openapi::ErrorBody,
    settings::AppSettings,
    views::webhook_secret::{IssuedSecretView, SecretView},
};

#[derive(OpenApi)]
#[openapi(paths(show, rotate))]
pub struct Api;

/// `GET` → 200 `{"secret_key", "is_active", "expires_at"}`; 403 without approved KYC.
#[utoipa::path(get, path = "/api/v1/webhook/secret", tag = "webhook secret", security(("bearer" = [])),
    responses(
        (status = 200, description = "The current key", body = SecretView),
        (status = 403, description = "KYC not approved", body = ErrorBody, example = json!({"error": "KYC approval required", "message": "You must complete and have your KYC approved before using webhooks."})),
    ))]
async fn show(State(ctx): State<AppContext>, CurrentUser(user): CurrentUser) -> ApiResult {
    let (row, key) = companies::current_key(&ctx.db, &AppSettings::get(&ctx), user.id).await?;
    Ok(Json(SecretView {
        secret_key: key.expose().to_string(),
        is_active: row.is_active,
        expires_at: row.expires_at,
    })
    .into_response())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotateSecret)]
struct RotateBody {
    /// End the previous key's grace at once (it leaked).
    #[serde(default)]
    revoke_previous: bool,
}

/// `POST` (body optional: `{"revoke_previous": true}`) → 201 `created` for
/// the first key, 200 `regenerated` after; the previous key keeps working
/// for the grace window unless `revoke_previous`.
#[utoipa::path(post, path = "/api/v1/webhook/secret", tag = "webhook secret", security(("bearer" = [])),
    request_body(content = Option<RotateBody>, description = "Optional; `revoke_previous` ends the old key's grace at once"),
    responses(
        (status = 200, description = "A new key; the previous one keeps working for the grace window", body = IssuedSecretView),
        (status = 201, description = "The first key", body = IssuedSecretView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "KYC not approved", body = ErrorBody, example = json!({"error": "KYC approval required", "message": "You must complete and have your KYC approved before using webhooks."})),
    ))]
async fn rotate(
    State(ctx): State<AppContext>,
    CurrentUser(user): CurrentUser,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> ApiResult {
    let app = AppSettings::get(&ctx);
    let (row, key, first) =
        companies::rotate_key(&ctx.db, &app, user.id, body.revoke_previous).await?;
    let (status, label) = if first {
        (StatusCode::CREATED, "created")
    } else {
        (StatusCode::OK, "regenerated")
    };
    Ok((
        status,
        Json(IssuedSecretView {
            secret_key: key.expose().to_string(),
            message: "Store this secret safely. Do not share it.",
            status: label,
            expires_at: row.expires_at,
        }),
    )
        .into_response())
}

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/api/v1/webhook/secret")
        .add("/", get(show).post(rotate))
}

//! `/api/v1/webhook/secret/`: the business reads or rotates its key.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use loco_rs::prelude::{get, AppContext, Routes};
use serde::Deserialize;

use super::extract::{CurrentUser, OptionalJson};
use crate::{
    errors::ApiResult,
    models::companies,
    settings::AppSettings,
    views::webhook_secret::{IssuedSecretView, SecretView},
};

/// `GET` → 200 `{"secret_key", "is_active", "expires_at"}`; 403 without approved KYC.
async fn show(State(ctx): State<AppContext>, CurrentUser(user): CurrentUser) -> ApiResult {
    let (row, key) = companies::current_key(&ctx.db, &AppSettings::get(&ctx), user.id).await?;
    Ok(Json(SecretView {
        secret_key: key.expose().to_string(),
        is_active: row.is_active,
        expires_at: row.expires_at,
    })
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// End the previous key's grace at once (it leaked).
    #[serde(default)]
    revoke_previous: bool,
}

/// `POST` (body optional: `{"revoke_previous": true}`) → 201 `created` for
/// the first key, 200 `regenerated` after; the previous key keeps working
/// for the grace window unless `revoke_previous`.
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

//! The webhook secret: its status, revealed on request with a ready-to-run
//! signed test order, and rotation with a confirmation.

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
        extract::ApiQuery,
        web::{bad_form, see_other, BusinessSession, PageResult},
    },
    db::Readers,
    domain::{api_key::ApiKey, crypto::hmac_sha256_hex},
    errors::ApiError,
    models::{companies, webhook_secrets},
    settings::AppSettings,
};

/// The seed's order, as the test panel sends it.
const TEST_ORDER: &str = r#"{"customer_details":{"name":"John Doe","email":"john@example.com","phone":"+2348123456789"},"item_summary":"iPhone 15 x2","address":"123 Main St, Lagos","tracking_status":"PENDING"}"#;

/// The exact command that sends [`TEST_ORDER`] signed with `key`.
fn test_order_curl(base_url: &str, key: &ApiKey) -> String {
    let signature = hmac_sha256_hex(key.expose().as_bytes(), TEST_ORDER.as_bytes());
    format!(
        "curl -X POST {}/api/v1/webhooks/orders/ \\\n  -H 'X-API-Key: {}' \\\n  -H 'X-Webhook-Signature: {signature}' \\\n  -H 'Content-Type: application/json' \\\n  -d '{TEST_ORDER}'",
        base_url.trim_end_matches('/'),
        key.expose(),
    )
}

#[derive(Deserialize)]
pub struct ShowParams {
    reveal: Option<String>,
}

/// `GET /dashboard/secret[?reveal=1]` → status; with `reveal`, the key and
/// the test order's curl command.
pub async fn show(
    State(ctx): State<AppContext>,
    session: BusinessSession,
    q: Result<ApiQuery<ShowParams>, ApiError>,
) -> PageResult {
    let ApiQuery(q) = q?;
    let app = AppSettings::get(&ctx);
    let status = webhook_secrets::active_for(&Readers::get(&ctx), session.user.id).await?;
    let revealed = if q.reveal.is_some() {
        // Issues a key if KYC was approved and none is active yet, as the API does.
        let (row, key) = companies::current_key(&ctx.db, &app, session.user.id).await?;
        Some(json!({
            "key": key.expose(),
            "expires_at": row.expires_at,
            "curl": test_order_curl(&ctx.config.server.host, &key),
        }))
    } else {
        None
    };
    let grace_secs = app.settings.webhook_secret_grace.as_secs();
    session.page(
        "dashboard/secret.html",
        json!({
            "status": status.map(|s| json!({
                "is_active": s.is_active,
                "expired": s.is_expired(),
                "expires_at": s.expires_at,
            })),
            "revealed": revealed,
            "grace_hours": grace_secs / 3600,
        }),
    )
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    csrf: Option<String>,
    /// The confirmation checkbox.
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    revoke_previous: Option<String>,
}

/// `POST /dashboard/secret/rotate` `csrf, confirm, revoke_previous?` → a new
/// key (the API's `POST /webhook/secret/`), then the page with it revealed.
pub async fn rotate(
    State(ctx): State<AppContext>,
    session: BusinessSession,
    headers: HeaderMap,
    form: Result<Form<RotateForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| bad_form())?;
    session.check(&headers, form.csrf.as_deref())?;
    if form.confirm.is_none() {
        return Err(ApiError::field("confirm", "Tick the box to confirm the rotation.").into());
    }
    let app = AppSettings::get(&ctx);
    companies::rotate_key(
        &ctx.db,
        &app,
        session.user.id,
        form.revoke_previous.is_some(),
    )
    .await?;
    Ok(see_other("/dashboard/secret?reveal=1"))
}

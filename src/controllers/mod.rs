//! HTTP only: extract, call the model, render a view.
pub mod admin_kyc;
pub mod auth;
pub mod extract;
pub mod health;
pub mod kyc;
pub mod kyc_webhooks;
pub mod middleware;
pub mod order_webhook;
pub mod orders;
pub mod pagination;
pub mod webhook_endpoints;
pub mod webhook_secret;

use axum::{http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use crate::errors::ApiError;

/// Unknown routes answer 404 JSON.
pub async fn not_found() -> impl IntoResponse {
    ApiError::NotFound("Not found".into())
}

/// A known path with the wrong method answers 405 JSON.
pub async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": "Method not allowed"})),
    )
}

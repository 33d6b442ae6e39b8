//! HTTP only: extract, call the model, render a view.
pub mod admin;
pub mod admin_kyc;
pub mod auth;
pub mod dashboard;
pub mod extract;
pub mod health;
pub mod kyc;
pub mod kyc_webhooks;
pub mod middleware;
pub mod order_webhook;
pub mod orders;
pub mod pagination;
pub mod sign_in;
pub mod static_files;
pub mod web;
pub mod webhook_endpoints;
pub mod webhook_secret;

use axum::{
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::errors::ApiError;

/// Whether `uri` belongs to the browser pages, which answer HTML errors.
pub(crate) fn is_page(uri: &Uri) -> bool {
    let path = uri.path();
    ["/admin", "/dashboard"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Unknown routes answer 404 JSON (an error page under the browser pages).
pub async fn not_found(uri: Uri) -> Response {
    let err = ApiError::NotFound("Not found".into());
    if is_page(&uri) {
        web::PageError(err).into_response()
    } else {
        err.into_response()
    }
}

/// A known path with the wrong method answers 405 JSON (an error page under
/// the browser pages).
pub async fn method_not_allowed(uri: Uri) -> Response {
    if is_page(&uri) {
        return web::error_page(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": "Method not allowed"})),
    )
        .into_response()
}

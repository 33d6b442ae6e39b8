//! The API's OpenAPI 3.1 description, generated from the code: each
//! controller derives its own part (`Api` beside its `routes()`), merged here
//! and served at `GET /api/v1/openapi.json`. A test compares it with the
//! router, so a route cannot go undocumented.

use std::{collections::BTreeMap, sync::OnceLock};

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use loco_rs::prelude::{get, Routes};
use serde::Serialize;
use utoipa::{
    openapi::{
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        Content, OpenApi as Document, RefOr, ResponseBuilder,
    },
    Modify, OpenApi, ToSchema,
};

use crate::controllers;

/// Security scheme names, as the handlers' `security(...)` name them.
pub const BEARER: &str = "bearer";
pub const API_KEY: &str = "api_key";
pub const SIGNATURE: &str = "webhook_signature";

/// Every error body: `{"error": "..."}`, plus `details` (field → messages)
/// for a validation error. A few errors add one documented field:
/// `message` (403 for KYC), `current_status` (409 for a refused move).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "Invalid request data", "details": {"email": ["Enter a valid email address."]}}))]
pub struct ErrorBody {
    /// One sentence for a person.
    pub error: String,
    /// Field name → messages (400 validation errors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, Vec<String>>>,
    /// A longer explanation (403 `KYC approval required`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The resource's status when a change was refused (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "My Order Fellow API",
        description = "Order intake for e-commerce companies: accounts, KYC, webhook secrets, \
            signed order webhooks, outbound events. Every path also answers with a trailing \
            slash. Every error is JSON `{\"error\": \"...\"}` (validation errors add `details`).",
    ),
    paths(openapi_json),
    components(schemas(ErrorBody)),
    modifiers(&Security, &CommonErrors),
    tags(
        (name = "auth", description = "Accounts: registration, e-mail verification, login, password reset"),
        (name = "kyc", description = "A business's KYC application"),
        (name = "admin", description = "KYC review (admin accounts)"),
        (name = "webhook secret", description = "The business's order webhook key"),
        (name = "order webhook", description = "Signed order intake (X-API-Key + X-Webhook-Signature)"),
        (name = "orders", description = "A business's own orders"),
        (name = "events", description = "Outbound event endpoints, deliveries, replay"),
        (name = "provider webhooks", description = "KYC providers' verification results"),
        (name = "meta", description = "This description"),
    )
)]
struct ApiDoc;

/// The security schemes: a login's JWT, and the order webhook's key and signature.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The `token` from `POST /api/v1/auth/login`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "The company's webhook secret (`whsk_...`), from `GET /api/v1/webhook/secret`.",
            ))),
        );
        components.add_security_scheme(
            SIGNATURE,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Webhook-Signature",
                "Hex HMAC-SHA256 of the raw body keyed with the secret; with \
                 `X-Webhook-Timestamp` sent, of `<timestamp>.<body>`.",
            ))),
        );
    }
}

/// Answers any operation may give: 500 (a bug or a broken dependency, the
/// cause logged and never shown), 401 for an operation behind a JWT, 413 and
/// 415 for one that takes a body.
struct CommonErrors;

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody"))),
        )
        .into()
}

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let bearer = op.security.iter().flatten().any(|s| {
                    serde_json::to_value(s)
                        .ok()
                        .is_some_and(|v| v.get(BEARER).is_some())
                });
                let has_body = op.request_body.is_some();
                let responses = &mut op.responses.responses;
                if has_body {
                    responses
                        .entry("413".into())
                        .or_insert_with(|| error_response("Request body too large"));
                    responses
                        .entry("415".into())
                        .or_insert_with(|| error_response("Content-Type must be application/json"));
                }
                if bearer {
                    responses.entry("401".into()).or_insert_with(|| {
                        error_response("No token, or an invalid, expired or revoked one")
                    });
                }
                responses
                    .entry("500".into())
                    .or_insert_with(|| error_response("Internal server error"));
            }
        }
    }
}

/// The whole document, built once.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        for part in [
            controllers::auth::Api::openapi(),
            controllers::kyc::Api::openapi(),
            controllers::admin_kyc::Api::openapi(),
            controllers::webhook_secret::Api::openapi(),
            controllers::order_webhook::Api::openapi(),
            controllers::orders::Api::openapi(),
            controllers::webhook_endpoints::Api::openapi(),
            controllers::kyc_webhooks::Api::openapi(),
        ] {
            doc.merge(part);
        }
        // The modifiers ran on the root alone: run them again on the whole.
        Security.modify(&mut doc);
        CommonErrors.modify(&mut doc);
        doc
    })
}

/// `GET /api/v1/openapi.json` → this API's OpenAPI 3.1 description.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
async fn openapi_json() -> Response {
    match serde_json::to_vec(document()) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => crate::errors::ApiError::internal(e).into_response(),
    }
}

pub fn routes() -> Routes {
    Routes::new().add("/api/v1/openapi.json", get(openapi_json))
}

//! `POST /api/v1/webhooks/orders/` (and `/status/`): e-commerce companies send
//! orders signed with their webhook secret. Checks, in order: the key (401),
//! its expiry (401, after replacing it once), the rate limit (429), the body
//! size (413), the signature over the raw bytes (401), then the JSON (400).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use loco_rs::prelude::{post, AppContext, Routes};
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::extract::{header_str as header, parse_json, parse_pid, read_body};
use crate::{
    db::Readers,
    domain::{
        api_key::ApiKey,
        email::Email,
        phone::Phone,
        signature::{timestamp_is_fresh, HexSignature},
        text,
        tracking::TrackingStatus,
    },
    errors::{ApiError, FieldCheck},
    limits::Limiters,
    models::{
        companies::{self, ExpiredKey},
        known_keys::KnownKeys,
        orders::{self, Accepted, NewOrder, Source},
        webhook_secrets::{self, KeyCheck},
    },
    openapi::ErrorBody,
    settings::AppSettings,
    views::orders::{IntakeView, OrderView},
    workers::order_writer::OrderWriter,
};

#[derive(OpenApi)]
#[openapi(paths(receive, update_status))]
pub struct Api;

pub const INVALID_KEY: &str = "Invalid API key";
pub const EXPIRED_KEY: &str =
    "Webhook secret expired. A new secret has been generated; fetch it from GET /api/v1/webhook/secret/.";
/// An expired key of a company that is no longer approved: nothing was issued.
pub const EXPIRED_KEY_NOT_REPLACED: &str = "Webhook secret expired.";
pub const INVALID_SIGNATURE: &str = "Invalid signature";
pub const STALE_TIMESTAMP: &str = "Timestamp outside tolerance";

/// A refused delivery: logged once with its reason and the key's prefix only.
struct Refusal {
    reason: &'static str,
    key_prefix: Option<String>,
    error: ApiError,
}

impl Refusal {
    fn new(reason: &'static str, error: ApiError) -> Self {
        Self {
            reason,
            key_prefix: None,
            error,
        }
    }

    fn key(mut self, key: &ApiKey) -> Self {
        self.key_prefix = Some(key.prefix());
        self
    }

    fn respond(self) -> Response {
        metrics::counter!("orders_rejected_total", "reason" => self.reason).increment(1);
        tracing::warn!(
            reason = self.reason,
            key = self.key_prefix.as_deref().unwrap_or("-"),
            status = self.error.status().as_u16(),
            "order webhook refused"
        );
        self.error.into_response()
    }
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        let reason = match &error {
            ApiError::Validation(_) => "invalid_fields",
            ApiError::BadRequest(_) => "invalid_json",
            ApiError::PayloadTooLarge => "too_large",
            ApiError::NotFound(_) => "unknown_order",
            ApiError::Conflict { .. } => "illegal_transition",
            ApiError::RateLimited { .. } => "rate_limited",
            _ => "error",
        };
        Self::new(reason, error)
    }
}

/// The company behind a correctly signed request, and the raw body.
async fn authenticate(
    ctx: &Intake,
    app: &AppSettings,
    headers: &HeaderMap,
    req: Request,
) -> Result<(i64, ApiKey, Bytes), Refusal> {
    let invalid_key = || Refusal::new("invalid_key", ApiError::Unauthorized(INVALID_KEY.into()));
    let key = header(headers, "x-api-key")
        .and_then(|raw| ApiKey::parse(raw).ok())
        .ok_or_else(invalid_key)?;
    let secret = match webhook_secrets::lookup(&ctx.reader, &ctx.known, &key)
        .await
        .map_err(|e| Refusal::from(ApiError::from(e)))?
    {
        KeyCheck::Active(row) | KeyCheck::Grace(row) => row,
        KeyCheck::Expired(row) => {
            // Answer from what actually happened: a successor exists only
            // when this call or a concurrent one issued it.
            let message = match companies::replace_expired_key(&ctx.db, app, &row)
                .await
                .map_err(|e| Refusal::from(e).key(&key))?
            {
                ExpiredKey::Replaced | ExpiredKey::AlreadyReplaced => EXPIRED_KEY,
                ExpiredKey::NotApproved => EXPIRED_KEY_NOT_REPLACED,
            };
            return Err(
                Refusal::new("expired_key", ApiError::Unauthorized(message.into())).key(&key),
            );
        }
        KeyCheck::Unknown => return Err(invalid_key().key(&key)),
    };
    ctx.limits
        .order(&secret.secret_hash)
        .await
        .map_err(|e| Refusal::from(e).key(&key))?;
    let body = read_body(req, app.settings.order_max_body_bytes)
        .await
        .map_err(|e| Refusal::from(e).key(&key))?;
    verify_signature(app, headers, &key, &body).map_err(|r| r.key(&key))?;
    Ok((secret.user_id, key, body))
}

/// Checks `X-Webhook-Signature` (and `X-Webhook-Timestamp` when sent).
fn verify_signature(
    app: &AppSettings,
    headers: &HeaderMap,
    key: &ApiKey,
    body: &[u8],
) -> Result<(), Refusal> {
    let bad = || {
        Refusal::new(
            "bad_signature",
            ApiError::Unauthorized(INVALID_SIGNATURE.into()),
        )
    };
    let sig = header(headers, "x-webhook-signature")
        .and_then(|raw| HexSignature::parse(raw).ok())
        .ok_or_else(bad)?;
    let timestamp = header(headers, "x-webhook-timestamp");
    if let Some(ts) = timestamp {
        let tolerance = app.settings.webhook_timestamp_tolerance.as_secs();
        if !timestamp_is_fresh(ts, chrono::Utc::now().timestamp(), tolerance) {
            return Err(Refusal::new(
                "stale_timestamp",
                ApiError::Unauthorized(STALE_TIMESTAMP.into()),
            ));
        }
    }
    if sig.verify(key, timestamp, body) {
        Ok(())
    } else {
        Err(bad())
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = OrderCustomer)]
struct CustomerBody {
    name: String,
    email: String,
    phone: String,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewOrderBody, example = json!({
    "customer_details": {"name": "John Doe", "email": "john@example.com", "phone": "+2348123456789"},
    "item_summary": "iPhone 15 x2",
    "address": "123 Main St, Lagos",
    "tracking_status": "PENDING"
}))]
struct OrderBody {
    customer_details: CustomerBody,
    item_summary: String,
    address: String,
    #[serde(default)]
    tracking_status: Option<String>,
    #[serde(default)]
    external_order_id: Option<String>,
}

fn parse_order(user_id: i64, headers: &HeaderMap, body: OrderBody) -> Result<NewOrder, ApiError> {
    let mut c = FieldCheck::new();
    let name = c.take(
        "customer_details.name",
        text::line(&body.customer_details.name, 200),
    );
    let email = c.take(
        "customer_details.email",
        Email::parse(&body.customer_details.email),
    );
    let phone = c.take(
        "customer_details.phone",
        Phone::parse(&body.customer_details.phone),
    );
    let items = c.take(
        "item_summary",
        text::parse(&body.item_summary, 1, 2000, true),
    );
    let address = c.take("address", text::parse(&body.address, 1, 1000, true));
    let status = match body.tracking_status.as_deref() {
        None => Some(TrackingStatus::Pending),
        Some(s) => c.take("tracking_status", TrackingStatus::parse(s)),
    };
    let external = match body.external_order_id.as_deref() {
        None => Some(None),
        Some(e) => c.take("external_order_id", text::client_key(e)).map(Some),
    };
    let idempotency = match header(headers, "idempotency-key") {
        None => Some(None),
        Some(k) => c.take("Idempotency-Key", text::client_key(k)).map(Some),
    };
    c.build(|| {
        Some(NewOrder {
            user_id,
            // Time-ordered ids keep the index on `pid` append-only.
            pid: Uuid::now_v7(),
            external_order_id: external?,
            idempotency_key: idempotency?,
            customer_name: name?,
            customer_email: email?,
            customer_phone: phone?,
            item_summary: items?,
            address: address?,
            tracking_status: status?,
        })
    })
}

/// `POST /webhooks/orders/` → 201 `{"status": "success", "order_id"}`, or
/// 200 `{"status": "duplicate", "order_id"}` for a repeat.
#[utoipa::path(post, path = "/api/v1/webhooks/orders", tag = "order webhook",
    security(("api_key" = [], "webhook_signature" = [])),
    params(
        ("X-Webhook-Timestamp" = Option<String>, Header, description = "Unix seconds; when sent, the signature covers `<timestamp>.<body>` and a stale one is refused"),
        ("Idempotency-Key" = Option<String>, Header, description = "A repeat with the same key answers 200 `duplicate` with the first order's id"),
    ),
    request_body = OrderBody,
    responses(
        (status = 201, description = "Order created", body = IntakeView),
        (status = 200, description = "A repeat (same external id or idempotency key): the first order", body = IntakeView,
            example = json!({"status": "duplicate", "order_id": "550e8400-e29b-41d4-a716-446655440000"})),
        (status = 400, description = "Invalid JSON or fields", body = ErrorBody),
        (status = 401, description = "Invalid key, expired key (a new one is issued) or bad signature", body = ErrorBody,
            example = json!({"error": "Invalid signature"})),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many orders for this key", body = ErrorBody),
        (status = 503, description = "Service busy", body = ErrorBody),
    ))]
async fn receive(State(ctx): State<Arc<Intake>>, headers: HeaderMap, req: Request) -> Response {
    let app = &ctx.app;
    let result = async {
        let (user_id, key, body) = authenticate(&ctx, app, &headers, req).await?;
        let order = parse_json::<OrderBody>(&body)
            .and_then(|b| parse_order(user_id, &headers, b))
            .map_err(|e| Refusal::from(e).key(&key))?;
        ctx.writer
            .submit(&ctx.db, app, order)
            .await
            .map_err(Refusal::from)
    }
    .await;
    match result {
        Ok(Accepted::Created(id)) => (
            StatusCode::CREATED,
            Json(IntakeView {
                status: "success",
                order_id: id,
            }),
        )
            .into_response(),
        Ok(Accepted::Duplicate(id)) => (
            StatusCode::OK,
            Json(IntakeView {
                status: "duplicate",
                order_id: id,
            }),
        )
            .into_response(),
        Err(refusal) => refusal.respond(),
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = OrderStatusUpdate, example = json!({"external_order_id": "SHOP-1001", "tracking_status": "SHIPPED", "note": "Left the warehouse"}))]
struct StatusBody {
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    external_order_id: Option<String>,
    tracking_status: String,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /webhooks/orders/status/` → 200 with the order; 409 when the move is refused.
#[utoipa::path(post, path = "/api/v1/webhooks/orders/status", tag = "order webhook",
    security(("api_key" = [], "webhook_signature" = [])),
    params(
        ("X-Webhook-Timestamp" = Option<String>, Header, description = "Unix seconds; when sent, the signature covers `<timestamp>.<body>` and a stale one is refused"),
    ),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The order after the move", body = OrderView),
        (status = 400, description = "Invalid JSON or fields", body = ErrorBody),
        (status = 401, description = "Invalid key, expired key (a new one is issued) or bad signature", body = ErrorBody,
            example = json!({"error": "Invalid signature"})),
        (status = 404, description = "No such order of this company", body = ErrorBody),
        (status = 409, description = "The move is not allowed from the current status", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many requests for this key", body = ErrorBody),
        (status = 503, description = "Service busy", body = ErrorBody),
    ))]
async fn update_status(
    State(ctx): State<Arc<Intake>>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let app = &ctx.app;
    let result = async {
        let (user_id, key, body) = authenticate(&ctx, app, &headers, req).await?;
        let fail = |e: ApiError| Refusal::from(e).key(&key);
        let b = parse_json::<StatusBody>(&body).map_err(fail)?;
        let to = TrackingStatus::parse(&b.tracking_status)
            .map_err(|e| fail(ApiError::field("tracking_status", e.0)))?;
        let note = text::note(b.note.as_deref()).map_err(|e| fail(ApiError::field("note", e.0)))?;
        let order = match (b.order_id.as_deref(), b.external_order_id.as_deref()) {
            (Some(id), _) => {
                let pid = parse_pid(id).map_err(fail)?;
                orders::Model::find_for_company(&ctx.reader, user_id, pid).await
            }
            (None, Some(ext)) => {
                orders::Model::find_by_external_id(&ctx.reader, user_id, ext.trim()).await
            }
            (None, None) => Err(ApiError::field(
                "order_id",
                "Send order_id or external_order_id.",
            )),
        }
        .map_err(fail)?;
        orders::change_status(&ctx.db, app, order, to, note, Source::Webhook)
            .await
            .map_err(fail)
    }
    .await;
    match result {
        Ok(order) => Json(OrderView::from(&order)).into_response(),
        Err(refusal) => refusal.respond(),
    }
}

/// What the intake needs per request, cheap to clone: the hot path does not
/// clone loco's whole `AppContext` (its configuration) for every order.
pub struct Intake {
    db: DatabaseConnection,
    reader: DatabaseConnection,
    app: Arc<AppSettings>,
    limits: Arc<Limiters>,
    known: Arc<KnownKeys>,
    writer: Arc<OrderWriter>,
}

/// The two order webhook routes. They run under the app's middleware like
/// every route (request id in the log line, timeout, panic → JSON 500), and
/// carry their own small state: `with_state` resolves each handler here, so
/// axum clones an `Arc<Intake>` per request instead of loco's whole
/// `AppContext` (its configuration included), which cost the intake ~10 % of
/// its CPU.
pub fn routes(ctx: &AppContext) -> Routes {
    let intake = Arc::new(Intake {
        db: ctx.db.clone(),
        reader: Readers::get(ctx),
        app: AppSettings::get(ctx),
        limits: Limiters::get(ctx),
        known: KnownKeys::get(ctx),
        writer: OrderWriter::get(ctx),
    });
    Routes::new()
        .prefix("/api/v1/webhooks/orders")
        .add("/", post(receive).with_state(intake.clone()))
        .add("/status", post(update_status).with_state(intake))
}

#[cfg(test)]
#[path = "order_webhook_fuzz.rs"]
mod fuzz;

//! Response shapes of the event endpoints API.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::signing::Scheme,
    errors::ApiResult,
    models::{
        endpoints,
        events::{attempts, events},
    },
};

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<&'static str>,
    pub scheme: &'static str,
    pub enabled: bool,
    /// Why we disabled it (410, or days of failures); null when enabled or
    /// disabled by its owner.
    pub disabled_reason: Option<String>,
    /// qitech only: the `API-CLIENT-KEY` its requests carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<Uuid>,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
}

impl EndpointView {
    /// # Errors
    /// An internal error for a corrupt row.
    pub fn new(e: &endpoints::Model) -> ApiResult<Self> {
        let scheme = e.scheme()?;
        Ok(Self {
            id: e.pid,
            url: e.url.clone(),
            description: e.description.clone(),
            events: e.filter()?.names(),
            scheme: scheme.as_str(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            client_key: (scheme == Scheme::Qitech).then_some(e.client_key),
            created_at: e.created_at,
            updated_at: e.updated_at,
        })
    }
}

/// The answer to a creation: the endpoint and, once, its secret.
#[derive(Serialize, ToSchema)]
pub struct CreatedEndpointView {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The one view that shows an endpoint's secret, to its owner.
#[derive(Serialize, ToSchema)]
pub struct EndpointSecretView {
    pub secret: String,
    /// After a rotation: until when the previous secret keeps signing too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<DateTime<FixedOffset>>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub attempted_at: DateTime<FixedOffset>,
    pub attempt: i32,
    pub succeeded: bool,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
    pub response_body: Option<String>,
    pub next_retry_at: Option<DateTime<FixedOffset>>,
}

impl AttemptView {
    #[must_use]
    pub fn new(a: &attempts::Model, event: &events::Model) -> Self {
        Self {
            id: a.id,
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            attempted_at: a.created_at,
            attempt: a.attempt,
            succeeded: a.succeeded,
            status_code: a.status_code,
            error: a.error.clone(),
            latency_ms: a.latency_ms,
            response_body: a.response_body.clone(),
            next_retry_at: a.next_retry_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayView {
    pub event_id: String,
    /// Deliveries queued.
    pub queued: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoverView {
    /// Failed deliveries queued again.
    pub recovered: u64,
}

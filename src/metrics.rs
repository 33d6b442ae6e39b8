//! Prometheus metrics (the `metrics` facade with its Prometheus exporter):
//! request latency for every route, order intake counters, outbox gauges,
//! outbound event counters and delivery latency.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use loco_rs::{
    app::AppContext,
    prelude::{get, Routes},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{
    controllers::extract::bearer_token,
    db::Readers,
    errors::ApiError,
    models::{events, outbox},
    settings::AppSettings,
};

const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Outbound requests wait on the receiver: up to the 15 s timeout.
const DELIVERY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];

/// The process-wide recorder, installed on first use.
///
/// # Panics
/// Never: the bucket list is valid and the recorder is installed once.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("valid buckets")
            .set_buckets_for_metric(
                Matcher::Full("event_delivery_duration_seconds".into()),
                DELIVERY_BUCKETS,
            )
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist already (a second app in one test process).
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Middleware: one latency observation per request, by route template.
pub async fn track(req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method,
        "path" => path,
        "status" => res.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    res
}

/// `GET /metrics`.
pub fn routes() -> Routes {
    Routes::new().add("/metrics", get(render))
}

/// `orders_rejected_total` by reason since the process started (the admin
/// console's summary), from the same recorder `/metrics` renders.
#[must_use]
pub fn refusals_by_reason() -> Vec<(String, u64)> {
    handle()
        .render()
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("orders_rejected_total{")?;
            let (labels, value) = rest.split_once("} ")?;
            let reason = labels
                .split(',')
                .find_map(|kv| kv.strip_prefix("reason=\""))?
                .trim_end_matches('"');
            Some((reason.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// `GET /metrics`: Prometheus text format. When `METRICS_TOKEN` is set, a
/// matching `Authorization: Bearer` header is required.
pub async fn render(
    State(ctx): State<AppContext>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let app = AppSettings::get(&ctx);
    if let Some(token) = &app.settings.metrics_token {
        let presented = bearer_token(&headers).unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            presented.as_bytes(),
            token.expose().as_bytes(),
        )) {
            return Err(ApiError::Unauthorized("Invalid metrics token".into()));
        }
    }
    let readers = Readers::get(&ctx);
    let (pending, failed) = outbox::counts(&readers).await?;
    let deliveries_pending = events::pending_count(&readers).await?;
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!("outbox_pending").set(pending as f64);
        metrics::gauge!("outbox_failed").set(failed as f64);
        metrics::gauge!("event_deliveries_pending").set(deliveries_pending as f64);
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response())
}

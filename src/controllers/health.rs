//! Probes for a load balancer or an orchestrator.
//!
//! - `GET /healthz` (liveness): 200 `{"status": "ok"}` while the process
//!   serves requests at all.
//! - `GET /readyz` (readiness): 200 `{"status": "ready", "database": "ok",
//!   "redis": …}` when the database answers within [`PROBE_TIMEOUT`]; else
//!   503 `{"error": "Service unavailable", "database": "unavailable", …}`
//!   with `Retry-After`. Redis is reported (`ok`, `unavailable`, or
//!   `not configured`) but does not make the instance unready: without it
//!   the intake works (limits per process, key changes within 5 s), and
//!   taking every instance out of rotation because Redis is away would turn
//!   a degraded service into an outage.

use std::time::Duration;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use loco_rs::prelude::{get, AppContext, Routes, State};
use serde_json::json;

use crate::cluster::Cluster;

/// How long a readiness probe waits for each dependency.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const RETRY_AFTER_SECS: &str = "5";

pub fn routes() -> Routes {
    Routes::new()
        .add("/healthz", get(live))
        .add("/readyz", get(ready))
}

async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn ready(State(ctx): State<AppContext>) -> Response {
    let database = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, ctx.db.ping()).await,
        Ok(Ok(()))
    );
    let redis = match ctx.shared_store.get::<std::sync::Arc<Cluster>>() {
        None => "not configured",
        Some(cluster) if cluster.ping().await.is_ok() => "ok",
        Some(_) => "unavailable",
    };
    let state = |ok: bool| if ok { "ok" } else { "unavailable" };
    if database {
        Json(json!({"status": "ready", "database": "ok", "redis": redis})).into_response()
    } else {
        let mut res = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "error": "Service unavailable",
                "database": state(database),
                "redis": redis,
            })),
        )
            .into_response();
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
        res
    }
}

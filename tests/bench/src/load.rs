//! The load itself: `concurrency` workers posting unique signed orders for a
//! fixed duration, each latency recorded in an HDR histogram.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde_json::json;

use crate::company::sign;

/// How connections are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One pool of persistent connections (HTTP/1.1 keep-alive).
    KeepAlive,
    /// A new TCP connection for every request (`Connection: close`).
    NewConnection,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Self::KeepAlive => "keep-alive",
            Self::NewConnection => "new-connection",
        }
    }
}

/// Error answers kept verbatim for the report.
const KEPT_ERRORS: usize = 5;
/// Latencies are recorded in microseconds, up to a minute.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What one run measured.
pub struct Outcome {
    /// 201 answers.
    pub created: u64,
    /// Every other answer, and transport failures.
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency of every request (successful or not), in microseconds.
    pub latency_us: Histogram<u64>,
    /// The first few errors: status and body, or the transport error.
    pub first_errors: Vec<String>,
}

impl Outcome {
    fn new() -> Result<Self, String> {
        Ok(Self {
            created: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .map_err(|e| format!("histogram: {e}"))?,
            first_errors: Vec::new(),
        })
    }

    fn merge(&mut self, other: Self) -> Result<(), String> {
        self.created += other.created;
        self.errors += other.errors;
        self.latency_us
            .add(&other.latency_us)
            .map_err(|e| format!("histogram: {e}"))?;
        for error in other.first_errors {
            if self.first_errors.len() < KEPT_ERRORS {
                self.first_errors.push(error);
            }
        }
        Ok(())
    }

    /// 201 answers per second of wall time.
    pub fn orders_per_sec(&self) -> f64 {
        // Counts are far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let created = self.created as f64;
        created / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency at `quantile` (0..=1), in milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let us = self.latency_us.value_at_quantile(quantile) as f64;
        us / 1000.0
    }
}

/// The JSON body of order number `seq` of worker `worker` in run `run`:
/// unique `external_order_id`, customer details as in the seed.
pub fn order_body(run: &str, worker: usize, seq: u64) -> Vec<u8> {
    json!({
        "customer_details": {
            "name": format!("Customer {worker}-{seq}"),
            "email": format!("customer-{worker}-{seq}@example.com"),
            "phone": "+2348123456789",
        },
        "item_summary": "iPhone 15 x2",
        "address": "123 Main St, Lagos",
        "external_order_id": format!("{run}-{worker}-{seq}"),
    })
    .to_string()
    .into_bytes()
}

/// Posts signed orders to `base_url` from `concurrency` workers for `duration`.
///
/// # Errors
/// When the HTTP client cannot be built (a failed request is counted, not
/// returned).
pub async fn run(
    base_url: &str,
    secret_key: &str,
    mode: Mode,
    concurrency: usize,
    duration: Duration,
) -> Result<Outcome, String> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30));
    builder = match mode {
        Mode::KeepAlive => builder.pool_max_idle_per_host(concurrency),
        Mode::NewConnection => builder.pool_max_idle_per_host(0),
    };
    let http = builder.build().map_err(|e| format!("http client: {e}"))?;
    let url: Arc<str> = format!("{base_url}/api/v1/webhooks/orders/").into();
    let secret: Arc<str> = secret_key.into();
    let run_tag = format!(
        "bench-{}-{}-{}",
        mode.label(),
        concurrency,
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );

    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let (http, url, secret, run_tag) = (
            http.clone(),
            Arc::clone(&url),
            Arc::clone(&secret),
            run_tag.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut outcome = Outcome::new()?;
            let mut seq = 0u64;
            while Instant::now() < deadline {
                seq += 1;
                let body = order_body(&run_tag, worker, seq);
                let signature = sign(&secret, &body);
                let mut req = http
                    .post(&*url)
                    .header("X-API-Key", &*secret)
                    .header("X-Webhook-Signature", signature)
                    .header("Content-Type", "application/json");
                if mode == Mode::NewConnection {
                    req = req.header("Connection", "close");
                }
                let sent = Instant::now();
                let answer = match req.body(body).send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let text = res.text().await.unwrap_or_default();
                        Ok((status, text))
                    }
                    Err(e) => Err(e.to_string()),
                };
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                outcome
                    .latency_us
                    .saturating_record(micros.clamp(1, MAX_LATENCY_US));
                match answer {
                    Ok((201, _)) => outcome.created += 1,
                    Ok((status, text)) => {
                        outcome.errors += 1;
                        if outcome.first_errors.len() < KEPT_ERRORS {
                            let text: String = text.chars().take(200).collect();
                            outcome.first_errors.push(format!("HTTP {status}: {text}"));
                        }
                    }
                    Err(e) => {
                        outcome.errors += 1;
                        if outcome.first_errors.len() < KEPT_ERRORS {
                            outcome.first_errors.push(format!("transport: {e}"));
                        }
                    }
                }
            }
            Ok::<_, String>(outcome)
        }));
    }
    let mut total = Outcome::new()?;
    for worker in workers {
        let outcome = worker.await.map_err(|e| format!("worker: {e}"))??;
        total.merge(outcome)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_body_is_unique_json_with_the_seed_fields() {
        let a: serde_json::Value = serde_json::from_slice(&order_body("r", 0, 1)).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&order_body("r", 1, 1)).unwrap();
        let c: serde_json::Value = serde_json::from_slice(&order_body("r", 0, 2)).unwrap();
        for body in [&a, &b, &c] {
            assert!(body["customer_details"]["email"]
                .as_str()
                .unwrap()
                .ends_with("@example.com"));
            assert_eq!(body["customer_details"]["phone"], "+2348123456789");
            assert!(body["item_summary"].is_string() && body["address"].is_string());
        }
        assert_ne!(a["external_order_id"], b["external_order_id"]);
        assert_ne!(a["external_order_id"], c["external_order_id"]);
    }

    #[test]
    fn outcomes_merge_counts_latencies_and_keep_a_few_errors() {
        let mut total = Outcome::new().unwrap();
        for _ in 0..3 {
            let mut part = Outcome::new().unwrap();
            part.created = 10;
            part.errors = 3;
            part.latency_us.record(2_000).unwrap();
            part.first_errors = vec!["HTTP 401: {}".into(); 3];
            total.merge(part).unwrap();
        }
        total.elapsed = Duration::from_secs(2);
        assert_eq!((total.created, total.errors), (30, 9));
        assert_eq!(total.first_errors.len(), KEPT_ERRORS);
        assert!((total.orders_per_sec() - 15.0).abs() < 1e-9);
        assert!((total.latency_ms(0.5) - 2.0).abs() < 0.01);
    }
}

//! The events run's receiver: a local HTTP server answering 200 to every
//! delivery and counting them, and the server's pending deliveries read
//! from `/metrics` while the load runs.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// A receiver on 127.0.0.1 that answers 200; stops when dropped.
pub struct Receiver {
    pub url: String,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// # Errors
    /// When no local port can be bound.
    pub async fn start() -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("receiver: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("receiver: {e}"))?
            .port();
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let app = axum::Router::new().fallback(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/events"),
            received,
            task,
        })
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// `event_deliveries_pending` from the server's `/metrics`.
///
/// # Errors
/// When `/metrics` does not answer or lacks the gauge.
pub async fn pending(http: &reqwest::Client, base_url: &str) -> Result<u64, String> {
    gauge(http, base_url, "event_deliveries_pending").await
}

/// A row-count gauge (`outbox_pending`, …) from the server's `/metrics`.
///
/// # Errors
/// When `/metrics` does not answer or lacks the gauge.
pub async fn gauge(http: &reqwest::Client, base_url: &str, name: &str) -> Result<u64, String> {
    let text = http
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .map_err(|e| format!("metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("metrics: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        // A gauge of a row count: a whole, non-negative number.
        .map(|v| v.max(0.0) as u64)
        .ok_or_else(|| format!("metrics: no {name}"))
}

/// Pending deliveries sampled every `every` until `stop` is set.
pub async fn sample(
    http: reqwest::Client,
    base_url: String,
    every: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<u64> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if let Ok(n) = pending(&http, &base_url).await {
            samples.push(n);
        }
        tokio::time::sleep(every).await;
    }
    samples
}

/// Waits until no delivery is pending; returns how long it took.
///
/// # Errors
/// When deliveries are still pending after `within`.
pub async fn drained(
    http: &reqwest::Client,
    base_url: &str,
    within: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        let n = pending(http, base_url).await?;
        if n == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            return Err(format!("{n} deliveries still pending after {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

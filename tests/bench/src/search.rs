//! The order search at scale: `GET /api/v1/orders/?q=…` from a few
//! concurrent clients, each query a realistic one taken from the stored
//! orders themselves: one order's external id, one customer's e-mail, a
//! surname shared by many customers.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

/// What the search run measured.
pub struct Outcome {
    pub queries: u64,
    pub errors: u64,
    /// Queries that found nothing (each query is taken from a stored order,
    /// so this must stay 0).
    pub empty: u64,
    pub latency_us: Histogram<u64>,
    /// The same latencies by kind of query (see [`KINDS`]).
    pub by_kind: Vec<Histogram<u64>>,
    pub first_errors: Vec<String>,
}

/// What each sampled query is, in the order of [`Outcome::by_kind`].
pub const KINDS: [&str; 3] = ["external id", "e-mail", "surname"];

impl Outcome {
    /// The latency at `quantile`, in milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        ms(&self.latency_us, quantile)
    }

    /// `p50/p99 ms` of each kind of query.
    pub fn by_kind_summary(&self) -> String {
        KINDS
            .iter()
            .zip(&self.by_kind)
            .map(|(kind, h)| format!("{kind} {:.1}/{:.1}", ms(h, 0.5), ms(h, 0.99)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let us = h.value_at_quantile(quantile) as f64;
    us / 1000.0
}

/// Pages of stored orders sampled for queries, spread over the whole list.
const SAMPLED_PAGES: u64 = 20;

/// The queries: for orders sampled across the list of `total` stored
/// orders, each one's external id, its customer's e-mail and surname.
async fn queries(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    total: u64,
) -> Result<Vec<(usize, String)>, String> {
    let list = |page: u64| {
        let http = http.clone();
        let url = format!("{base}/api/v1/orders/?page={page}&page_size=100");
        let token = token.to_string();
        async move {
            let res = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| format!("orders list: {e}"))?;
            let status = res.status();
            let body: serde_json::Value =
                res.json().await.map_err(|e| format!("orders list: {e}"))?;
            if status.is_success() {
                Ok(body)
            } else {
                Err(format!("orders list: {status} {body}"))
            }
        }
    };
    let pages = total.div_ceil(100).max(1);
    let mut queries = Vec::new();
    for i in 0..SAMPLED_PAGES {
        let page = 1 + i * pages / SAMPLED_PAGES;
        let body = list(page).await?;
        for (n, order) in body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(n, _)| n % 20 == 0)
        {
            let name = order["customer_details"]["name"].as_str().unwrap_or("");
            let pick = match n % 3 {
                0 => order["external_order_id"].as_str(),
                1 => order["customer_details"]["email"].as_str(),
                _ => name.rsplit(' ').next(),
            };
            if let Some(q) = pick.filter(|q| !q.is_empty()) {
                queries.push((n % 3, q.to_string()));
            }
        }
    }
    if queries.is_empty() {
        return Err("search: no stored orders to take queries from".into());
    }
    Ok(queries)
}

/// Searches from `concurrency` clients for `duration`.
///
/// # Errors
/// When no queries can be sampled (a failed query is counted, not returned).
pub async fn run(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    stored: u64,
    concurrency: usize,
    duration: Duration,
) -> Result<Outcome, String> {
    let queries: Arc<[(usize, String)]> = queries(http, base, token, stored).await?.into();
    let histogram =
        || Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| format!("histogram: {e}"));
    let deadline = Instant::now() + duration;
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (http, queries) = (http.clone(), Arc::clone(&queries));
        let (url, token) = (format!("{base}/api/v1/orders/"), token.to_string());
        workers.push(tokio::spawn(async move {
            let mut out = Outcome {
                queries: 0,
                errors: 0,
                empty: 0,
                latency_us: histogram()?,
                by_kind: vec![histogram()?, histogram()?, histogram()?],
                first_errors: Vec::new(),
            };
            let mut i = worker * 7;
            while Instant::now() < deadline {
                let (kind, q) = &queries[i % queries.len()];
                i += 1;
                let sent = Instant::now();
                let answer = http
                    .get(&url)
                    .query(&[("q", q.as_str())])
                    .bearer_auth(&token)
                    .send()
                    .await;
                let answer = match answer {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        res.json::<serde_json::Value>()
                            .await
                            .map(|b| (status, b))
                            .map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                };
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                out.latency_us.saturating_record(micros.max(1));
                out.by_kind[*kind].saturating_record(micros.max(1));
                out.queries += 1;
                match answer {
                    Ok((200, body)) if body["count"].as_u64().unwrap_or(0) > 0 => {}
                    Ok((200, _)) => out.empty += 1,
                    Ok((status, body)) => {
                        out.errors += 1;
                        if out.first_errors.len() < 3 {
                            out.first_errors.push(format!("HTTP {status}: {body}"));
                        }
                    }
                    Err(e) => {
                        out.errors += 1;
                        if out.first_errors.len() < 3 {
                            out.first_errors.push(e);
                        }
                    }
                }
            }
            Ok::<_, String>(out)
        }));
    }
    let mut total: Option<Outcome> = None;
    for worker in workers {
        let part = worker.await.map_err(|e| format!("search worker: {e}"))??;
        total = Some(match total {
            None => part,
            Some(mut t) => {
                t.queries += part.queries;
                t.errors += part.errors;
                t.empty += part.empty;
                t.latency_us
                    .add(&part.latency_us)
                    .map_err(|e| format!("histogram: {e}"))?;
                for (mine, theirs) in t.by_kind.iter_mut().zip(&part.by_kind) {
                    mine.add(theirs).map_err(|e| format!("histogram: {e}"))?;
                }
                t.first_errors.extend(part.first_errors);
                t
            }
        });
    }
    total.ok_or_else(|| "search: no clients".to_string())
}

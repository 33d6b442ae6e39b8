//! Delivers events to the businesses' endpoints: leases due deliveries,
//! signs and sends each with `reqwest` (15 s timeout, no redirects, at most
//! `EVENT_CONCURRENCY` in flight and [`PER_ENDPOINT`] per endpoint, so one
//! slow or dead endpoint never holds up the others), records every attempt,
//! marks successes in bulk, and retries failures on `EVENT_RETRY_SCHEDULE_SECS`
//! (±20 % jitter) until the delivery fails. A 410 disables the endpoint at
//! once; so does a failure streak older than `EVENT_DISABLE_AFTER_SECS`, and
//! its company is e-mailed.
//!
//! All state is in the database: a worker that dies leaves leases that run
//! out, and another (or the restarted one) sends those deliveries again, so
//! every event reaches its endpoints at least once. Receivers deduplicate by
//! `webhook-id` (the event id).
//!
//! The HTTP client and its SSRF guard are in [`client`].
//!
//! Beside it runs the periodic scan that records `webhook_secret.expiring`
//! once per key, 7 days before it expires.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use loco_rs::app::AppContext;
use serde_json::json;
use tokio::sync::mpsc;

use crate::{
    db::Readers,
    domain::{
        crypto::random_below,
        endpoint_url::EndpointUrl,
        event_type::EventType,
        now,
        signing::{standard_webhooks::EndpointSecret, Envelope, Scheme, Signer},
    },
    errors::{ApiError, ApiResult},
    models::{
        endpoints,
        events::{self, deliveries, Attempt, NewEvent, Outcome, Verdict},
        tx::Tx,
        webhook_secrets,
    },
    server::Shutdown,
    settings::{delta, AppSettings},
};

mod client;
pub use client::{Deliverer, BODY_KEPT, PER_ENDPOINT, TIMEOUT};
/// How long a busy loop lets work gather between rounds.
const GATHER: Duration = Duration::from_millis(10);
/// How often the expiry scan runs.
const EXPIRY_SCAN_EVERY: Duration = Duration::from_secs(60);
/// How long before a key's expiry its company hears of it.
const EXPIRY_WARNING_DAYS: i64 = 7;

/// The delay before retrying after attempt `attempt` (1-based) failed, with
/// ±20 % jitter; `None` once the schedule is used up.
#[must_use]
pub fn retry_delay(schedule: &[Duration], attempt: i32) -> Option<Duration> {
    let base = schedule.get(usize::try_from(attempt - 1).ok()?)?;
    let factor = 0.8 + 0.4 * f64::from(random_below(1_000_001)) / 1_000_000.0;
    Some(base.mul_f64(factor))
}

fn verdict(app: &AppSettings, delivery: &deliveries::Model, attempt: &Attempt) -> Verdict {
    match attempt.status_code {
        Some(s) if (200..300).contains(&s) => Verdict::Succeeded,
        Some(410) => Verdict::Gone,
        _ => retry_delay(&app.settings.events.retry_schedule, delivery.attempts + 1)
            .map_or(Verdict::Failed, |d| Verdict::RetryAt(now() + delta(d))),
    }
}

/// A delivery ready to send.
struct Job {
    url: EndpointUrl,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// An endpoint as its requests need it, read and decrypted once per batch.
struct Target {
    id: i64,
    url: EndpointUrl,
    scheme: Scheme,
    secrets: Vec<EndpointSecret>,
    client_key: uuid::Uuid,
}

impl Target {
    fn of(app: &AppSettings, endpoint: &endpoints::Model) -> ApiResult<Self> {
        Ok(Self {
            id: endpoint.id,
            url: endpoint.url()?,
            scheme: endpoint.scheme()?,
            secrets: endpoint.signing_secrets(&app.keys.endpoint_secrets)?,
            client_key: endpoint.client_key,
        })
    }
}

/// Signs `event` for `target`, now.
fn prepare(app: &AppSettings, target: &Target, event: &events::events::Model) -> ApiResult<Job> {
    let data = event.payload()?;
    let signer = Signer {
        scheme: target.scheme,
        secrets: target.secrets.iter().collect(),
        client_key: target.client_key,
        es512: &app.settings.events.signing_key,
    };
    let envelope = Envelope {
        id: &event.event_id,
        event_type: &event.event_type,
        timestamp: event.occurred_at_ms,
        data: &data,
    };
    let signed = signer
        .sign(&envelope, target.url.path(), chrono::Utc::now())
        .map_err(|e| ApiError::invariant(format!("event_endpoints row {}: {e}", target.id)))?;
    Ok(Job {
        url: target.url.clone(),
        headers: signed.headers,
        body: signed.body,
    })
}

/// Sends one delivery and decides what comes next.
async fn attempt(
    app: &AppSettings,
    deliverer: &Deliverer,
    delivery: deliveries::Model,
    job: Job,
) -> Outcome {
    let attempt = deliverer.send(&job.url, job.headers, job.body).await;
    let verdict = verdict(app, &delivery, &attempt);
    let result = match verdict {
        Verdict::Succeeded => "succeeded",
        Verdict::RetryAt(_) => "retrying",
        Verdict::Failed => "failed",
        Verdict::Gone => "gone",
    };
    metrics::counter!("event_deliveries_total", "result" => result).increment(1);
    metrics::histogram!("event_delivery_duration_seconds")
        .record(f64::from(attempt.latency_ms) / 1000.0);
    Outcome {
        delivery,
        attempt: Some(attempt),
        verdict,
    }
}

/// Records outcomes in one transaction and e-mails the companies whose
/// endpoints were disabled.
async fn record(
    db: &sea_orm::DatabaseConnection,
    app: &AppSettings,
    outcomes: &[Outcome],
) -> ApiResult<()> {
    let tx = Tx::begin(db).await?;
    let cutoff = now() - delta(app.settings.events.disable_after);
    let recorded = events::record_outcomes(&tx, outcomes, cutoff).await?;
    let keys = &app.keys.mail;
    endpoints::mail_disabled(&tx, keys, &recorded.gone, endpoints::DISABLED_GONE).await?;
    endpoints::mail_disabled(&tx, keys, &recorded.failing, endpoints::DISABLED_FAILING).await?;
    tx.commit().await?;
    for (endpoint, reason) in recorded
        .gone
        .iter()
        .map(|e| (e, endpoints::DISABLED_GONE))
        .chain(
            recorded
                .failing
                .iter()
                .map(|e| (e, endpoints::DISABLED_FAILING)),
        )
    {
        tracing::warn!(endpoint = %endpoint.pid, reason, "event endpoint disabled");
    }
    Ok(())
}

/// `POST …/endpoints/<id>/test/`: records a `ping` for `endpoint`, sends it
/// now (not through the queue), records the attempt and returns it. A
/// failed ping is retried like any delivery.
///
/// # Errors
/// 409 when the endpoint is disabled; 500 on database failure.
pub async fn send_test(
    ctx: &AppContext,
    endpoint: &endpoints::Model,
) -> ApiResult<(events::attempts::Model, events::events::Model)> {
    let app = AppSettings::get(ctx);
    let (event, delivery) =
        events::queue_ping(&ctx.db, endpoint, delta(app.settings.events.lease)).await?;
    let job = prepare(&app, &Target::of(&app, endpoint)?, &event)?;
    let delivery_id = delivery.id;
    let outcome = attempt(&app, &Deliverer::get(ctx), delivery, job).await;
    record(&ctx.db, &app, &[outcome]).await?;
    Ok((events::last_attempt(&ctx.db, delivery_id).await?, event))
}

/// A leased delivery waiting in the worker for a free lane of its endpoint.
struct Queued {
    delivery: deliveries::Model,
    target: Arc<Target>,
    event: Arc<events::events::Model>,
}

/// What a lane reports back to the dispatcher.
enum Report {
    Sent(Box<Outcome>),
    /// Not sent: too little lease left; it runs out and is leased again.
    Released(i64),
}

/// One endpoint's queue and how many lanes (sending tasks) drain it.
#[derive(Default)]
struct EndpointQueue {
    jobs: std::sync::Mutex<VecDeque<Queued>>,
    lanes: std::sync::atomic::AtomicUsize,
}

impl EndpointQueue {
    fn pop(&self) -> Option<Queued> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }
}

/// The worker's loop state. Deliveries are leased in large batches (few
/// database round trips per delivery) into one queue per endpoint, drained
/// by at most [`PER_ENDPOINT`] lanes per endpoint, each sending one request
/// at a time and taking the next job itself, under a semaphore of
/// `EVENT_CONCURRENCY` permits: a slow endpoint only ever waits on itself,
/// and sending never waits on the database. Results are recorded in bulk.
struct Dispatcher {
    ctx: AppContext,
    app: Arc<AppSettings>,
    deliverer: Arc<Deliverer>,
    permits: Arc<tokio::sync::Semaphore>,
    queues: HashMap<i64, Arc<EndpointQueue>>,
    /// Leased and not yet reported, per endpoint.
    held: HashMap<i64, usize>,
    total_held: usize,
    reports_tx: mpsc::UnboundedSender<Report>,
    reports_rx: mpsc::UnboundedReceiver<Report>,
    finished: Vec<Outcome>,
}

/// Deliveries one worker holds at most (queued and in flight), and per endpoint.
const MAX_HELD: usize = 4096;
const MAX_HELD_PER_ENDPOINT: usize = 2048;
/// A queued delivery is sent only while a request's timeout of its lease is
/// left; otherwise it is left to run out and be leased again, so no two
/// workers ever send it at once (hence `EVENT_LEASE_SECS` ≥ 16).
const LEASE_MARGIN: Duration = TIMEOUT;

/// Sends an endpoint's queued deliveries one after the other until its
/// queue is empty.
async fn lane(
    queue: Arc<EndpointQueue>,
    app: Arc<AppSettings>,
    deliverer: Arc<Deliverer>,
    permits: Arc<tokio::sync::Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
) {
    use std::sync::atomic::Ordering;
    loop {
        let Some(next) = queue.pop() else {
            queue.lanes.fetch_sub(1, Ordering::AcqRel);
            // A job pushed between the pop and the decrement would wait for
            // the next lease round: take it while the endpoint has a free lane.
            if queue
                .jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_empty()
            {
                return;
            }
            if queue.lanes.fetch_add(1, Ordering::AcqRel) >= PER_ENDPOINT {
                queue.lanes.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            continue;
        };
        let endpoint = next.delivery.endpoint_id;
        if next
            .delivery
            .locked_until
            .is_none_or(|until| until < now() + delta(LEASE_MARGIN))
        {
            let _ = reports.send(Report::Released(endpoint));
            continue;
        }
        let report = match prepare(&app, &next.target, &next.event) {
            Ok(job) => {
                let Ok(_permit) = permits.acquire().await else {
                    return;
                };
                Report::Sent(Box::new(
                    attempt(&app, &deliverer, next.delivery, job).await,
                ))
            }
            Err(e) => {
                tracing::error!(delivery = next.delivery.id, error = %e.describe(), "delivery cannot be signed");
                metrics::counter!("event_deliveries_total", "result" => "skipped").increment(1);
                Report::Sent(Box::new(Outcome {
                    delivery: next.delivery,
                    attempt: None,
                    verdict: Verdict::Failed,
                }))
            }
        };
        let _ = reports.send(report);
    }
}

impl Dispatcher {
    fn new(ctx: AppContext) -> Self {
        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        let app = AppSettings::get(&ctx);
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(app.settings.events.concurrency)),
            app,
            deliverer: Deliverer::get(&ctx),
            ctx,
            queues: HashMap::new(),
            held: HashMap::new(),
            total_held: 0,
            reports_tx,
            reports_rx,
            finished: Vec::new(),
        }
    }

    fn take(&mut self, report: Report) {
        let endpoint = match report {
            Report::Sent(outcome) => {
                let endpoint = outcome.delivery.endpoint_id;
                self.finished.push(*outcome);
                endpoint
            }
            Report::Released(endpoint) => endpoint,
        };
        if let Some(n) = self.held.get_mut(&endpoint) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(&endpoint);
                self.queues.remove(&endpoint);
            }
        }
        self.total_held -= 1;
    }

    /// Records what was reported since the last round, in one transaction.
    /// On a database failure the outcomes are dropped: their leases run out
    /// and the deliveries are sent again (at least once).
    async fn record_finished(&mut self) {
        while let Ok(report) = self.reports_rx.try_recv() {
            self.take(report);
        }
        if self.finished.is_empty() {
            return;
        }
        let outcomes = std::mem::take(&mut self.finished);
        if let Err(e) = record(&self.ctx.db, &self.app, &outcomes).await {
            tracing::error!(error = %e.describe(), "event delivery results not recorded");
        }
    }

    /// Leases due deliveries into the endpoints' queues and opens lanes for
    /// them; returns how many were leased.
    async fn lease(&mut self) -> ApiResult<usize> {
        let budget = MAX_HELD.saturating_sub(self.total_held);
        if budget == 0 {
            return Ok(0);
        }
        let full: Vec<i64> = self
            .held
            .iter()
            .filter(|(_, n)| **n >= MAX_HELD_PER_ENDPOINT)
            .map(|(id, _)| *id)
            .collect();
        // Reads go to the read pool: on SQLite the one writer stays free
        // for the intake; the claim below re-checks every row it takes.
        let readers = Readers::get(&self.ctx);
        let due = events::due(&readers, u64::try_from(budget).unwrap_or(0), &full).await?;
        let mut planned: HashMap<i64, usize> = HashMap::new();
        let mut take = Vec::with_capacity(due.len());
        for (id, endpoint) in due {
            let load = self.held.get(&endpoint).copied().unwrap_or(0)
                + planned.get(&endpoint).copied().unwrap_or(0);
            if load < MAX_HELD_PER_ENDPOINT {
                *planned.entry(endpoint).or_default() += 1;
                take.push(id);
            }
        }
        let lease = delta(self.app.settings.events.lease);
        let batch = events::claim(&self.ctx.db, &take, lease).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let event_ids: Vec<i64> = batch.iter().map(|d| d.event_row_id).collect();
        let endpoint_ids: Vec<i64> = batch.iter().map(|d| d.endpoint_id).collect();
        let events: HashMap<i64, Arc<events::events::Model>> = events::by_ids(&readers, &event_ids)
            .await?
            .into_iter()
            .map(|(id, e)| (id, Arc::new(e)))
            .collect();
        let mut targets: HashMap<i64, Arc<Target>> = HashMap::new();
        for (id, endpoint) in endpoints::by_ids(&readers, &endpoint_ids).await? {
            if !endpoint.enabled {
                continue;
            }
            match Target::of(&self.app, &endpoint) {
                Ok(target) => {
                    targets.insert(id, Arc::new(target));
                }
                Err(e) => {
                    tracing::error!(endpoint = id, error = %e.describe(), "endpoint cannot sign")
                }
            }
        }
        let leased = batch.len();
        let mut touched = Vec::new();
        for delivery in batch {
            let target = targets.get(&delivery.endpoint_id);
            let Some((target, event)) = target.zip(events.get(&delivery.event_row_id)) else {
                // Disabled or deleted meanwhile: nothing to send to.
                metrics::counter!("event_deliveries_total", "result" => "skipped").increment(1);
                self.finished.push(Outcome {
                    delivery,
                    attempt: None,
                    verdict: Verdict::Failed,
                });
                continue;
            };
            let id = delivery.endpoint_id;
            *self.held.entry(id).or_default() += 1;
            self.total_held += 1;
            let queue = self.queues.entry(id).or_default();
            queue
                .jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push_back(Queued {
                    target: target.clone(),
                    event: event.clone(),
                    delivery,
                });
            if !touched.contains(&id) {
                touched.push(id);
            }
        }
        for id in touched {
            self.open_lanes(id);
        }
        Ok(leased)
    }

    /// Starts lanes for endpoint `id` up to [`PER_ENDPOINT`].
    fn open_lanes(&self, id: i64) {
        use std::sync::atomic::Ordering;
        let Some(queue) = self.queues.get(&id) else {
            return;
        };
        let waiting = queue
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        for _ in 0..waiting {
            let lanes = queue.lanes.load(Ordering::Acquire);
            if lanes >= PER_ENDPOINT
                || queue
                    .lanes
                    .compare_exchange(lanes, lanes + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                break;
            }
            tokio::spawn(lane(
                queue.clone(),
                self.app.clone(),
                self.deliverer.clone(),
                self.permits.clone(),
                self.reports_tx.clone(),
            ));
        }
    }

    /// At shutdown: unqueues what no lane has started (its lease runs out and
    /// another worker sends it), waits for the requests in flight and records
    /// their results.
    async fn drain(&mut self) {
        let endpoints: Vec<i64> = self.queues.keys().copied().collect();
        for endpoint in endpoints {
            let Some(queue) = self.queues.get(&endpoint).cloned() else {
                continue;
            };
            while queue.pop().is_some() {
                self.take(Report::Released(endpoint));
            }
        }
        while self.total_held > 0 {
            match tokio::time::timeout(Duration::from_millis(100), self.reports_rx.recv()).await {
                Ok(Some(report)) => self.take(report),
                Ok(None) => break,
                Err(_) => self.record_finished().await,
            }
        }
        self.record_finished().await;
    }

    async fn run(mut self) {
        let poll = self.app.settings.events.poll;
        let mut last_scan: Option<Instant> = None;
        let shutdown = Shutdown::of(&self.ctx).unwrap_or_default();
        // Held for the worker's whole life: the shutdown waits for `drain`.
        let Some(_working) = shutdown.batch().await else {
            return;
        };
        loop {
            if shutdown.is_begun() {
                self.drain().await;
                return;
            }
            self.record_finished().await;
            let leased = self.lease().await.unwrap_or_else(|e| {
                tracing::error!(error = %e.describe(), "event delivery loop");
                0
            });
            if last_scan.is_none_or(|t| t.elapsed() >= EXPIRY_SCAN_EVERY) {
                if let Err(e) = scan_expiring(&self.ctx).await {
                    tracing::error!(error = %e.describe(), "key expiry scan");
                }
                last_scan = Some(Instant::now());
            }
            if leased == 0 && self.finished.is_empty() {
                tokio::select! {
                    Some(report) = self.reports_rx.recv() => self.take(report),
                    () = events::wait(poll) => {}
                    () = shutdown.begun() => {}
                }
            } else {
                // Busy: let results and new events gather for a moment, so
                // each lease and each record covers many deliveries. Every
                // one is a commit that the intake's commits queue behind.
                tokio::time::sleep(GATHER).await;
            }
        }
    }
}

/// Runs delivery until the process ends: on every wake-up, whenever a send
/// finishes, and at least every `EVENT_POLL_MS` (deliveries left by a crash,
/// a CLI task or another instance, and retries coming due).
pub fn spawn(ctx: AppContext) {
    tokio::spawn(Dispatcher::new(ctx).run());
}

/// Records `webhook_secret.expiring` for every active key that expires in
/// the next 7 days and has not been warned about: once per key, across
/// restarts and instances (the event's unique dedupe key). Returns how many
/// were recorded.
///
/// # Errors
/// On database failure.
pub async fn scan_expiring(ctx: &AppContext) -> ApiResult<usize> {
    let t = now();
    let soon = webhook_secrets::expiring_between(
        &ctx.db,
        t,
        t + chrono::Duration::days(EXPIRY_WARNING_DAYS),
    )
    .await?;
    let key = |id: i64| format!("webhook_secret.expiring:{id}");
    let warned = events::recorded_keys(&ctx.db, soon.iter().map(|s| key(s.id)).collect()).await?;
    let due: Vec<NewEvent> = soon
        .iter()
        .filter(|s| !warned.contains(&key(s.id)))
        .map(|s| {
            NewEvent::new(
                s.user_id,
                EventType::WebhookSecretExpiring,
                json!({"fingerprint": s.fingerprint, "expires_at": s.expires_at}),
            )
            .once(key(s.id))
        })
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let tx = Tx::begin(&ctx.db).await?;
    let recorded = events::record_many(&tx, due).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// Delivers everything due now and waits for the sends to finish, then
/// records them: the test suite's way to run the worker one round at a time.
///
/// # Errors
/// On database failure.
pub async fn deliver_due(ctx: &AppContext) -> ApiResult<usize> {
    let mut dispatcher = Dispatcher::new(ctx.clone());
    let mut sent = 0;
    loop {
        let leased = dispatcher.lease().await?;
        sent += leased;
        while dispatcher.total_held > 0 {
            if let Some(report) = dispatcher.reports_rx.recv().await {
                dispatcher.take(report);
            }
        }
        dispatcher.record_finished().await;
        if leased == 0 {
            return Ok(sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_within_20_percent_then_stop() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(300)];
        for _ in 0..200 {
            let first = retry_delay(&schedule, 1).unwrap();
            assert!(
                first >= Duration::from_secs(4) && first <= Duration::from_secs(6),
                "{first:?}"
            );
            let second = retry_delay(&schedule, 2).unwrap();
            assert!(second >= Duration::from_secs(240) && second <= Duration::from_secs(360));
        }
        assert_eq!(retry_delay(&schedule, 3), None);
        assert_eq!(retry_delay(&schedule, 0), None);
    }
}

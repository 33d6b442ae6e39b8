//! State shared between server instances, in Redis (`REDIS_URL`): the
//! per-key and per-provider rate limits ([`gcra`]) and the key-cache
//! invalidation ([`invalidation`]). Without `REDIS_URL` there is no
//! [`Cluster`] and everything stays in the process, as in a single instance.
//!
//! Redis is never on the critical path: every call is bounded by
//! [`CALL_TIMEOUT`], and a failure puts the instance in a *degraded* state
//! for [`RETRY_AFTER`] in which no call is tried at all. Degraded, the rate
//! limits fall back to the process's own buckets (open as far as the other
//! instances go), key changes made elsewhere reach this instance within the
//! key cache's 5 s lifetime, the `redis_degraded` gauge reads 1, and one
//! warning is logged per minute at most. When Redis answers again, all is
//! normal again without a restart.

pub mod gcra;
pub mod invalidation;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, OnceLock, PoisonError,
    },
    time::{Duration, Instant},
};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::domain::secret::Secret;

/// The longest a Redis call may hold a request.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(150);
/// How long a failure keeps this instance from trying Redis again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// At most one degraded-state warning per this interval.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// Every key of ours starts with this, so one Redis can serve other apps too.
pub const PREFIX: &str = "order_fellow:";

/// The connection to Redis and its health. Cheap to share (`Arc`).
pub struct Cluster {
    client: redis::Client,
    /// Connected lazily (a Redis that is down at boot must not stop the
    /// server); the manager then reconnects by itself.
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    health: Health,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("Cluster")
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Arc<Cluster>> = OnceLock::new();

impl Cluster {
    /// A cluster for `url` (checked at boot by the settings); connects on first use.
    ///
    /// # Errors
    /// When the URL cannot be opened as a Redis client.
    pub fn new(url: &Secret<String>) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(url.expose().as_str())
            .map_err(|e| format!("invalid setting redis_url (REDIS_URL): {:?}", e.kind()))?;
        Ok(Arc::new(Self {
            client,
            conn: tokio::sync::Mutex::new(None),
            health: Health::default(),
        }))
    }

    /// Stores `cluster` as the process's (the first one wins, like the
    /// settings): the key-change announcement runs where no context is at
    /// hand, after a transaction's commit.
    pub fn install(cluster: &Arc<Self>) {
        let _ = GLOBAL.set(cluster.clone());
    }

    /// The process's cluster, if `REDIS_URL` is set.
    #[must_use]
    pub fn global() -> Option<Arc<Self>> {
        GLOBAL.get().cloned()
    }

    /// Whether the last Redis call, or the invalidation subscription, failed.
    #[must_use]
    pub fn is_degraded(&self) -> bool {
        self.health.is_degraded()
    }

    /// `PING`, for readiness.
    ///
    /// # Errors
    /// When Redis does not answer within [`CALL_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), String> {
        self.call(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .ok_or_else(|| "Redis is unavailable".to_string())
        .map(|_| ())
    }

    /// Runs `op` on the shared connection within [`CALL_TIMEOUT`]; `None`
    /// (recorded as degraded) on failure, or at once while a recent failure
    /// says Redis is down.
    pub async fn call<T, F, Fut>(&self, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if self.health.backing_off() {
            return None;
        }
        let result = tokio::time::timeout(CALL_TIMEOUT, async {
            let conn = self.connection().await?;
            op(conn).await
        })
        .await;
        match result {
            Ok(Ok(value)) => {
                self.health.succeeded();
                Some(value)
            }
            Ok(Err(e)) => {
                self.health.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.health.failed("timed out");
                None
            }
        }
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CALL_TIMEOUT)
            .set_response_timeout(CALL_TIMEOUT)
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

/// Whether Redis works, from what the calls and the subscription saw.
#[derive(Default)]
struct Health {
    /// Milliseconds since [`epoch`] of the last failure; 0 for none since
    /// the last success.
    failed_at_ms: AtomicU64,
    /// The invalidation subscription is down (set by its task).
    unsubscribed: AtomicBool,
    last_warning: Mutex<Option<Instant>>,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Health {
    fn is_degraded(&self) -> bool {
        self.failed_at_ms.load(Ordering::Acquire) != 0 || self.unsubscribed.load(Ordering::Acquire)
    }

    fn backing_off(&self) -> bool {
        let failed = self.failed_at_ms.load(Ordering::Acquire);
        failed != 0 && now_ms().saturating_sub(failed) < duration_ms(RETRY_AFTER)
    }

    fn succeeded(&self) {
        if self.failed_at_ms.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!("Redis answers again: shared limits back in use");
        }
        self.publish();
    }

    fn failed(&self, why: &str) {
        self.failed_at_ms.store(now_ms(), Ordering::Release);
        self.warn(why);
        self.publish();
    }

    fn subscription(&self, up: bool) {
        self.unsubscribed.store(!up, Ordering::Release);
        if !up {
            self.warn("invalidation subscription lost");
        }
        self.publish();
    }

    /// One warning per [`WARN_EVERY`] at most, however many calls fail.
    fn warn(&self, why: &str) {
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            metrics::counter!("redis_degraded_warnings_total").increment(1);
            // `why` comes from the client library: an error kind, never the URL.
            tracing::warn!(
                error = why,
                "Redis unavailable: rate limits fall back to this process's own, \
                 key changes made elsewhere are seen within the 5 s cache lifetime"
            );
        }
    }

    fn publish(&self) {
        metrics::gauge!("redis_degraded").set(if self.is_degraded() { 1.0 } else { 0.0 });
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

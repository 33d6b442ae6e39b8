//! Limits, one set per running app: token buckets (`governor`) per identity
//! provider and per API key; failure windows (`moka`, bounded, evicting) for
//! logins per (account, client address) and per client address, and for
//! sign-up mail per client address; and the password hasher's slots.
//!
//! With `REDIS_URL`, the two token buckets are shared by every instance
//! (`cluster::gcra`); this process's own buckets then serve only while Redis
//! is away. The windows live in this process. Behind several instances they
//! belong in a shared store too: [`Limiters::login_attempt`],
//! [`LoginAttempt`] and [`Limiters::signup`] are the whole surface such a
//! backend implements.

use std::{
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use loco_rs::app::AppContext;
use moka::{ops::compute::Op, sync::Cache};
use tokio::sync::Semaphore;

use crate::{
    cluster::{
        gcra::{self, Verdict},
        Cluster,
    },
    domain::{crypto::sha256, email::Email},
    errors::ApiError,
    settings::Settings,
};

/// Keys each failure window holds at most; the least used go first.
const WINDOW_CAPACITY: u64 = 100_000;

const SIGNUP_WINDOW: Duration = Duration::from_secs(3600);

pub const LOGIN_THROTTLED: &str = "Too many failed login attempts. Try again later.";
pub const TOO_MANY_REQUESTS: &str = "Too many requests. Try again later.";

/// How long a request that found every hashing slot taken may retry after.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

pub struct Limiters {
    providers: Option<DefaultKeyedRateLimiter<&'static str>>,
    orders: Option<DefaultKeyedRateLimiter<String>>,
    /// The same two limits in Redis, when configured.
    shared: Option<Arc<Cluster>>,
    provider_quota: Option<gcra::Quota>,
    order_quota: Option<gcra::Quota>,
    login_per_account: Windows<(AccountKey, IpAddr)>,
    login_per_address: Windows<IpAddr>,
    signups: Windows<IpAddr>,
    hashing: Hashing,
}

impl Limiters {
    /// Builds the limiters; a token-bucket rate of 0 disables that limit.
    /// With `shared`, the token buckets are checked in Redis first.
    #[must_use]
    pub fn new(s: &Settings, shared: Option<Arc<Cluster>>) -> Self {
        let provider_rate = NonZeroU32::new(s.provider_rate_limit_per_min);
        let providers = provider_rate.map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        let order_rate = NonZeroU32::new(s.order_rate_limit_per_sec).map(|n| {
            let burst = NonZeroU32::new(s.order_rate_limit_burst)
                .unwrap_or(n)
                .max(n);
            (n, burst)
        });
        let orders = order_rate
            .map(|(n, burst)| RateLimiter::keyed(Quota::per_second(n).allow_burst(burst)));
        Self {
            providers,
            orders,
            provider_quota: provider_rate
                .map(|n| gcra::Quota::new(n, Duration::from_secs(60), n.get())),
            order_quota: order_rate
                .map(|(n, burst)| gcra::Quota::new(n, Duration::from_secs(1), burst.get())),
            shared,
            login_per_account: Windows::new(s.login_max_failures, s.login_window),
            login_per_address: Windows::new(s.login_address_failure_limit, s.login_window),
            signups: Windows::new(s.signup_address_limit, SIGNUP_WINDOW),
            hashing: Hashing {
                slots: Arc::new(Semaphore::new(s.argon2_permits.max(1))),
                wait: s.argon2_queue_timeout,
            },
        }
    }

    /// # Panics
    /// Never in a booted app: `App::after_context` stores them.
    #[must_use]
    pub fn get(ctx: &AppContext) -> Arc<Self> {
        ctx.shared_store
            .get::<Arc<Self>>()
            .expect("limiters are stored at boot")
    }

    /// One request from identity provider `name`.
    ///
    /// # Errors
    /// 429 with `Retry-After` when over the limit.
    pub async fn provider(&self, name: &'static str) -> Result<(), ApiError> {
        if let Some(verdict) = self
            .check_shared(self.provider_quota, || format!("provider:{name}"))
            .await
        {
            return verdict;
        }
        check(self.providers.as_ref(), &name)
    }

    /// One order request with the key whose lookup hash is `key_hash`.
    ///
    /// # Errors
    /// 429 with `Retry-After` when over the limit.
    pub async fn order(&self, key_hash: &String) -> Result<(), ApiError> {
        if let Some(verdict) = self
            .check_shared(self.order_quota, || format!("order:{key_hash}"))
            .await
        {
            return verdict;
        }
        check(self.orders.as_ref(), key_hash)
    }

    /// The shared bucket's answer; `None` without Redis, or while it is away
    /// (the caller then uses this process's bucket).
    async fn check_shared(
        &self,
        quota: Option<gcra::Quota>,
        name: impl FnOnce() -> String,
    ) -> Option<Result<(), ApiError>> {
        let (Some(shared), Some(quota)) = (self.shared.as_ref(), quota) else {
            return quota.is_none().then_some(Ok(()));
        };
        match shared.check_rate(&name(), quota).await? {
            Verdict::Allowed => Some(Ok(())),
            Verdict::Refused(wait) => Some(Err(ApiError::RateLimited {
                message: "Too many requests".into(),
                retry_after: wait.as_secs() + 1,
            })),
        }
    }

    /// Reserves one login attempt at `account` from `client`, counted as a
    /// failure unless settled otherwise (see [`LoginAttempt`]). Counting
    /// before the password check means parallel guesses cannot overrun the
    /// budget. Accounts and unknown addresses are throttled alike.
    ///
    /// # Errors
    /// 429 with `Retry-After` (the rest of the full window) when the client
    /// address, or this account from this address, has used its failures.
    pub fn login_attempt(
        &self,
        account: AccountKey,
        client: IpAddr,
    ) -> Result<LoginAttempt<'_>, ApiError> {
        let client = client_key(client);
        let throttled = |wait: Duration| ApiError::RateLimited {
            message: LOGIN_THROTTLED.into(),
            retry_after: wait.as_secs() + 1,
        };
        self.login_per_address.take(&client).map_err(throttled)?;
        if let Err(wait) = self.login_per_account.take(&(account, client)) {
            self.login_per_address.give_back(&client);
            return Err(throttled(wait));
        }
        Ok(LoginAttempt {
            limits: self,
            account,
            client,
            settled: false,
        })
    }

    /// One registration, code resend or reset request from `client`.
    ///
    /// # Errors
    /// 429 with `Retry-After` past `signup_address_limit` in an hour.
    pub fn signup(&self, client: IpAddr) -> Result<(), ApiError> {
        self.signups
            .take(&client_key(client))
            .map_err(|wait| ApiError::RateLimited {
                message: TOO_MANY_REQUESTS.into(),
                retry_after: wait.as_secs() + 1,
            })
    }

    /// Runs `work` (an argon2 hash or verification) on the blocking pool once
    /// one of the hashing slots (as many as the machine has cores) is free.
    ///
    /// # Errors
    /// 503 `Service busy` with `Retry-After` when no slot frees up within
    /// `argon2_queue_timeout_ms`.
    pub async fn hash<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.hashing.run(work).await
    }
}

/// A reserved login attempt. [`LoginAttempt::failed`] keeps it counted;
/// [`LoginAttempt::succeeded`] clears the account's failures from this
/// address and gives the address its attempt back; dropped unsettled (the
/// request ended otherwise: busy, an error), it is given back.
pub struct LoginAttempt<'a> {
    limits: &'a Limiters,
    account: AccountKey,
    client: IpAddr,
    settled: bool,
}

impl LoginAttempt<'_> {
    pub fn failed(mut self) {
        self.settled = true;
    }

    pub fn succeeded(mut self) {
        self.settled = true;
        self.limits
            .login_per_account
            .clear(&(self.account, self.client));
        self.limits.login_per_address.give_back(&self.client);
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.limits
                .login_per_account
                .give_back(&(self.account, self.client));
            self.limits.login_per_address.give_back(&self.client);
        }
    }
}

/// An account as the login throttles know it: the SHA-256 of its normalised
/// address, whether or not an account has that address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountKey([u8; 32]);

impl AccountKey {
    #[must_use]
    pub fn of(email: &Email) -> Self {
        Self(sha256(email.as_str().as_bytes()))
    }
}

/// The address a client is throttled under: IPv4 as is, IPv6 by its /64
/// (one subscriber's allocation), so rotating through a prefix gains nothing.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// Fixed windows of at most `limit` counted events per key, opened by the
/// first event and reset when the window has passed. Bounded and evicting
/// (`moka`); each key's update is atomic (moka's per-key lock).
struct Windows<K> {
    limit: u32,
    window: Duration,
    entries: Cache<K, Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    count: u32,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Windows<K> {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            entries: Cache::builder()
                .max_capacity(WINDOW_CAPACITY)
                .time_to_live(window)
                .build(),
        }
    }

    fn current(&self, entry: Option<moka::Entry<K, Window>>, now: Instant) -> Option<Window> {
        entry
            .map(moka::Entry::into_value)
            .filter(|w| now.duration_since(w.opened) < self.window)
    }

    /// Counts one event for `key`; `Err(wait)` until the window reopens
    /// when its budget is used up (nothing is counted then).
    fn take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut refused = None;
        self.entries.entry(key.clone()).and_compute_with(|entry| {
            let w = self.current(entry, now).unwrap_or(Window {
                opened: now,
                count: 0,
            });
            if w.count >= self.limit {
                refused = Some(self.window.saturating_sub(now.duration_since(w.opened)));
                Op::Nop
            } else {
                Op::Put(Window {
                    count: w.count + 1,
                    ..w
                })
            }
        });
        refused.map_or(Ok(()), Err)
    }

    /// Uncounts one event of the current window.
    fn give_back(&self, key: &K) {
        let now = Instant::now();
        self.entries
            .entry(key.clone())
            .and_compute_with(|entry| match self.current(entry, now) {
                Some(w) if w.count > 0 => Op::Put(Window {
                    count: w.count - 1,
                    ..w
                }),
                _ => Op::Nop,
            });
    }

    fn clear(&self, key: &K) {
        self.entries.invalidate(key);
    }
}

/// The password hasher's slots: argon2id takes 19 MiB and a core for tens of
/// milliseconds, so unbounded it lets a burst of logins exhaust memory.
struct Hashing {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl Hashing {
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::busy(BUSY_RETRY_AFTER_SECS))?
            .map_err(ApiError::internal)?;
        // The slot travels with the work: a request that goes away mid-hash
        // does not free it before the hash is done.
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(slot);
            out
        })
        .await
        .map_err(ApiError::internal)
    }
}

fn check<K: Clone + std::hash::Hash + Eq>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| {
        let wait: Duration =
            not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        ApiError::RateLimited {
            message: "Too many requests".into(),
            retry_after: wait.as_secs() + 1,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_refuses_past_its_limit_and_gives_back() {
        let w = Windows::new(2, Duration::from_secs(60));
        assert!(w.take(&1).is_ok());
        assert!(w.take(&1).is_ok());
        let wait = w.take(&1).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(58));
        assert!(w.take(&2).is_ok(), "keys are apart");
        w.give_back(&1);
        assert!(w.take(&1).is_ok());
        w.clear(&1);
        assert!(w.take(&1).is_ok());
    }

    #[test]
    fn ipv6_clients_are_throttled_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}

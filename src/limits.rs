//! Rate limits (token buckets from the `governor` crate), one set per running
//! app: per identity provider for the KYC webhooks, per API key for orders.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use loco_rs::app::AppContext;

use crate::{errors::ApiError, settings::Settings};

pub struct Limiters {
    providers: Option<DefaultKeyedRateLimiter<&'static str>>,
    orders: Option<DefaultKeyedRateLimiter<String>>,
    /// Login attempts at addresses that have no account, so that they are
    /// throttled exactly like accounts are (no enumeration through 429s).
    unknown_logins: Option<DefaultKeyedRateLimiter<String>>,
}

impl Limiters {
    /// Builds the limiters; a rate of 0 disables that limit.
    #[must_use]
    pub fn new(s: &Settings) -> Self {
        let providers = NonZeroU32::new(s.provider_rate_limit_per_min)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        let orders = NonZeroU32::new(s.order_rate_limit_per_sec).map(|n| {
            let burst = NonZeroU32::new(s.order_rate_limit_burst)
                .unwrap_or(n)
                .max(n);
            RateLimiter::keyed(Quota::per_second(n).allow_burst(burst))
        });
        let unknown_logins = NonZeroU32::new(s.login_max_failures).and_then(|burst| {
            let period = s.login_window / burst.get();
            Quota::with_period(period).map(|q| RateLimiter::keyed(q.allow_burst(burst)))
        });
        Self {
            providers,
            orders,
            unknown_logins,
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
    pub fn provider(&self, name: &'static str) -> Result<(), ApiError> {
        check(self.providers.as_ref(), &name)
    }

    /// One order request with the key whose lookup hash is `key_hash`.
    ///
    /// # Errors
    /// 429 with `Retry-After` when over the limit.
    pub fn order(&self, key_hash: &String) -> Result<(), ApiError> {
        check(self.orders.as_ref(), key_hash)
    }
}

impl Limiters {
    /// One login attempt at an address without an account.
    ///
    /// # Errors
    /// 429 when the address has used its budget.
    pub fn unknown_login(&self, email: &str) -> Result<(), ApiError> {
        if let Some(l) = &self.unknown_logins {
            if l.len() > 100_000 {
                l.retain_recent();
            }
        }
        check(self.unknown_logins.as_ref(), &email.to_string()).map_err(|_| ApiError::RateLimited {
            message: "Too many failed login attempts. Try again later.".into(),
            retry_after: 60,
        })
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

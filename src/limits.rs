//! Rate limits (token buckets from the `governor` crate), one set per running
//! app: per identity provider for the KYC webhooks, per API key for orders.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use loco_rs::app::AppContext;

use crate::{errors::ApiError, settings::Settings};

pub struct Limiters {
    providers: Option<DefaultKeyedRateLimiter<&'static str>>,
    orders: Option<DefaultKeyedRateLimiter<String>>,
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
        Self { providers, orders }
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

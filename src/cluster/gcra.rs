//! Rate limits shared by every instance: the generic cell rate algorithm
//! (GCRA, the algorithm `governor` runs in memory) as one Lua script, so a
//! check is one atomic round trip that reads and writes one key. The
//! script keeps a single number per bucket, its *theoretical arrival time*,
//! and reads the clock from Redis (`TIME`), so instances with skewed clocks
//! agree.
//!
//! A bucket of rate `1 / interval` and burst `burst` admits a request when,
//! after it, the bucket would be at most `burst` intervals ahead of now.

use std::{sync::OnceLock, time::Duration};

use redis::Script;

use super::{Cluster, PREFIX};

/// `KEYS[1]` the bucket; `ARGV[1]` the emission interval and `ARGV[2]` the
/// burst, in microseconds and requests. Answers `{1, 0}` when admitted,
/// `{0, wait_µs}` when not.
const SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > interval * burst then
  return {0, ahead - interval * burst}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil(ahead / 1000) + 1)
return {1, 0}
";

fn script() -> &'static Script {
    static SCRIPT_: OnceLock<Script> = OnceLock::new();
    SCRIPT_.get_or_init(|| Script::new(SCRIPT))
}

/// A shared bucket's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Time between two requests at the sustained rate.
    pub interval: Duration,
    /// Requests admitted at once from a full bucket.
    pub burst: u32,
}

impl Quota {
    /// `per_period` requests per `period`, `burst` at once (at least one).
    #[must_use]
    pub fn new(per_period: std::num::NonZeroU32, period: Duration, burst: u32) -> Self {
        Self {
            interval: period / per_period.get(),
            burst: burst.max(1),
        }
    }
}

/// The answer of a shared bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; the next request would be admitted after this wait.
    Refused(Duration),
}

impl Cluster {
    /// One request against the shared bucket `name` (a limit's kind and its
    /// key: `order:<key hash>`). `None` when Redis cannot answer now: the
    /// caller falls back to its own bucket.
    pub async fn check_rate(&self, name: &str, quota: Quota) -> Option<Verdict> {
        let key = format!("{PREFIX}rl:{name}");
        let interval = u64::try_from(quota.interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let (admitted, wait_us): (i64, i64) = self
            .call(|mut conn| async move {
                script()
                    .key(key)
                    .arg(interval)
                    .arg(quota.burst)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Some(if admitted == 1 {
            Verdict::Allowed
        } else {
            Verdict::Refused(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_spreads_its_period_over_its_requests() {
        let q = Quota::new(
            std::num::NonZeroU32::new(100).unwrap(),
            Duration::from_secs(1),
            200,
        );
        assert_eq!(q.interval, Duration::from_millis(10));
        assert_eq!(q.burst, 200);
        let q = Quota::new(
            std::num::NonZeroU32::new(60).unwrap(),
            Duration::from_secs(60),
            0,
        );
        assert_eq!((q.interval, q.burst), (Duration::from_secs(1), 1));
    }
}

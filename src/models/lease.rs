//! Leases on queue rows (mail in `outbox`, event deliveries in `events`): a
//! worker claims due rows by setting `locked_until` to a token, works on
//! them, and writes results only while the token still matches. A worker
//! that dies simply lets its lease run out. And the doorbell a queue rings
//! after a commit that added work, so its worker need not wait for its poll.

use std::sync::OnceLock;

use chrono::{Duration, SubsecRound};
use sea_orm::{prelude::DateTimeWithTimeZone, ColumnTrait, Condition};
use tokio::sync::Notify;

use crate::domain::{crypto::random_below, now};

/// A new lease's expiry, `lease` from now. It carries random microseconds,
/// so it doubles as the claim token of the worker that sets it; microsecond
/// precision is what PostgreSQL stores, so the token compares equal.
#[must_use]
pub fn token(lease: Duration) -> DateTimeWithTimeZone {
    (now() + lease + Duration::microseconds(i64::from(random_below(1_000_000)))).trunc_subsecs(6)
}

/// Rows whose `locked_until` column is free at `t`: never leased, or the lease ran out.
pub fn free<C: ColumnTrait>(locked_until: C, t: DateTimeWithTimeZone) -> Condition {
    Condition::any()
        .add(locked_until.is_null())
        .add(locked_until.lt(t))
}

/// Wakes a queue's worker: rung after the commit that queued work (through
/// `Tx::after_commit`), awaited by the worker between polls.
pub struct Doorbell(OnceLock<Notify>);

impl Doorbell {
    #[must_use]
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    fn notify(&self) -> &Notify {
        self.0.get_or_init(Notify::new)
    }

    pub fn ring(&self) {
        self.notify().notify_one();
    }

    /// Waits until the bell rings or `timeout` passes.
    pub async fn wait(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.notify().notified()).await;
    }
}

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

//! The negative cache of the order intake: the lookup hashes of every key
//! that can authenticate right now (active, expired-but-current, or in its
//! grace window), held in memory, so that a key outside it is answered 401
//! without a database query — however many unknown keys arrive, repeated or
//! each one new.
//!
//! The set is reloaded (one query) when this process changed a key (the key
//! cache's generation moved), when another instance announced a change over
//! Redis (the same generation), and otherwise every [`MAX_AGE`]. A key issued
//! on another instance without Redis (or by a CLI task) can be missing from
//! a set for up to that long; so a key outside the set still goes to the
//! database while a small budget allows ([`MISS_BUDGET_PER_SEC`] per app,
//! once per key: a key found unknown is remembered until the next reload).
//! A flood of unknown keys uses the budget up in its first milliseconds and
//! is answered from memory from then on.

use std::{
    collections::HashSet,
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use loco_rs::app::AppContext;
use sea_orm::{entity::prelude::*, ConnectionTrait, QuerySelect};

use super::_entities::webhook_secrets::{Column, Entity};
use crate::domain::now;

/// The longest a loaded set is trusted.
pub const MAX_AGE: Duration = Duration::from_secs(5);
/// Keys outside the set checked against the database, per second.
pub const MISS_BUDGET_PER_SEC: u32 = 20;
/// Unknown keys remembered between reloads.
const NEGATIVE_CAPACITY: u64 = 100_000;

struct Loaded {
    hashes: HashSet<String>,
    generation: u64,
    at: Instant,
}

/// The set and its bookkeeping, one per app (stored at boot, see
/// `App::after_context`): the set is one database's keys, so two apps in
/// one process (the test suite's) must not share it.
pub struct KnownKeys {
    loaded: tokio::sync::RwLock<Option<Arc<Loaded>>>,
    /// Serialises reloads, so a burst reloads once.
    reloading: tokio::sync::Mutex<()>,
    unknown: moka::sync::Cache<String, u64>,
    misses: DefaultDirectRateLimiter,
}

impl Default for KnownKeys {
    fn default() -> Self {
        Self {
            loaded: tokio::sync::RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
            unknown: moka::sync::Cache::builder()
                .max_capacity(NEGATIVE_CAPACITY)
                .time_to_live(MAX_AGE)
                .build(),
            misses: RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(MISS_BUDGET_PER_SEC).unwrap_or(NonZeroU32::MIN),
            )),
        }
    }
}

impl KnownKeys {
    /// # Panics
    /// Never in a booted app: `App::after_context` stores it.
    #[must_use]
    pub fn get(ctx: &AppContext) -> Arc<Self> {
        ctx.shared_store
            .get::<Arc<Self>>()
            .expect("the known keys are stored at boot")
    }
}

fn fresh(set: Option<&Arc<Loaded>>, generation: u64) -> Option<Arc<Loaded>> {
    set.filter(|s| s.generation == generation && s.at.elapsed() < MAX_AGE)
        .cloned()
}

/// The set for `generation`, reloaded when stale.
async fn current<C: ConnectionTrait>(
    k: &KnownKeys,
    db: &C,
    generation: u64,
) -> Result<Arc<Loaded>, DbErr> {
    if let Some(set) = fresh(k.loaded.read().await.as_ref(), generation) {
        return Ok(set);
    }
    let _one = k.reloading.lock().await;
    if let Some(set) = fresh(k.loaded.read().await.as_ref(), generation) {
        return Ok(set);
    }
    let t = now();
    let hashes: Vec<String> = Entity::find()
        .select_only()
        .column(Column::SecretHash)
        .filter(
            sea_orm::Condition::any()
                .add(Column::IsActive.eq(true))
                .add(Column::GraceUntil.gt(t)),
        )
        .into_tuple()
        .all(db)
        .await?;
    metrics::counter!("api_key_set_reloads_total").increment(1);
    let set = Arc::new(Loaded {
        hashes: hashes.into_iter().collect(),
        generation,
        at: Instant::now(),
    });
    *k.loaded.write().await = Some(set.clone());
    Ok(set)
}

/// Whether the key with lookup hash `hash` is certainly unknown, answered
/// from memory (see the module docs); `false` means "ask the database".
///
/// # Errors
/// When the set must be reloaded and the database fails.
pub async fn refuses<C: ConnectionTrait>(
    k: &KnownKeys,
    db: &C,
    hash: &str,
    generation: u64,
) -> Result<bool, DbErr> {
    let set = current(k, db, generation).await?;
    if set.hashes.contains(hash) {
        return Ok(false);
    }
    if k.unknown.get(hash) == Some(generation) {
        return Ok(true);
    }
    Ok(k.misses.check().is_err())
}

/// Remembers that the database does not know `hash` (under `generation`).
pub fn remember_unknown(k: &KnownKeys, hash: String, generation: u64) {
    k.unknown.insert(hash, generation);
}

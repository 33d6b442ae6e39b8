//! Webhook secrets: one active `whsk_` key per company, AES-256-GCM encrypted
//! at rest and found by the SHA-256 of the key. Issued by the KYC approval
//! hook, rotated by the business (the old key keeps a grace window), replaced
//! once when used after expiry, and revoked at once on suspension.
//!
//! Changing a key needs an [`Approved`]: proof that the company's KYC is
//! approved and locked for the transaction, which only the KYC model grants.
//! This module never asks the KYC model itself, so the dependency runs one
//! way (KYC → secrets).

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, OnceLock,
};

use sea_orm::{
    entity::prelude::*,
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ConnectionTrait,
};

pub use super::_entities::webhook_secrets::{self, ActiveModel, Column, Entity, Model};
use super::{
    events::{self, NewEvent},
    known_keys::{self, KnownKeys},
    tx::Tx,
};
use crate::{
    domain::{api_key::ApiKey, event_type::EventType, now},
    errors::{ApiError, ApiResult},
    settings::{delta, AppSettings},
};

impl ActiveModelBehavior for ActiveModel {}

/// Leave to change a company's keys inside `tx`: its newest KYC application
/// is approved and locked until `tx` ends, so no suspension can slip in
/// between. Only the KYC model grants it (`kyc::lock_approved`).
pub struct Approved<'t> {
    tx: &'t Tx,
    user_id: i64,
}

impl<'t> Approved<'t> {
    /// Only for the KYC model, once it holds the lock on an approved application.
    pub(super) const fn new(tx: &'t Tx, user_id: i64) -> Self {
        Self { tx, user_id }
    }

    #[must_use]
    pub const fn user_id(&self) -> i64 {
        self.user_id
    }
}

/// Bumped after every committed change to any secret; cache entries loaded
/// under an older generation are reloaded. Read it before loading a row.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Drops every cached key, here and (over Redis, when configured) on every
/// other instance. Runs after the commit of any transaction that changed a
/// key (see [`Tx::after_commit`]); tests that edit rows directly call it too.
pub fn changed() {
    changed_elsewhere();
    if let Some(cluster) = crate::cluster::Cluster::global() {
        cluster.announce_key_change();
    }
}

/// Drops every cached key of this process: another instance changed one.
pub fn changed_elsewhere() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

struct Cached {
    row: Model,
    generation: u64,
}

/// Keys seen recently, by lookup hash. Bounded; entries also expire after a
/// few seconds so that a change made by another server instance is seen soon.
fn cache() -> &'static moka::sync::Cache<String, Arc<Cached>> {
    static CACHE: OnceLock<moka::sync::Cache<String, Arc<Cached>>> = OnceLock::new();
    CACHE.get_or_init(|| {
        moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(std::time::Duration::from_secs(5))
            .build()
    })
}

/// What a presented key is worth right now.
#[derive(Debug)]
pub enum KeyCheck {
    /// The company's current key.
    Active(Model),
    /// A key replaced by a rotation, still inside its grace window.
    Grace(Model),
    /// The current key, past its expiry: it must be replaced, never accepted.
    Expired(Model),
    /// Not a key of ours, or revoked.
    Unknown,
}

/// Classifies `key` (one indexed lookup by its hash, cached; an unknown key
/// is answered from memory, see `known_keys`): the order intake's hot path.
///
/// # Errors
/// On database failure.
pub async fn lookup<C: ConnectionTrait>(
    db: &C,
    known: &KnownKeys,
    key: &ApiKey,
) -> Result<KeyCheck, DbErr> {
    let hash = key.lookup_hash();
    let generation = GENERATION.load(Ordering::Acquire);
    if let Some(hit) = cache().get(&hash) {
        if hit.generation == generation {
            return Ok(classify(hit.row.clone()));
        }
    }
    if known_keys::refuses(known, db, &hash, generation).await? {
        metrics::counter!("api_key_lookups_total", "source" => "negative_cache").increment(1);
        return Ok(KeyCheck::Unknown);
    }
    metrics::counter!("api_key_lookups_total", "source" => "database").increment(1);
    let Some(row) = Entity::find()
        .filter(Column::SecretHash.eq(hash.clone()))
        .one(db)
        .await?
    else {
        known_keys::remember_unknown(known, hash, generation);
        return Ok(KeyCheck::Unknown);
    };
    cache().insert(
        hash,
        Arc::new(Cached {
            row: row.clone(),
            generation,
        }),
    );
    Ok(classify(row))
}

fn classify(row: Model) -> KeyCheck {
    let t = now();
    if row.is_active {
        if row.expires_at <= t {
            KeyCheck::Expired(row)
        } else {
            KeyCheck::Active(row)
        }
    } else if row.grace_until.is_some_and(|g| g > t) {
        KeyCheck::Grace(row)
    } else {
        KeyCheck::Unknown
    }
}

impl Model {
    /// The plaintext key, decrypted.
    ///
    /// # Errors
    /// When the stored value cannot be decrypted with the configured key.
    pub fn reveal(&self, app: &AppSettings) -> ApiResult<ApiKey> {
        let plain = app
            .keys
            .webhook_secrets
            .decrypt(&self.secret_encrypted)
            .map_err(|e| {
                ApiError::invariant(format!("webhook secret {}: {e}", self.fingerprint))
            })?;
        String::from_utf8(plain)
            .ok()
            .and_then(|text| ApiKey::parse(&text).ok())
            .ok_or_else(|| {
                ApiError::invariant(format!("webhook secret {}: not a key", self.fingerprint))
            })
    }

    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.expires_at <= now()
    }
}

/// The company's active secret, if any.
///
/// # Errors
/// On database failure.
pub async fn active_for<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::IsActive.eq(true))
        .one(db)
        .await
}

/// Active keys expiring within `(after, until]`: those due a warning.
///
/// # Errors
/// On database failure.
pub async fn expiring_between<C: ConnectionTrait>(
    db: &C,
    after: DateTimeWithTimeZone,
    until: DateTimeWithTimeZone,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::IsActive.eq(true))
        .filter(Column::ExpiresAt.gt(after))
        .filter(Column::ExpiresAt.lte(until))
        .all(db)
        .await
}

async fn insert_new<C: ConnectionTrait>(
    db: &C,
    app: &AppSettings,
    user_id: i64,
) -> Result<(Model, ApiKey), DbErr> {
    let key = ApiKey::generate();
    let t = now();
    let hash = key.lookup_hash();
    let row = ActiveModel {
        user_id: Set(user_id),
        secret_encrypted: Set(app.keys.webhook_secrets.encrypt(key.expose().as_bytes())),
        fingerprint: Set(hash[..12].to_string()),
        secret_hash: Set(hash),
        is_active: Set(true),
        expires_at: Set(t + delta(app.settings.webhook_secret_ttl)),
        grace_until: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, key))
}

/// Issues a secret unless the company already has an active one. Called by
/// the KYC after-save hook inside the approval transaction (whose owner drops
/// the key cache after the commit).
///
/// # Errors
/// On database failure.
pub async fn ensure_active<C: ConnectionTrait>(
    db: &C,
    app: &AppSettings,
    user_id: i64,
) -> Result<(), DbErr> {
    if active_for(db, user_id).await?.is_none() {
        insert_new(db, app, user_id).await?;
    }
    Ok(())
}

/// Revokes every key of the company at once, grace windows included. Called
/// by the KYC after-save hook on suspension.
///
/// # Errors
/// On database failure.
pub async fn revoke_all<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::IsActive, Expr::value(false))
        .col_expr(
            Column::GraceUntil,
            Expr::value(Option::<DateTimeWithTimeZone>::None),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(Column::UserId.eq(user_id))
        .filter(
            Expr::col(Column::IsActive)
                .eq(true)
                .or(Expr::col(Column::GraceUntil).is_not_null()),
        )
        .exec(db)
        .await?;
    Ok(())
}

async fn deactivate(
    tx: &Tx,
    id: i64,
    grace_until: Option<DateTimeWithTimeZone>,
) -> Result<u64, DbErr> {
    tx.after_commit(changed);
    Ok(Entity::update_many()
        .col_expr(Column::IsActive, Expr::value(false))
        .col_expr(Column::GraceUntil, Expr::value(grace_until))
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(Column::Id.eq(id))
        .filter(Column::IsActive.eq(true))
        .exec(tx)
        .await?
        .rows_affected)
}

/// Records `webhook_secret.regenerated` for the company's new key `row`
/// (never the key itself: its fingerprint and expiry).
async fn regenerated(
    tx: &Tx,
    row: &Model,
    reason: &str,
    previous_valid_until: Option<DateTimeWithTimeZone>,
) -> Result<(), DbErr> {
    let data = serde_json::json!({
        "reason": reason,
        "fingerprint": row.fingerprint,
        "expires_at": row.expires_at,
        "previous_valid_until": previous_valid_until,
    });
    events::record(
        tx,
        NewEvent::new(row.user_id, EventType::WebhookSecretRegenerated, data),
    )
    .await?;
    Ok(())
}

/// Ends the grace window of every rotated-out key of the company.
async fn end_grace(tx: &Tx, user_id: i64) -> Result<(), DbErr> {
    tx.after_commit(changed);
    Entity::update_many()
        .col_expr(
            Column::GraceUntil,
            Expr::value(Option::<DateTimeWithTimeZone>::None),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::IsActive.eq(false))
        .filter(Column::GraceUntil.is_not_null())
        .exec(tx)
        .await?;
    Ok(())
}

/// Replaces the active key with a new one. The old key stays valid for the
/// grace window (never past its own expiry), unless `revoke_previous` ends
/// it at once; at most one rotated-out key is ever in grace, so rotating
/// twice ends the first one's grace. Returns the new key and whether it is
/// the company's first.
///
/// # Errors
/// On database failure.
pub async fn rotate(
    approved: &Approved<'_>,
    app: &AppSettings,
    revoke_previous: bool,
) -> ApiResult<(Model, ApiKey, bool)> {
    let (tx, user_id) = (approved.tx, approved.user_id);
    end_grace(tx, user_id).await?;
    let current = active_for(tx, user_id).await?;
    let first = current.is_none();
    let mut previous_valid_until = None;
    if let Some(cur) = current {
        let t = now();
        let grace = app.settings.webhook_secret_grace;
        previous_valid_until = (!revoke_previous && !grace.is_zero() && cur.expires_at > t)
            .then(|| std::cmp::min(t + delta(grace), cur.expires_at));
        deactivate(tx, cur.id, previous_valid_until).await?;
    }
    let (row, key) = insert_new(tx, app, user_id).await?;
    if !first {
        regenerated(tx, &row, "rotated", previous_valid_until).await?;
    }
    Ok((row, key, first))
}

/// Replaces `expired` (the company's active key, past its expiry) with a new
/// one; the expired key gets no grace. Returns false when another request
/// replaced it first (its conditional update found the key inactive), so of
/// several concurrent callers exactly one issues the successor.
///
/// # Errors
/// On database failure.
pub async fn replace_expired(
    approved: &Approved<'_>,
    app: &AppSettings,
    expired: &Model,
) -> ApiResult<bool> {
    if expired.user_id != approved.user_id {
        return Err(ApiError::invariant(format!(
            "key {} is not the company's own",
            expired.fingerprint
        )));
    }
    if deactivate(approved.tx, expired.id, None).await? != 1 {
        return Ok(false);
    }
    let (row, _) = insert_new(approved.tx, app, approved.user_id).await?;
    regenerated(approved.tx, &row, "expired", None).await?;
    Ok(true)
}

/// The company's current key, issuing one when it has none or its key has
/// expired (the expired key gets no grace).
///
/// # Errors
/// On database failure, or a key that cannot be decrypted.
pub async fn current_or_issue(
    approved: &Approved<'_>,
    app: &AppSettings,
) -> ApiResult<(Model, ApiKey)> {
    let (tx, user_id) = (approved.tx, approved.user_id);
    let row = match active_for(tx, user_id).await? {
        Some(row) if !row.is_expired() => row,
        stale => {
            let replaced = stale.is_some();
            if let Some(old) = stale {
                deactivate(tx, old.id, None).await?;
            }
            let row = insert_new(tx, app, user_id).await?.0;
            if replaced {
                regenerated(tx, &row, "expired", None).await?;
            }
            row
        }
    };
    let key = row.reveal(app)?;
    Ok((row, key))
}

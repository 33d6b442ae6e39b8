//! Webhook secrets: one active `whsk_` key per company, AES-256-GCM encrypted
//! at rest and found by the SHA-256 of the key. Issued by the KYC approval
//! hook, rotated by the business (the old key keeps a grace window), replaced
//! once when used after expiry, and revoked at once on suspension.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, OnceLock,
};

use chrono::Duration;
use sea_orm::{
    entity::prelude::*,
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ConnectionTrait, TransactionTrait,
};

pub use super::_entities::webhook_secrets::{self, ActiveModel, Column, Entity, Model};
use super::kyc;
use crate::{
    domain::{api_key::ApiKey, now},
    errors::{ApiError, ApiResult},
    settings::AppSettings,
};

/// Bumped after every committed change to any secret; cache entries loaded
/// under an older generation are reloaded. Read it before loading a row.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Call after committing any change to webhook secrets (rotation, expiry
/// replacement, KYC approval or suspension).
pub fn changed() {
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

/// [`check`] through the in-process cache: the order intake's hot path.
///
/// # Errors
/// On database failure.
pub async fn check_cached<C: ConnectionTrait>(db: &C, key: &ApiKey) -> Result<KeyCheck, DbErr> {
    let hash = key.lookup_hash();
    let generation = GENERATION.load(Ordering::Acquire);
    if let Some(hit) = cache().get(&hash) {
        if hit.generation == generation {
            return Ok(classify(hit.row.clone()));
        }
    }
    let Some(row) = Entity::find()
        .filter(Column::SecretHash.eq(hash.clone()))
        .one(db)
        .await?
    else {
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

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The plaintext key, decrypted.
    ///
    /// # Errors
    /// When the stored value cannot be decrypted with the configured key.
    pub fn reveal(&self, app: &AppSettings) -> ApiResult<ApiKey> {
        let plain = app
            .key
            .decrypt(&self.secret_encrypted)
            .map_err(ApiError::internal)?;
        let text = String::from_utf8(plain).map_err(ApiError::internal)?;
        ApiKey::parse(&text).map_err(ApiError::internal)
    }

    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.expires_at <= now()
    }
}

/// Classifies `key` (one indexed lookup by its hash).
///
/// # Errors
/// On database failure.
pub async fn check<C: ConnectionTrait>(db: &C, key: &ApiKey) -> Result<KeyCheck, DbErr> {
    let Some(row) = Entity::find()
        .filter(Column::SecretHash.eq(key.lookup_hash()))
        .one(db)
        .await?
    else {
        return Ok(KeyCheck::Unknown);
    };
    Ok(classify(row))
}

/// The same classification for a row already at hand (the intake cache).
#[must_use]
pub fn classify(row: Model) -> KeyCheck {
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

async fn insert_new<C: ConnectionTrait>(
    db: &C,
    app: &AppSettings,
    user_id: i64,
) -> Result<(Model, ApiKey), DbErr> {
    let key = ApiKey::generate();
    let t = now();
    let ttl = i64::try_from(app.settings.webhook_secret_ttl_secs).unwrap_or(i64::MAX / 4);
    let row = ActiveModel {
        user_id: Set(user_id),
        secret_encrypted: Set(app.key.encrypt(key.expose().as_bytes())),
        secret_hash: Set(key.lookup_hash()),
        fingerprint: Set(key.lookup_hash()[..12].to_string()),
        is_active: Set(true),
        expires_at: Set(t + Duration::seconds(ttl)),
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
/// the KYC after-save hook inside the approval transaction.
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

/// Revokes every key of the company at once, grace windows included.
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

/// Replaces the active key with a new one (`POST /webhook/secret/`). The old
/// key stays valid for `webhook_secret_grace_secs`, never past its own expiry.
/// Returns the new key and whether it is the company's first.
///
/// # Errors
/// 403 without approved KYC; 500 on database failure.
pub async fn rotate(
    db: &DatabaseConnection,
    app: &AppSettings,
    user_id: i64,
) -> ApiResult<(Model, ApiKey, bool)> {
    let grace = i64::try_from(app.settings.webhook_secret_grace_secs).unwrap_or(0);
    let txn = db.begin().await?;
    kyc::lock_approved(&txn, user_id).await?;
    let current = active_for(&txn, user_id).await?;
    let first = current.is_none();
    if let Some(cur) = current {
        let t = now();
        let grace_until = (grace > 0 && cur.expires_at > t)
            .then(|| std::cmp::min(t + Duration::seconds(grace), cur.expires_at));
        deactivate(&txn, cur.id, grace_until).await?;
    }
    let (row, key) = insert_new(&txn, app, user_id).await?;
    txn.commit().await?;
    changed();
    Ok((row, key, first))
}

async fn deactivate<C: ConnectionTrait>(
    db: &C,
    id: i64,
    grace_until: Option<DateTimeWithTimeZone>,
) -> Result<u64, DbErr> {
    Ok(Entity::update_many()
        .col_expr(Column::IsActive, Expr::value(false))
        .col_expr(Column::GraceUntil, Expr::value(grace_until))
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(Column::Id.eq(id))
        .filter(Column::IsActive.eq(true))
        .exec(db)
        .await?
        .rows_affected)
}

/// Replaces an expired key, once: of several concurrent callers only the one
/// whose conditional update deactivates it issues the successor (and only
/// while the company is approved). The expired key gets no grace.
///
/// # Errors
/// On database failure.
pub async fn replace_expired(
    db: &DatabaseConnection,
    app: &AppSettings,
    expired: &Model,
) -> ApiResult<bool> {
    let txn = db.begin().await?;
    if kyc::lock_approved(&txn, expired.user_id).await.is_err()
        || deactivate(&txn, expired.id, None).await? != 1
    {
        txn.rollback().await?;
        return Ok(false);
    }
    insert_new(&txn, app, expired.user_id).await?;
    txn.commit().await?;
    changed();
    Ok(true)
}

/// The company's current key for display; an expired one is replaced, and a
/// missing one issued, under the KYC lock.
///
/// # Errors
/// 403 without approved KYC; 500 on database failure.
pub async fn current(
    db: &DatabaseConnection,
    app: &AppSettings,
    user_id: i64,
) -> ApiResult<(Model, ApiKey)> {
    if let Some(row) = active_for(db, user_id).await? {
        if !row.is_expired() {
            // An active key implies approved KYC: suspension revokes keys
            // under the same lock that issues them.
            let key = row.reveal(app)?;
            return Ok((row, key));
        }
    }
    let txn = db.begin().await?;
    kyc::lock_approved(&txn, user_id).await?;
    let row = match active_for(&txn, user_id).await? {
        Some(row) if !row.is_expired() => row,
        stale => {
            if let Some(old) = stale {
                deactivate(&txn, old.id, None).await?;
            }
            insert_new(&txn, app, user_id).await?.0
        }
    };
    txn.commit().await?;
    changed();
    let key = row.reveal(app)?;
    Ok((row, key))
}

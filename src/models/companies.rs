//! A company's keys as the business and the order intake see them: each
//! change takes the company's KYC lock first ([`kyc::lock_approved`]) and
//! then asks the secrets model, in one transaction.

use sea_orm::DatabaseConnection;

use super::{
    kyc,
    tx::Tx,
    webhook_secrets::{self, Model as Secret},
};
use crate::{domain::api_key::ApiKey, errors::ApiResult, settings::AppSettings};

/// The company's current key for display; an expired one is replaced, and a
/// missing one issued, under the KYC lock.
///
/// # Errors
/// 403 without approved KYC; 500 on database failure.
pub async fn current_key(
    db: &DatabaseConnection,
    app: &AppSettings,
    user_id: i64,
) -> ApiResult<(Secret, ApiKey)> {
    if let Some(row) = webhook_secrets::active_for(db, user_id).await? {
        if !row.is_expired() {
            // An active key implies approved KYC: suspension revokes keys
            // under the same lock that issues them.
            let key = row.reveal(app)?;
            return Ok((row, key));
        }
    }
    let tx = Tx::begin(db).await?;
    let approved = kyc::lock_approved(&tx, user_id)
        .await?
        .ok_or_else(kyc::kyc_required)?;
    let current = webhook_secrets::current_or_issue(&approved, app).await?;
    tx.commit().await?;
    Ok(current)
}

/// Replaces the company's key (`POST /webhook/secret/`); the old one keeps
/// its grace window unless `revoke_previous` (a leaked key) ends it now.
/// Either way the intake stops accepting what ended once this commits.
/// Returns the new key and whether it is the first.
///
/// # Errors
/// 403 without approved KYC; 500 on database failure.
pub async fn rotate_key(
    db: &DatabaseConnection,
    app: &AppSettings,
    user_id: i64,
    revoke_previous: bool,
) -> ApiResult<(Secret, ApiKey, bool)> {
    let tx = Tx::begin(db).await?;
    let approved = kyc::lock_approved(&tx, user_id)
        .await?
        .ok_or_else(kyc::kyc_required)?;
    let rotated = webhook_secrets::rotate(&approved, app, revoke_previous).await?;
    tx.commit().await?;
    Ok(rotated)
}

/// What became of an expired key presented to the order intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiredKey {
    /// This call issued its successor.
    Replaced,
    /// A concurrent call issued the successor first.
    AlreadyReplaced,
    /// The company is no longer approved: no successor was issued.
    NotApproved,
}

/// Replaces an expired key once, under the KYC lock.
///
/// # Errors
/// On database failure.
pub async fn replace_expired_key(
    db: &DatabaseConnection,
    app: &AppSettings,
    expired: &Secret,
) -> ApiResult<ExpiredKey> {
    let tx = Tx::begin(db).await?;
    let Some(approved) = kyc::lock_approved(&tx, expired.user_id).await? else {
        tx.rollback().await?;
        return Ok(ExpiredKey::NotApproved);
    };
    let replaced = webhook_secrets::replace_expired(&approved, app, expired).await?;
    tx.commit().await?;
    Ok(if replaced {
        ExpiredKey::Replaced
    } else {
        ExpiredKey::AlreadyReplaced
    })
}

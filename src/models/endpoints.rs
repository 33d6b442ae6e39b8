//! Event endpoints: where a business wants its events, which ones, and how
//! they are signed. Every lookup is scoped to the owning company: another
//! company's endpoint is simply not found.
//!
//! Secrets are stored as seed 003 stores them: sealed with the
//! endpoint-secrets key (AES-256-GCM, random 96-bit IV, `<iv hex>.<ciphertext+tag hex>`)
//! beside the SHA-256 hex of the plaintext. A rotation keeps the previous
//! secret signing beside the new one for `ENDPOINT_SECRET_GRACE_SECS`.

use std::collections::HashMap;

use sea_orm::{
    entity::prelude::*,
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ConnectionTrait, QueryOrder, QuerySelect,
};

pub use super::_entities::event_endpoints::{self, ActiveModel, Column, Entity, Model};
use super::{
    _entities::users,
    outbox::{self, NewMail},
    tx::Tx,
};
use crate::{
    domain::{
        crypto::Keyring,
        endpoint_url::EndpointUrl,
        event_type::EventFilter,
        now,
        signing::{standard_webhooks::EndpointSecret, Scheme},
    },
    errors::{ApiError, ApiResult},
    mailers::Mail,
    settings::{delta, AppSettings},
};

impl ActiveModelBehavior for ActiveModel {}

/// Endpoints one company may hold.
pub const MAX_PER_COMPANY: u64 = 20;

/// Why an endpoint was switched off by us (not by its owner).
pub const DISABLED_GONE: &str = "The endpoint answered 410 Gone";
pub const DISABLED_FAILING: &str = "No successful delivery for 5 days";

/// A new endpoint, parsed.
#[derive(Debug)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    pub filter: EventFilter,
    pub scheme: Scheme,
    pub description: Option<String>,
}

/// A change to an endpoint, parsed; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<EndpointUrl>,
    pub filter: Option<EventFilter>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

impl Model {
    /// # Errors
    /// An internal error for a corrupt row.
    pub fn scheme(&self) -> ApiResult<Scheme> {
        self.scheme.parse().map_err(|_| {
            ApiError::invariant(format!(
                "event_endpoints row {}: unknown scheme {:?}",
                self.id, self.scheme
            ))
        })
    }

    /// # Errors
    /// An internal error for a corrupt row.
    pub fn filter(&self) -> ApiResult<EventFilter> {
        stored_filter(&self.event_types).ok_or_else(|| {
            ApiError::invariant(format!("event_endpoints row {}: bad event types", self.id))
        })
    }

    /// # Errors
    /// An internal error for a corrupt row.
    pub fn url(&self) -> ApiResult<EndpointUrl> {
        EndpointUrl::from_stored(&self.url)
            .map_err(|e| ApiError::invariant(format!("event_endpoints row {}: {e}", self.id)))
    }

    fn open(&self, keys: &Keyring, sealed: &str) -> ApiResult<EndpointSecret> {
        let plain = keys
            .decrypt(sealed)
            .map_err(|e| ApiError::invariant(format!("event_endpoints row {}: {e}", self.id)))?;
        String::from_utf8(plain)
            .ok()
            .and_then(|text| EndpointSecret::parse(&text).ok())
            .ok_or_else(|| {
                ApiError::invariant(format!("event_endpoints row {}: not a secret", self.id))
            })
    }

    /// The current secret; `None` for a qitech endpoint.
    ///
    /// # Errors
    /// When the stored secret cannot be opened.
    pub fn current_secret(&self, keys: &Keyring) -> ApiResult<Option<EndpointSecret>> {
        self.secret_encrypted
            .as_deref()
            .map(|sealed| self.open(keys, sealed))
            .transpose()
    }

    /// The secrets that sign now: the current one, then the previous one
    /// while its grace window lasts.
    ///
    /// # Errors
    /// When a stored secret cannot be opened.
    pub fn signing_secrets(&self, keys: &Keyring) -> ApiResult<Vec<EndpointSecret>> {
        let mut secrets: Vec<EndpointSecret> = self.current_secret(keys)?.into_iter().collect();
        if let (Some(sealed), Some(until)) =
            (&self.previous_secret_encrypted, self.previous_secret_until)
        {
            if until > now() {
                secrets.push(self.open(keys, sealed)?);
            }
        }
        Ok(secrets)
    }
}

/// The stored `event_types` column, parsed.
fn stored_filter(raw: &str) -> Option<EventFilter> {
    serde_json::from_str::<Vec<String>>(raw)
        .ok()
        .and_then(|names| EventFilter::parse(&names).ok())
}

/// Creates an endpoint for the company; at most [`MAX_PER_COMPANY`]. Returns
/// it with its new secret (none for qitech), which is shown once.
///
/// # Errors
/// 409 when the company already has the most endpoints allowed.
pub async fn create(
    db: &DatabaseConnection,
    app: &AppSettings,
    user_id: i64,
    new: NewEndpoint,
) -> ApiResult<(Model, Option<EndpointSecret>)> {
    let tx = Tx::begin(db).await?;
    // The company row is the lock that keeps two creations from both
    // passing the count.
    users::Entity::find_by_id(user_id)
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let count = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .count(&tx)
        .await?;
    if count >= MAX_PER_COMPANY {
        return Err(ApiError::conflict(
            format!("A company can have at most {MAX_PER_COMPANY} endpoints"),
            None,
        ));
    }
    let secret = new.scheme.has_secret().then(EndpointSecret::generate);
    let t = now();
    let row = ActiveModel {
        pid: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        url: Set(new.url.as_str().to_string()),
        description: Set(new.description),
        event_types: Set(serde_json::json!(new.filter.names()).to_string()),
        scheme: Set(new.scheme.as_str().to_string()),
        enabled: Set(true),
        disabled_reason: Set(None),
        secret_encrypted: Set(secret
            .as_ref()
            .map(|s| app.keys.endpoint_secrets.encrypt(s.expose().as_bytes()))),
        secret_hash: Set(secret.as_ref().map(EndpointSecret::lookup_hash)),
        previous_secret_encrypted: Set(None),
        previous_secret_until: Set(None),
        client_key: Set(Uuid::new_v4()),
        last_success_at: Set(None),
        failing_since: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    tx.commit().await?;
    Ok((row, secret))
}

/// The company's endpoints, oldest first.
///
/// # Errors
/// On database failure.
pub async fn list_for_company<C: ConnectionTrait>(db: &C, user_id: i64) -> ApiResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_asc(Column::Id)
        .all(db)
        .await?)
}

/// The company's endpoint `pid`.
///
/// # Errors
/// 404 when absent or another company's.
pub async fn find_for_company<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    pid: Uuid,
) -> ApiResult<Model> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Pid.eq(pid))
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Applies `patch`. Re-enabling an endpoint clears why it was disabled and
/// its failure streak.
///
/// # Errors
/// 404 when absent or another company's.
pub async fn update(
    db: &DatabaseConnection,
    user_id: i64,
    pid: Uuid,
    patch: EndpointPatch,
) -> ApiResult<Model> {
    let tx = Tx::begin(db).await?;
    let row = find_for_company(&tx, user_id, pid).await?;
    let mut am: ActiveModel = row.into();
    if let Some(url) = patch.url {
        am.url = Set(url.as_str().to_string());
    }
    if let Some(filter) = patch.filter {
        am.event_types = Set(serde_json::json!(filter.names()).to_string());
    }
    if let Some(description) = patch.description {
        am.description = Set(description);
    }
    if let Some(enabled) = patch.enabled {
        am.enabled = Set(enabled);
        if enabled {
            am.disabled_reason = Set(None);
            am.failing_since = Set(None);
        }
    }
    am.updated_at = Set(now());
    let row = am.update(&tx).await?;
    tx.commit().await?;
    Ok(row)
}

/// Deletes the endpoint with its deliveries and their attempts.
///
/// # Errors
/// 404 when absent or another company's.
pub async fn delete(db: &DatabaseConnection, user_id: i64, pid: Uuid) -> ApiResult<()> {
    let tx = Tx::begin(db).await?;
    let row = find_for_company(&tx, user_id, pid).await?;
    Entity::delete_by_id(row.id).exec(&tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the endpoint's secret; the old one keeps signing beside it for
/// the grace window. Returns the endpoint and the new secret.
///
/// # Errors
/// 404 when absent or another company's; 400 for a qitech endpoint.
pub async fn rotate_secret(
    db: &DatabaseConnection,
    app: &AppSettings,
    user_id: i64,
    pid: Uuid,
) -> ApiResult<(Model, EndpointSecret)> {
    let tx = Tx::begin(db).await?;
    let row = find_for_company(&tx, user_id, pid).await?;
    if !row.scheme()?.has_secret() {
        return Err(no_secret());
    }
    let secret = EndpointSecret::generate();
    let t = now();
    let grace = app.settings.events.secret_grace;
    let mut am: ActiveModel = row.clone().into();
    am.previous_secret_encrypted = Set(row.secret_encrypted.clone().filter(|_| !grace.is_zero()));
    am.previous_secret_until = Set((!grace.is_zero()).then(|| t + delta(grace)));
    am.secret_encrypted = Set(Some(
        app.keys
            .endpoint_secrets
            .encrypt(secret.expose().as_bytes()),
    ));
    am.secret_hash = Set(Some(secret.lookup_hash()));
    am.updated_at = Set(t);
    let row = am.update(&tx).await?;
    tx.commit().await?;
    Ok((row, secret))
}

/// The 400 for asking a qitech endpoint for its secret.
#[must_use]
pub fn no_secret() -> ApiError {
    ApiError::BadRequest(
        "qitech endpoints have no secret: they are signed with the service's key \
         (GET /api/v1/webhook/public-key/)"
            .into(),
    )
}

/// Switches endpoints off for `reason`; returns those that were still on.
///
/// # Errors
/// On database failure.
pub async fn disable(tx: &Tx, ids: &[i64], reason: &str) -> Result<Vec<Model>, DbErr> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let on = Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::Enabled.eq(true))
        .all(tx)
        .await?;
    if on.is_empty() {
        return Ok(on);
    }
    Entity::update_many()
        .col_expr(Column::Enabled, Expr::value(false))
        .col_expr(Column::DisabledReason, Expr::value(reason))
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(Column::Id.is_in(on.iter().map(|e| e.id)))
        .exec(tx)
        .await?;
    Ok(on)
}

/// Queues the e-mail telling each endpoint's company that we disabled it.
///
/// # Errors
/// On database failure.
pub async fn mail_disabled(
    tx: &Tx,
    keys: &Keyring,
    disabled: &[Model],
    reason: &str,
) -> Result<(), DbErr> {
    let mut mails = Vec::with_capacity(disabled.len());
    for endpoint in disabled {
        let Some(user) = users::Entity::find_by_id(endpoint.user_id).one(tx).await? else {
            continue;
        };
        mails.push(NewMail::new(
            Mail::EndpointDisabled,
            user.email,
            serde_json::json!({
                "name": user.full_name,
                "endpoint_id": endpoint.pid,
                "reason": reason,
            }),
        ));
    }
    outbox::enqueue_many(tx, keys, mails).await
}

/// Records that these endpoints just took a delivery.
///
/// # Errors
/// On database failure.
pub async fn mark_succeeded<C: ConnectionTrait>(db: &C, ids: &[i64]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    Entity::update_many()
        .col_expr(Column::LastSuccessAt, Expr::value(now()))
        .col_expr(
            Column::FailingSince,
            Expr::value(Option::<DateTimeWithTimeZone>::None),
        )
        .filter(Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Records that these endpoints just failed a delivery, and returns those
/// whose failure streak is older than `cutoff` and that are still enabled.
///
/// # Errors
/// On database failure.
pub async fn mark_failed<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    cutoff: DateTimeWithTimeZone,
) -> Result<Vec<i64>, DbErr> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    Entity::update_many()
        .col_expr(Column::FailingSince, Expr::value(now()))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::FailingSince.is_null())
        .exec(db)
        .await?;
    Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::Enabled.eq(true))
        .filter(Expr::col(Column::FailingSince).lte(cutoff))
        .into_tuple()
        .all(db)
        .await
}

/// Endpoints by row id (the worker's batch).
///
/// # Errors
/// On database failure.
pub async fn by_ids<C: ConnectionTrait>(db: &C, ids: &[i64]) -> Result<HashMap<i64, Model>, DbErr> {
    Ok(Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect())
}

/// An enabled endpoint and what it subscribes to.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub endpoint_id: i64,
    pub filter: EventFilter,
}

/// The enabled endpoints of each company in `user_ids`, in one indexed
/// query (a batch of orders asks once). Read inside the caller's
/// transaction, so an endpoint change is seen by the next event, on every
/// instance, without a cache to invalidate.
///
/// # Errors
/// On database failure.
pub async fn subscriptions<C: ConnectionTrait>(
    db: &C,
    user_ids: &[i64],
) -> Result<HashMap<i64, Vec<Subscription>>, DbErr> {
    let rows = Entity::find()
        .select_only()
        .columns([Column::Id, Column::UserId, Column::EventTypes])
        .filter(Column::UserId.is_in(user_ids.iter().copied()))
        .filter(Column::Enabled.eq(true))
        .order_by_asc(Column::Id)
        .into_tuple::<(i64, i64, String)>()
        .all(db)
        .await?;
    let mut found: HashMap<i64, Vec<Subscription>> = HashMap::new();
    for (endpoint_id, user_id, types) in rows {
        let Some(filter) = stored_filter(&types) else {
            tracing::error!(
                endpoint = endpoint_id,
                "endpoint with unreadable event types skipped"
            );
            continue;
        };
        found.entry(user_id).or_default().push(Subscription {
            endpoint_id,
            filter,
        });
    }
    Ok(found)
}

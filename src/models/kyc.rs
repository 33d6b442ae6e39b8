//! KYC applications and their review. Every status change goes through
//! [`transition`], which asks the one state machine (`domain::kyc_status`),
//! writes an audit row and queues the business's e-mail; saving an approved
//! application issues the webhook secret in the model's after-save hook, so
//! no path that saves an approval (admin API, provider webhook, bulk task)
//! can skip it.
//!
//! Why one file of ~670 lines: submission, review, the provider path and the
//! after-save hook are one state machine's writers; each must write the
//! audit row, the mail and the event in the same transaction, and keeping
//! them side by side is how a reader checks that they all do.

use sea_orm::{
    entity::prelude::*, sea_query::OnConflict, ActiveValue::Set, ConnectionTrait, PaginatorTrait,
    QueryOrder, QuerySelect,
};
use serde_json::json;

pub use super::_entities::kyc_applications::{self, ActiveModel, Column, Entity, Model};
use super::{
    _entities::{kyc_audit_logs, kyc_provider_events, users},
    events::{self, NewEvent},
    outbox::{self, NewMail},
    tx::Tx,
    webhook_secrets::{self, Approved},
};
use crate::{
    domain::{
        business::{RegistrationNumber, Website},
        country::Country,
        event_type::EventType,
        kyc_providers::{ProviderEvent, Reference, Verdict},
        kyc_status::{Authority, KycAction, KycStatus, Ruling},
        now,
        phone::Phone,
    },
    errors::{is_unique_violation, ApiError, ApiResult},
    mailers::Mail,
    settings::AppSettings,
};

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    /// The secret hook: an approved application always leaves its company
    /// with an active webhook secret; a suspended one with none. (Hooks get
    /// no app context: this is the one reader of the process-wide settings.)
    async fn after_save<C>(model: Model, db: &C, _insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        match model.status().map_err(|e| DbErr::Custom(e.describe()))? {
            KycStatus::Approved => {
                webhook_secrets::ensure_active(db, &AppSettings::global(), model.user_id).await?;
            }
            KycStatus::Suspended => webhook_secrets::revoke_all(db, model.user_id).await?,
            KycStatus::Pending | KycStatus::Rejected => {}
        }
        Ok(model)
    }
}

/// A KYC submission, already parsed.
#[derive(Debug)]
pub struct Submission {
    pub business_name: String,
    pub registration_number: RegistrationNumber,
    pub country: Country,
    pub business_address: String,
    pub website: Option<Website>,
    pub contact_phone: Option<Phone>,
}

/// Who caused a transition, as recorded in the audit log.
#[derive(Debug, Clone)]
pub enum Actor {
    Admin(Uuid),
    Provider(&'static str),
    Task,
}

impl Actor {
    /// What the state machine lets this actor do.
    const fn authority(&self) -> Authority {
        match self {
            Self::Admin(_) => Authority::Admin,
            Self::Task => Authority::Operator,
            Self::Provider(_) => Authority::Provider,
        }
    }

    fn label(&self) -> String {
        match self {
            Self::Admin(id) => format!("admin:{id}"),
            Self::Provider(name) => format!("provider:{name}"),
            Self::Task => "task:kyc_approve".into(),
        }
    }

    /// Who decided, as the business's events say it (no internal ids).
    fn public_label(&self) -> String {
        match self {
            Self::Admin(_) | Self::Task => "admin".into(),
            Self::Provider(name) => format!("provider:{name}"),
        }
    }
}

/// A decision to apply.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: KycAction,
    pub reason: Option<String>,
    /// For rejections: whether the business may submit again.
    pub resubmit_allowed: bool,
}

impl Decision {
    #[must_use]
    pub const fn approve() -> Self {
        Self {
            action: KycAction::Approve,
            reason: None,
            resubmit_allowed: true,
        }
    }
}

impl Model {
    /// The stored status. A value that names no status is a corrupt row,
    /// never read as some default (a corrupt row must not become approvable).
    ///
    /// # Errors
    /// An internal error naming the row.
    pub fn status(&self) -> ApiResult<KycStatus> {
        self.status.parse().map_err(|_| {
            ApiError::invariant(format!(
                "kyc_applications row {}: unknown status {:?}",
                self.id, self.status
            ))
        })
    }

    /// The company's newest application.
    ///
    /// # Errors
    /// On database failure.
    pub async fn current_for<C: ConnectionTrait>(
        db: &C,
        user_id: i64,
    ) -> Result<Option<Self>, DbErr> {
        Entity::find()
            .filter(Column::UserId.eq(user_id))
            .order_by_desc(Column::Id)
            .one(db)
            .await
    }

    /// # Errors
    /// 404 when no application has this id.
    pub async fn find_by_pid<C: ConnectionTrait>(db: &C, pid: Uuid) -> ApiResult<Self> {
        Entity::find()
            .filter(Column::Pid.eq(pid))
            .one(db)
            .await?
            .ok_or_else(ApiError::not_found)
    }

    /// Files an application for review. A company with one pending or
    /// approved (or suspended) answers 409; after a rejection it may submit
    /// again unless the rejection was final.
    ///
    /// # Errors
    /// 403 for admins, 409 as above.
    pub async fn submit(
        db: &DatabaseConnection,
        user: &users::Model,
        sub: Submission,
    ) -> ApiResult<Self> {
        if user.role != super::users::ROLE_BUSINESS {
            return Err(ApiError::Forbidden {
                error: "Only business accounts can submit KYC".into(),
                message: None,
            });
        }
        if let Some(existing) = Self::current_for(db, user.id).await? {
            let status = existing.status()?;
            if status != KycStatus::Rejected {
                return Err(ApiError::conflict(
                    format!("A KYC application is already {status}"),
                    Some(status.to_string()),
                ));
            }
            if !existing.resubmit_allowed {
                return Err(ApiError::conflict(
                    "This KYC rejection is final; contact support",
                    Some(status.to_string()),
                ));
            }
        }
        let t = now();
        let inserted = ActiveModel {
            pid: Set(Uuid::new_v4()),
            user_id: Set(user.id),
            business_name: Set(sub.business_name),
            registration_number: Set(sub.registration_number.into_inner()),
            country: Set(sub.country.into_inner()),
            business_address: Set(sub.business_address),
            website: Set(sub.website.map(Website::into_inner)),
            contact_phone: Set(sub.contact_phone.map(Phone::into_inner)),
            status: Set(KycStatus::Pending.to_string()),
            resubmit_allowed: Set(true),
            needs_manual_review: Set(false),
            submitted_at: Set(t),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        }
        .insert(db)
        .await;
        match inserted {
            Ok(m) => Ok(m),
            // Two submissions at once: the partial unique index keeps one.
            Err(e) if is_unique_violation(&e) => Err(ApiError::conflict(
                "A KYC application is already pending",
                Some("pending".into()),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Applications for review, oldest first, with their company.
    ///
    /// # Errors
    /// On database failure.
    pub async fn list_for_review(
        db: &DatabaseConnection,
        status: Option<KycStatus>,
        page: u64,
        page_size: u64,
    ) -> ApiResult<(u64, Vec<(Self, Option<users::Model>)>)> {
        let mut q = Entity::find();
        if let Some(s) = status {
            q = q.filter(Column::Status.eq(s.as_str()));
        }
        let count = q.clone().count(db).await?;
        let rows = q
            .order_by_asc(Column::SubmittedAt)
            .order_by_asc(Column::Id)
            .offset((page - 1) * page_size)
            .limit(page_size)
            .find_also_related(users::Entity)
            .all(db)
            .await?;
        Ok((count, rows))
    }

    /// The company that submitted this application.
    ///
    /// # Errors
    /// On database failure.
    pub async fn company<C: ConnectionTrait>(&self, db: &C) -> Result<Option<users::Model>, DbErr> {
        users::Entity::find_by_id(self.user_id).one(db).await
    }

    /// The audit trail of this application, oldest first.
    ///
    /// # Errors
    /// On database failure.
    pub async fn audit_log(
        &self,
        db: &DatabaseConnection,
    ) -> ApiResult<Vec<kyc_audit_logs::Model>> {
        Ok(kyc_audit_logs::Entity::find()
            .filter(kyc_audit_logs::Column::KycApplicationId.eq(self.id))
            .order_by_asc(kyc_audit_logs::Column::Id)
            .all(db)
            .await?)
    }
}

/// The KYC-approved business names of `user_ids` (one query): the name of
/// each company's approved application (or suspended: that name was
/// approved), never the name typed at registration. A company without one
/// is absent.
///
/// # Errors
/// On database failure.
pub async fn approved_business_names<C: ConnectionTrait>(
    db: &C,
    user_ids: impl IntoIterator<Item = i64>,
) -> Result<std::collections::HashMap<i64, String>, DbErr> {
    Ok(Entity::find()
        .select_only()
        .column(Column::UserId)
        .column(Column::BusinessName)
        .filter(Column::UserId.is_in(user_ids))
        .filter(Column::Status.is_in([KycStatus::Approved.as_str(), KycStatus::Suspended.as_str()]))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// The 403 for a company without approved KYC.
#[must_use]
pub fn kyc_required() -> ApiError {
    ApiError::Forbidden {
        error: "KYC approval required".into(),
        message: Some("You must complete and have your KYC approved before using webhooks.".into()),
    }
}

/// Locks the company's newest application for the rest of `tx` and, when
/// it is approved, grants leave to change the company's keys. Key changes
/// take this lock first, like KYC transitions do, so a key can never be
/// issued next to a suspension. `None`: the company is not approved.
///
/// # Errors
/// On database failure, or a corrupt status.
pub async fn lock_approved(tx: &Tx, user_id: i64) -> ApiResult<Option<Approved<'_>>> {
    let newest = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::Id)
        .lock_exclusive()
        .one(tx)
        .await?;
    match newest {
        Some(k) if k.status()? == KycStatus::Approved => Ok(Some(Approved::new(tx, user_id))),
        _ => Ok(None),
    }
}

/// Applies `decision` to application `pid`: the state machine decides, the
/// row is locked for the transaction, saved through the model (so the secret
/// hook runs), audited, and the business is mailed — all or nothing.
///
/// # Errors
/// 404 unknown application, 409 illegal transition (with the current status).
pub async fn transition(
    db: &DatabaseConnection,
    app: &AppSettings,
    pid: Uuid,
    decision: Decision,
    actor: &Actor,
) -> ApiResult<Model> {
    let tx = Tx::begin(db).await?;
    let row = Entity::find()
        .filter(Column::Pid.eq(pid))
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let model = apply_on(&tx, app, row, &decision, actor).await?;
    tx.commit().await?;
    Ok(model)
}

/// The body of [`transition`] for a row already locked in `tx`.
async fn apply_on(
    tx: &Tx,
    app: &AppSettings,
    row: Model,
    decision: &Decision,
    actor: &Actor,
) -> ApiResult<Model> {
    let from = row.status()?;
    let to = match from.apply(decision.action, actor.authority()) {
        Ruling::Moves(to) => to,
        Ruling::Illegal => {
            return Err(ApiError::conflict(
                format!(
                    "Cannot {} an application that is {from}",
                    decision.action.verb()
                ),
                Some(from.to_string()),
            ))
        }
        // Provider deliveries to an application that does not heed them
        // stop in `apply_provider_event`; admins and operators are always heeded.
        Ruling::Ignored => {
            return Err(ApiError::invariant(format!(
                "kyc_applications row {}: {} may not {} it",
                row.id,
                actor.label(),
                decision.action.verb()
            )))
        }
    };
    let t = now();
    let mut am: ActiveModel = row.into();
    am.status = Set(to.to_string());
    am.reviewed_at = Set(Some(t));
    am.needs_manual_review = Set(false);
    am.updated_at = Set(t);
    match to {
        KycStatus::Rejected => {
            am.rejection_reason = Set(decision.reason.clone());
            am.resubmit_allowed = Set(decision.resubmit_allowed);
        }
        KycStatus::Approved => am.rejection_reason = Set(None),
        _ => {}
    }
    // Saving runs the secret hook; the keys it changes leave the cache once
    // this commits.
    let model = am.update(tx).await?;
    if matches!(to, KycStatus::Approved | KycStatus::Suspended) {
        tx.after_commit(webhook_secrets::changed);
    }
    audit(tx, &model, actor, (from, to), decision.reason.clone()).await?;
    notify_business(tx, app, &model, to).await?;
    record_event(tx, &model, to, decision, actor).await?;
    Ok(model)
}

/// One row of the audit trail.
async fn audit(
    tx: &Tx,
    application: &Model,
    actor: &Actor,
    (from, to): (KycStatus, KycStatus),
    reason: Option<String>,
) -> Result<(), DbErr> {
    let t = now();
    kyc_audit_logs::ActiveModel {
        kyc_application_id: Set(application.id),
        actor: Set(actor.label()),
        from_status: Set(from.to_string()),
        to_status: Set(to.to_string()),
        reason: Set(reason),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// A provider's verdict in a word, for the log line and the audit trail.
const fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Approve => "approve",
        Verdict::Reject { .. } => "reject",
        Verdict::ManualReview => "manual review",
        Verdict::NoDecision => "no decision",
    }
}

/// The business's `kyc.*` event for a transition, in its transaction.
async fn record_event(
    tx: &Tx,
    kyc: &Model,
    to: KycStatus,
    decision: &Decision,
    actor: &Actor,
) -> ApiResult<()> {
    let mut data = json!({
        "application_id": kyc.pid,
        "business_name": kyc.business_name,
        "status": to.to_string(),
        "decided_by": actor.public_label(),
    });
    let event_type = match to {
        KycStatus::Approved => EventType::KycApproved,
        KycStatus::Rejected => {
            data["reason"] = json!(decision.reason);
            data["resubmit_allowed"] = json!(decision.resubmit_allowed);
            EventType::KycRejected
        }
        KycStatus::Suspended => {
            data["reason"] = json!(decision.reason);
            EventType::KycSuspended
        }
        KycStatus::Pending => return Ok(()),
    };
    events::record(tx, NewEvent::new(kyc.user_id, event_type, data)).await?;
    Ok(())
}

async fn notify_business(tx: &Tx, app: &AppSettings, kyc: &Model, to: KycStatus) -> ApiResult<()> {
    let mail = match to {
        KycStatus::Approved => Mail::KycApproved,
        KycStatus::Rejected => Mail::KycRejected,
        KycStatus::Pending | KycStatus::Suspended => return Ok(()),
    };
    queue_mail(tx, app, kyc, mail).await
}

/// Queues one of the KYC e-mails to the application's company.
async fn queue_mail(tx: &Tx, app: &AppSettings, kyc: &Model, mail: Mail) -> ApiResult<()> {
    let user = kyc.company(tx).await?.ok_or_else(|| {
        ApiError::invariant(format!("kyc_applications row {}: no company", kyc.id))
    })?;
    let locals = json!({
        "name": user.full_name,
        "business_name": kyc.business_name,
        "reason": kyc.rejection_reason.clone().unwrap_or_default(),
        "resubmit_allowed": kyc.resubmit_allowed,
    });
    outbox::enqueue(tx, &app.keys.mail, NewMail::new(mail, user.email, locals)).await?;
    Ok(())
}

/// What a provider delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderOutcome {
    Processed,
    /// No application matches the reference, the application does not heed
    /// the provider (suspended), or the verdict comes too late (logged as a
    /// warning).
    Ignored,
    /// The same delivery was already applied.
    Duplicate,
}

impl ProviderOutcome {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
        }
    }
}

/// Applies an identity provider's verdict to the matching application, once
/// per delivery (`body_hash`): provider fields are recorded, and approvals and
/// rejections go through the same state machine as the admin API. An
/// application that does not heed providers (suspended: an admin's call)
/// changes nothing; the delivery is audited as ignored with its verdict. A
/// verdict the state machine refuses (the application was decided already)
/// is logged. Both are acknowledged, so the provider stops retrying.
///
/// # Errors
/// On database failure.
pub async fn apply_provider_event(
    db: &DatabaseConnection,
    app: &AppSettings,
    event: &ProviderEvent,
    body_hash: String,
) -> ApiResult<ProviderOutcome> {
    let provider = event.provider.name();
    let tx = Tx::begin(db).await?;
    let row = match &event.reference {
        Reference::Application(pid) => {
            Entity::find()
                .filter(Column::Pid.eq(*pid))
                .lock_exclusive()
                .one(&tx)
                .await?
        }
        // The provider's applicant stands for the company: its verdict goes to
        // the company's newest application (a resubmission has no applicant
        // id of its own yet).
        Reference::Applicant(id) => match Entity::find()
            .filter(Column::Provider.eq(provider))
            .filter(Column::ProviderApplicantId.eq(id.as_str()))
            .one(&tx)
            .await?
        {
            Some(known) => {
                Entity::find()
                    .filter(Column::UserId.eq(known.user_id))
                    .order_by_desc(Column::Id)
                    .lock_exclusive()
                    .one(&tx)
                    .await?
            }
            None => None,
        },
    };
    let Some(row) = row else {
        tx.rollback().await?;
        tracing::warn!(provider, reference = ?event.reference, "KYC webhook for an unknown application");
        return Ok(ProviderOutcome::Ignored);
    };
    let t = now();
    let first_delivery = kyc_provider_events::Entity::insert(kyc_provider_events::ActiveModel {
        provider: Set(provider.to_string()),
        event_hash: Set(body_hash),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            kyc_provider_events::Column::Provider,
            kyc_provider_events::Column::EventHash,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&tx)
    .await?
        == 1;
    if !first_delivery {
        tx.rollback().await?;
        return Ok(ProviderOutcome::Duplicate);
    }

    let actor = Actor::Provider(provider);
    let status = row.status()?;
    if !status.heeds(actor.authority()) {
        // Suspended: an admin's decision. The delivery is acknowledged and
        // audited, and changes nothing.
        let verdict = verdict_name(&event.verdict);
        let because = match &event.verdict {
            Verdict::Reject { reason, .. } => format!(" ({reason})"),
            _ => String::new(),
        };
        let reason =
            format!("ignored: provider verdict {verdict}{because} on a {status} application");
        audit(&tx, &row, &actor, (status, status), Some(reason)).await?;
        tx.commit().await?;
        tracing::warn!(
            provider,
            application = %row.pid,
            %status,
            verdict,
            "provider verdict ignored: only an admin decides a suspended application"
        );
        return Ok(ProviderOutcome::Ignored);
    }

    let mut am: ActiveModel = row.clone().into();
    am.provider = Set(Some(provider.to_string()));
    if event.provider_status.is_some() {
        am.provider_status = Set(event.provider_status.clone());
    }
    if row.provider_applicant_id.is_none() {
        am.provider_applicant_id = Set(event.applicant_id.clone());
    }
    am.updated_at = Set(t);
    let row = am.update(&tx).await?;

    let decision = match &event.verdict {
        Verdict::Approve => Some(Decision::approve()),
        Verdict::Reject {
            reason,
            resubmit_allowed,
        } => Some(Decision {
            action: KycAction::Reject,
            reason: Some(reason.clone()),
            resubmit_allowed: *resubmit_allowed,
        }),
        Verdict::ManualReview => {
            if row.status()? == KycStatus::Pending && !row.needs_manual_review {
                let mut am: ActiveModel = row.clone().into();
                am.needs_manual_review = Set(true);
                let row = am.update(&tx).await?;
                queue_mail(&tx, app, &row, Mail::KycPendingReview).await?;
            }
            None
        }
        Verdict::NoDecision => None,
    };
    let mut outcome = ProviderOutcome::Processed;
    if let Some(decision) = decision {
        let status = row.status()?;
        match apply_on(&tx, app, row, &decision, &actor).await {
            Ok(_) => {}
            Err(ApiError::Conflict { .. }) => {
                tracing::warn!(
                    provider,
                    action = decision.action.verb(),
                    %status,
                    "provider verdict refused by the state machine"
                );
                outcome = ProviderOutcome::Ignored;
            }
            Err(e) => return Err(e),
        }
    }
    tx.commit().await?;
    Ok(outcome)
}

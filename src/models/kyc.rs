//! KYC applications and their review. Every status change goes through
//! [`transition`], which asks the one state machine (`domain::kyc_status`),
//! writes an audit row and queues the business's e-mail; saving an approved
//! application issues the webhook secret in the model's after-save hook, so
//! no path that saves an approval (admin API, provider webhook, bulk task)
//! can skip it.

use sea_orm::{
    entity::prelude::*, sea_query::OnConflict, ActiveValue::Set, ConnectionTrait, PaginatorTrait,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::json;

pub use super::_entities::kyc_applications::{self, ActiveModel, Column, Entity, Model};
use super::{
    _entities::{kyc_audit_logs, kyc_provider_events, users},
    outbox::{self, NewMail},
    webhook_secrets,
};
use crate::{
    domain::{
        country::Country,
        kyc_providers::{ProviderEvent, Reference, Verdict},
        kyc_status::{KycAction, KycStatus},
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
    /// with an active webhook secret; a suspended one with none.
    async fn after_save<C>(model: Model, db: &C, _insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        match KycStatus::parse(&model.status) {
            Some(KycStatus::Approved) => {
                webhook_secrets::ensure_active(db, &AppSettings::global(), model.user_id).await?;
            }
            Some(KycStatus::Suspended) => webhook_secrets::revoke_all(db, model.user_id).await?,
            _ => {}
        }
        Ok(model)
    }
}

/// A KYC submission, already parsed.
#[derive(Debug)]
pub struct Submission {
    pub business_name: String,
    pub registration_number: String,
    pub country: Country,
    pub business_address: String,
    pub website: Option<String>,
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
    fn label(&self) -> String {
        match self {
            Self::Admin(id) => format!("admin:{id}"),
            Self::Provider(name) => format!("provider:{name}"),
            Self::Task => "task:kyc_approve".into(),
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
    #[must_use]
    pub fn status(&self) -> KycStatus {
        KycStatus::parse(&self.status).unwrap_or(KycStatus::Pending)
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
            let status = existing.status();
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
            registration_number: Set(sub.registration_number),
            country: Set(sub.country.into_inner()),
            business_address: Set(sub.business_address),
            website: Set(sub.website),
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

/// The 403 for a company without approved KYC.
#[must_use]
pub fn kyc_required() -> ApiError {
    ApiError::Forbidden {
        error: "KYC approval required".into(),
        message: Some("You must complete and have your KYC approved before using webhooks.".into()),
    }
}

/// Locks the company's newest application for the rest of `txn` and checks
/// that it is approved. Secret changes take this lock first, like KYC
/// transitions do, so a key can never be issued next to a suspension.
///
/// # Errors
/// 403 when the company's KYC is not approved.
pub async fn lock_approved<C: ConnectionTrait>(txn: &C, user_id: i64) -> ApiResult<()> {
    let newest = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::Id)
        .lock_exclusive()
        .one(txn)
        .await?;
    if newest.is_some_and(|k| k.status() == KycStatus::Approved) {
        Ok(())
    } else {
        Err(kyc_required())
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
    pid: Uuid,
    decision: Decision,
    actor: &Actor,
) -> ApiResult<Model> {
    let txn = db.begin().await?;
    let row = Entity::find()
        .filter(Column::Pid.eq(pid))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let model = apply_on(&txn, row, &decision, actor).await?;
    txn.commit().await?;
    webhook_secrets::changed();
    outbox::wake();
    Ok(model)
}

/// The body of [`transition`] for a row already locked in `txn`.
pub(crate) async fn apply_on<C: ConnectionTrait>(
    txn: &C,
    row: Model,
    decision: &Decision,
    actor: &Actor,
) -> ApiResult<Model> {
    let from = row.status();
    let to = from.apply(decision.action).ok_or_else(|| {
        ApiError::conflict(
            format!(
                "Cannot {} an application that is {from}",
                decision.action.verb()
            ),
            Some(from.to_string()),
        )
    })?;
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
    let model = am.update(txn).await?;
    kyc_audit_logs::ActiveModel {
        kyc_application_id: Set(model.id),
        actor: Set(actor.label()),
        from_status: Set(from.to_string()),
        to_status: Set(to.to_string()),
        reason: Set(decision.reason.clone()),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    notify_business(txn, &model, to).await?;
    Ok(model)
}

async fn notify_business<C: ConnectionTrait>(txn: &C, kyc: &Model, to: KycStatus) -> ApiResult<()> {
    let mail = match to {
        KycStatus::Approved => Mail::KycApproved,
        KycStatus::Rejected => Mail::KycRejected,
        _ => return Ok(()),
    };
    queue_mail(txn, kyc, mail).await
}

/// Queues one of the KYC e-mails to the application's company.
pub(crate) async fn queue_mail<C: ConnectionTrait>(
    txn: &C,
    kyc: &Model,
    mail: Mail,
) -> ApiResult<()> {
    let user = kyc.company(txn).await?.ok_or_else(ApiError::not_found)?;
    let locals = json!({
        "name": user.full_name,
        "business_name": kyc.business_name,
        "reason": kyc.rejection_reason.clone().unwrap_or_default(),
        "resubmit_allowed": kyc.resubmit_allowed,
    });
    let app = AppSettings::global();
    outbox::enqueue(txn, &app.key, NewMail::new(mail, user.email, locals)).await?;
    Ok(())
}

/// What a provider delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderOutcome {
    Processed,
    /// No application matches the reference (logged as a warning).
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
/// rejections go through the same state machine as the admin API. A verdict
/// the state machine refuses (the application was decided already) is logged
/// and acknowledged, so the provider stops retrying.
///
/// # Errors
/// On database failure.
pub async fn apply_provider_event(
    db: &DatabaseConnection,
    event: &ProviderEvent,
    body_hash: String,
) -> ApiResult<ProviderOutcome> {
    let provider = event.provider.name();
    let txn = db.begin().await?;
    let row = match &event.reference {
        Reference::Application(pid) => {
            Entity::find()
                .filter(Column::Pid.eq(*pid))
                .lock_exclusive()
                .one(&txn)
                .await?
        }
        // The provider's applicant stands for the company: its verdict goes to
        // the company's newest application (a resubmission has no applicant
        // id of its own yet).
        Reference::Applicant(id) => match Entity::find()
            .filter(Column::Provider.eq(provider))
            .filter(Column::ProviderApplicantId.eq(id.as_str()))
            .one(&txn)
            .await?
        {
            Some(known) => {
                Entity::find()
                    .filter(Column::UserId.eq(known.user_id))
                    .order_by_desc(Column::Id)
                    .lock_exclusive()
                    .one(&txn)
                    .await?
            }
            None => None,
        },
    };
    let Some(row) = row else {
        txn.rollback().await?;
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
    .exec_without_returning(&txn)
    .await?
        == 1;
    if !first_delivery {
        txn.rollback().await?;
        return Ok(ProviderOutcome::Duplicate);
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
    let row = am.update(&txn).await?;

    let actor = Actor::Provider(provider);
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
            if row.status() == KycStatus::Pending && !row.needs_manual_review {
                let mut am: ActiveModel = row.clone().into();
                am.needs_manual_review = Set(true);
                let row = am.update(&txn).await?;
                queue_mail(&txn, &row, Mail::KycPendingReview).await?;
            }
            None
        }
        Verdict::NoDecision => None,
    };
    let mut outcome = ProviderOutcome::Processed;
    if let Some(decision) = decision {
        let status = row.status();
        match apply_on(&txn, row, &decision, &actor).await {
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
    txn.commit().await?;
    webhook_secrets::changed();
    outbox::wake();
    Ok(outcome)
}

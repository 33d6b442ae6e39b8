use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::models::{_entities::kyc_audit_logs, kyc, users};

#[derive(Debug, Serialize, ToSchema)]
pub struct KycView {
    pub id: Uuid,
    pub business_name: String,
    pub registration_number: String,
    pub country: String,
    pub business_address: String,
    pub website: Option<String>,
    pub contact_phone: Option<String>,
    pub status: String,
    pub rejection_reason: Option<String>,
    pub resubmit_allowed: bool,
    pub needs_manual_review: bool,
    pub reviewed_at: Option<DateTime<FixedOffset>>,
    pub provider: Option<String>,
    pub provider_status: Option<String>,
    pub submitted_at: DateTime<FixedOffset>,
}

impl From<&kyc::Model> for KycView {
    fn from(k: &kyc::Model) -> Self {
        Self {
            id: k.pid,
            business_name: k.business_name.clone(),
            registration_number: k.registration_number.clone(),
            country: k.country.clone(),
            business_address: k.business_address.clone(),
            website: k.website.clone(),
            contact_phone: k.contact_phone.clone(),
            status: k.status.clone(),
            rejection_reason: k.rejection_reason.clone(),
            resubmit_allowed: k.resubmit_allowed,
            needs_manual_review: k.needs_manual_review,
            reviewed_at: k.reviewed_at,
            provider: k.provider.clone(),
            provider_status: k.provider_status.clone(),
            submitted_at: k.submitted_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyView {
    pub id: Uuid,
    pub email: String,
    pub company_name: String,
    pub full_name: String,
}

/// What an admin sees: the application and its company.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminKycView {
    #[serde(flatten)]
    pub application: KycView,
    pub company: Option<CompanyView>,
}

impl AdminKycView {
    #[must_use]
    pub fn new(k: &kyc::Model, user: Option<&users::Model>) -> Self {
        Self {
            application: KycView::from(k),
            company: user.map(|u| CompanyView {
                id: u.pid,
                email: u.email.clone(),
                company_name: u.company_name.clone(),
                full_name: u.full_name.clone(),
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub actor: String,
    pub from_status: String,
    pub to_status: String,
    pub reason: Option<String>,
    pub at: DateTime<FixedOffset>,
}

impl From<&kyc_audit_logs::Model> for AuditView {
    fn from(a: &kyc_audit_logs::Model) -> Self {
        Self {
            actor: a.actor.clone(),
            from_status: a.from_status.clone(),
            to_status: a.to_status.clone(),
            reason: a.reason.clone(),
            at: a.created_at,
        }
    }
}

use loco_rs::schema::*;
use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_table(
            m,
            "kyc_applications",
            &[
                ("id", ColType::PkAuto),
                ("pid", ColType::UuidUniq),
                ("business_name", ColType::String),
                ("registration_number", ColType::String),
                ("country", ColType::String),
                ("business_address", ColType::Text),
                ("website", ColType::StringNull),
                ("contact_phone", ColType::StringNull),
                ("status", ColType::String),
                ("rejection_reason", ColType::TextNull),
                ("resubmit_allowed", ColType::BooleanWithDefault(true)),
                ("needs_manual_review", ColType::BooleanWithDefault(false)),
                ("reviewed_at", ColType::TimestampWithTimeZoneNull),
                ("provider", ColType::StringNull),
                ("provider_status", ColType::StringNull),
                ("provider_applicant_id", ColType::StringNull),
                ("submitted_at", ColType::TimestampWithTimeZone),
            ],
            &[("users", "")],
        )
        .await?;

        create_table(
            m,
            "kyc_audit_logs",
            &[
                ("id", ColType::PkAuto),
                ("actor", ColType::String),
                ("from_status", ColType::String),
                ("to_status", ColType::String),
                ("reason", ColType::TextNull),
            ],
            &[("kyc_applications", "")],
        )
        .await?;

        create_table(
            m,
            "kyc_provider_events",
            &[
                ("id", ColType::PkAuto),
                ("provider", ColType::String),
                ("event_hash", ColType::String),
            ],
            &[],
        )
        .await?;

        create_table(
            m,
            "webhook_secrets",
            &[
                ("id", ColType::PkAuto),
                ("secret_encrypted", ColType::Text),
                ("secret_hash", ColType::StringUniq),
                ("key_prefix", ColType::String),
                ("is_active", ColType::Boolean),
                ("expires_at", ColType::TimestampWithTimeZone),
                ("grace_until", ColType::TimestampWithTimeZoneNull),
            ],
            &[("users", "")],
        )
        .await?;

        exec_all(
            m,
            &[
                // At most one open application (pending, approved or suspended) per company.
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_kyc_one_open ON kyc_applications (user_id) WHERE status <> 'rejected'",
                "CREATE INDEX IF NOT EXISTS idx_kyc_status_submitted ON kyc_applications (status, submitted_at)",
                "CREATE INDEX IF NOT EXISTS idx_kyc_provider_applicant ON kyc_applications (provider_applicant_id)",
                "CREATE INDEX IF NOT EXISTS idx_kyc_audit_app ON kyc_audit_logs (kyc_application_id)",
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_kyc_event_once ON kyc_provider_events (provider, event_hash)",
                // Exactly one active secret per company, whatever races.
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_secret_one_active ON webhook_secrets (user_id) WHERE is_active = TRUE",
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_table(m, "webhook_secrets").await?;
        drop_table(m, "kyc_provider_events").await?;
        drop_table(m, "kyc_audit_logs").await?;
        drop_table(m, "kyc_applications").await
    }
}

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
            "users",
            &[
                ("id", ColType::PkAuto),
                ("pid", ColType::UuidUniq),
                ("email", ColType::StringUniq),
                ("password", ColType::String),
                ("full_name", ColType::String),
                ("company_name", ColType::String),
                ("role", ColType::StringWithDefault("business".into())),
                ("email_verified_at", ColType::TimestampWithTimeZoneNull),
                ("token_version", ColType::IntegerWithDefault(0)),
                ("failed_logins", ColType::IntegerWithDefault(0)),
                (
                    "failed_login_window_start",
                    ColType::TimestampWithTimeZoneNull,
                ),
            ],
            &[],
        )
        .await?;

        // One live code per (user, purpose): issuing a new one replaces the old.
        create_table(
            m,
            "one_time_codes",
            &[
                ("id", ColType::PkAuto),
                ("purpose", ColType::String),
                ("code_hash", ColType::String),
                ("attempts", ColType::IntegerWithDefault(0)),
                ("expires_at", ColType::TimestampWithTimeZone),
                ("sent_at", ColType::TimestampWithTimeZone),
                ("consumed_at", ColType::TimestampWithTimeZoneNull),
            ],
            &[("users", "")],
        )
        .await?;

        // Transactional outbox: every e-mail is a row first, delivered by a worker.
        create_table(
            m,
            "outbox_messages",
            &[
                ("id", ColType::PkAuto),
                ("template", ColType::String),
                ("recipient", ColType::String),
                ("payload", ColType::Text),
                ("status", ColType::StringWithDefault("pending".into())),
                ("attempts", ColType::IntegerWithDefault(0)),
                ("next_attempt_at", ColType::TimestampWithTimeZone),
                ("locked_until", ColType::TimestampWithTimeZoneNull),
                ("last_error", ColType::TextNull),
                ("sent_at", ColType::TimestampWithTimeZoneNull),
                ("dedupe_key", ColType::StringNull),
            ],
            &[],
        )
        .await?;

        exec_all(
            m,
            &[
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_otp_user_purpose ON one_time_codes (user_id, purpose)",
                "CREATE INDEX IF NOT EXISTS idx_outbox_due ON outbox_messages (status, next_attempt_at)",
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_outbox_dedupe ON outbox_messages (dedupe_key)",
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_table(m, "outbox_messages").await?;
        drop_table(m, "one_time_codes").await?;
        drop_table(m, "users").await
    }
}

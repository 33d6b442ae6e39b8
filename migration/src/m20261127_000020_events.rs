//! Outbound events: the endpoints a business registers, the events we
//! record (in the transaction of the change that causes them), one delivery
//! per event and subscribed endpoint (the work queue the delivery worker
//! leases from), and every attempt made.

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
            "event_endpoints",
            &[
                ("id", ColType::PkAuto),
                ("pid", ColType::UuidUniq),
                ("url", ColType::Text),
                ("description", ColType::TextNull),
                // JSON array of type names, or ["*"].
                ("event_types", ColType::Text),
                ("scheme", ColType::String),
                ("enabled", ColType::Boolean),
                ("disabled_reason", ColType::StringNull),
                // `<iv hex>.<ciphertext+tag hex>` and SHA-256 hex (seed 003);
                // null for qitech endpoints, which are signed with our key pair.
                ("secret_encrypted", ColType::TextNull),
                ("secret_hash", ColType::StringNull),
                ("previous_secret_encrypted", ColType::TextNull),
                ("previous_secret_until", ColType::TimestampWithTimeZoneNull),
                ("client_key", ColType::Uuid),
                ("last_success_at", ColType::TimestampWithTimeZoneNull),
                ("failing_since", ColType::TimestampWithTimeZoneNull),
            ],
            &[("users", "")],
        )
        .await?;

        create_table(
            m,
            "events",
            &[
                ("id", ColType::PkAuto),
                ("event_id", ColType::StringUniq),
                ("event_type", ColType::String),
                ("data", ColType::Text),
                ("occurred_at_ms", ColType::BigInteger),
                // Events that must happen once (a key's expiry warning) carry a key.
                ("dedupe_key", ColType::StringNull),
            ],
            &[("users", "")],
        )
        .await?;

        create_table(
            m,
            "event_deliveries",
            &[
                ("id", ColType::PkAuto),
                ("status", ColType::String),
                ("attempts", ColType::IntegerWithDefault(0)),
                ("next_attempt_at", ColType::TimestampWithTimeZone),
                ("locked_until", ColType::TimestampWithTimeZoneNull),
                ("last_error", ColType::TextNull),
                ("succeeded_at", ColType::TimestampWithTimeZoneNull),
            ],
            &[
                ("events", "event_row_id"),
                ("event_endpoints", "endpoint_id"),
            ],
        )
        .await?;

        create_table(
            m,
            "event_delivery_attempts",
            &[
                ("id", ColType::PkAuto),
                ("attempt", ColType::Integer),
                ("succeeded", ColType::Boolean),
                ("status_code", ColType::IntegerNull),
                ("error", ColType::TextNull),
                ("latency_ms", ColType::Integer),
                ("response_body", ColType::TextNull),
                ("next_retry_at", ColType::TimestampWithTimeZoneNull),
            ],
            &[
                ("event_deliveries", "delivery_id"),
                ("event_endpoints", "endpoint_id"),
                ("events", "event_row_id"),
            ],
        )
        .await?;

        exec_all(
            m,
            &[
                "CREATE INDEX IF NOT EXISTS idx_event_endpoints_user ON event_endpoints (user_id)",
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_events_dedupe ON events (dedupe_key)",
                "CREATE INDEX IF NOT EXISTS idx_events_user ON events (user_id, id)",
                "CREATE INDEX IF NOT EXISTS idx_event_deliveries_due ON event_deliveries (status, next_attempt_at)",
                "CREATE INDEX IF NOT EXISTS idx_event_deliveries_endpoint ON event_deliveries (endpoint_id, status)",
                "CREATE INDEX IF NOT EXISTS idx_event_deliveries_event ON event_deliveries (event_row_id)",
                "CREATE INDEX IF NOT EXISTS idx_event_attempts_endpoint ON event_delivery_attempts (endpoint_id, id)",
                "CREATE INDEX IF NOT EXISTS idx_event_attempts_delivery ON event_delivery_attempts (delivery_id)",
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_table(m, "event_delivery_attempts").await?;
        drop_table(m, "event_deliveries").await?;
        drop_table(m, "events").await?;
        drop_table(m, "event_endpoints").await
    }
}

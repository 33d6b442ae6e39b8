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
            "orders",
            &[
                ("id", ColType::PkAuto),
                ("pid", ColType::UuidUniq),
                ("external_order_id", ColType::StringNull),
                ("idempotency_key", ColType::StringNull),
                ("customer_name", ColType::String),
                ("customer_email", ColType::String),
                ("customer_phone", ColType::String),
                ("item_summary", ColType::Text),
                ("address", ColType::Text),
                ("tracking_status", ColType::String),
            ],
            &[("users", "")],
        )
        .await?;

        create_table(
            m,
            "order_status_changes",
            &[
                ("id", ColType::PkAuto),
                ("from_status", ColType::StringNull),
                ("to_status", ColType::String),
                ("note", ColType::TextNull),
                ("source", ColType::String),
            ],
            &[("orders", "")],
        )
        .await?;

        exec_all(
            m,
            &[
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_orders_external ON orders (user_id, external_order_id)",
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_orders_idempotency ON orders (user_id, idempotency_key)",
                "CREATE INDEX IF NOT EXISTS idx_orders_user_created ON orders (user_id, created_at)",
                "CREATE INDEX IF NOT EXISTS idx_history_order ON order_status_changes (order_id)",
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_table(m, "order_status_changes").await?;
        drop_table(m, "orders").await
    }
}

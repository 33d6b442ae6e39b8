//! Per-account password-reset caps that survive restarts: the window's start,
//! the codes sent and the wrong codes tried in it (`users`).

use loco_rs::schema::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [(&str, ColType); 3] = [
    (
        "reset_window_started_at",
        ColType::TimestampWithTimeZoneNull,
    ),
    ("reset_codes_sent", ColType::IntegerWithDefault(0)),
    ("reset_codes_wrong", ColType::IntegerWithDefault(0)),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for (name, kind) in COLUMNS {
            add_column(m, "users", name, kind).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in COLUMNS {
            remove_column(m, "users", name).await?;
        }
        Ok(())
    }
}

//! `webhook_secrets.key_prefix` becomes `fingerprint`: the first characters
//! of the key's lookup hash instead of the key's own first characters, so no
//! part of a key is stored in the clear.
//!
//! Databases created while `m20261123_000002` briefly named the column
//! `fingerprint` already have it; for them only the values are rewritten.

use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.has_column("webhook_secrets", "key_prefix").await? {
            exec_all(
                m,
                &["ALTER TABLE webhook_secrets RENAME COLUMN key_prefix TO fingerprint"],
            )
            .await?;
        }
        exec_all(
            m,
            &["UPDATE webhook_secrets SET fingerprint = SUBSTR(secret_hash, 1, 12)"],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            m,
            &["ALTER TABLE webhook_secrets RENAME COLUMN fingerprint TO key_prefix"],
        )
        .await
    }
}

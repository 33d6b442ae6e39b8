//! PostgreSQL: the order search's words stored in a generated column
//! (`search_words`), indexed by GIN, in place of the GIN index over the
//! expression of `m20261127_000030_order_search`.
//!
//! With the expression index, every plan that checks a row against the
//! search outside the index (the newest-first page walks the primary key
//! backwards and filters) recomputed `to_tsvector(regexp_replace(…))` for
//! each row it passed: ~13 µs a row, 35 ms for a page of a surname's orders
//! at a million. Stored, the check is a lookup in the row (0.8 ms for that
//! page). The column is computed once on insert, as the index entry was.
//!
//! Deploying: PostgreSQL rewrites `orders` under an exclusive lock to add
//! the column, then builds the index (~40 s at a million orders), and the
//! old index is dropped: stop the intake for it rather than roll instances
//! one by one (the README's design notes).
//!
//! SQLite keeps its FTS5 table: nothing to do there.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

use crate::{exec_all, m20261127_000030_order_search::POSTGRES_DOCUMENT};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DatabaseBackend::Sqlite {
            return Ok(());
        }
        let column = format!(
            "ALTER TABLE orders ADD COLUMN IF NOT EXISTS search_words tsvector \
             GENERATED ALWAYS AS ({POSTGRES_DOCUMENT}) STORED"
        );
        exec_all(
            m,
            &[
                &column,
                "CREATE INDEX IF NOT EXISTS idx_orders_search_words ON orders USING gin (search_words)",
                "DROP INDEX IF EXISTS idx_orders_search",
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DatabaseBackend::Sqlite {
            return Ok(());
        }
        let index = format!(
            "CREATE INDEX IF NOT EXISTS idx_orders_search ON orders USING gin ({POSTGRES_DOCUMENT})"
        );
        exec_all(
            m,
            &[
                &index,
                "DROP INDEX IF EXISTS idx_orders_search_words",
                "ALTER TABLE orders DROP COLUMN IF EXISTS search_words",
            ],
        )
        .await
    }
}

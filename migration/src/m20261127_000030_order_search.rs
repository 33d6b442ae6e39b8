//! An index for the order search (`?q=` on the API, the dashboard and the
//! console), which a B-tree cannot serve: every word of the query must be
//! a word of the customer's name, the customer's e-mail or the external
//! order id. Without it a search reads every order of the company: ~0.4 s
//! at a million orders.
//!
//! - SQLite: an FTS5 table that stores only the index (`content=''`), kept
//!   in step by triggers. Beside the three searched columns it indexes the
//!   owner (`c<user id>`) and the status (without `_`), so one FTS query
//!   answers both the count and the page of a company's search, without
//!   visiting the orders that do not match. `detail=column`: no positions
//!   are needed, which keeps each order's share of the index small.
//! - PostgreSQL: one GIN index over the text search document
//!   [`POSTGRES_DOCUMENT`], which the query repeats verbatim.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The searched words of an order on PostgreSQL: its three columns, lowered,
/// with every run of other characters made a space (so `alan@bletchley.uk`
/// gives `alan bletchley uk`, as SQLite's tokenizer does).
pub const POSTGRES_DOCUMENT: &str = "to_tsvector('simple'::regconfig, regexp_replace(lower(\
    customer_name || ' ' || customer_email || ' ' || coalesce(external_order_id, '')), \
    '[^[:alnum:]]+', ' ', 'g'))";

const SQLITE_UP: [&str; 5] = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS orders_search USING fts5(\
        owner, status, customer_name, customer_email, external_order_id, \
        content='', contentless_delete=1, detail=column, \
        tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS orders_search_insert AFTER INSERT ON orders BEGIN \
        INSERT INTO orders_search(rowid, owner, status, customer_name, customer_email, external_order_id) \
        VALUES (new.id, 'c' || new.user_id, replace(new.tracking_status, '_', ''), \
                new.customer_name, new.customer_email, new.external_order_id); \
     END",
    "CREATE TRIGGER IF NOT EXISTS orders_search_delete AFTER DELETE ON orders BEGIN \
        DELETE FROM orders_search WHERE rowid = old.id; \
     END",
    "CREATE TRIGGER IF NOT EXISTS orders_search_update AFTER UPDATE OF \
        user_id, tracking_status, customer_name, customer_email, external_order_id ON orders BEGIN \
        DELETE FROM orders_search WHERE rowid = old.id; \
        INSERT INTO orders_search(rowid, owner, status, customer_name, customer_email, external_order_id) \
        VALUES (new.id, 'c' || new.user_id, replace(new.tracking_status, '_', ''), \
                new.customer_name, new.customer_email, new.external_order_id); \
     END",
    "INSERT INTO orders_search(rowid, owner, status, customer_name, customer_email, external_order_id) \
     SELECT id, 'c' || user_id, replace(tracking_status, '_', ''), \
            customer_name, customer_email, external_order_id FROM orders",
];

const SQLITE_DOWN: [&str; 4] = [
    "DROP TRIGGER IF EXISTS orders_search_update",
    "DROP TRIGGER IF EXISTS orders_search_delete",
    "DROP TRIGGER IF EXISTS orders_search_insert",
    "DROP TABLE IF EXISTS orders_search",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DatabaseBackend::Sqlite => exec_all(m, &SQLITE_UP).await,
            _ => {
                let index = format!(
                    "CREATE INDEX IF NOT EXISTS idx_orders_search ON orders USING gin ({POSTGRES_DOCUMENT})"
                );
                exec_all(m, &[&index]).await
            }
        }
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DatabaseBackend::Sqlite => exec_all(m, &SQLITE_DOWN).await,
            _ => exec_all(m, &["DROP INDEX IF EXISTS idx_orders_search"]).await,
        }
    }
}

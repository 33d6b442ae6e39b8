//! Indexes that hold only the rows their queries look for, so a row that
//! leaves a queue, or never had the optional key, costs no index entry.
//!
//! - `events.dedupe_key` and `orders.idempotency_key` are unique when
//!   present and absent on most rows: a partial unique index enforces the
//!   same rule without an entry per row without a key (one B-tree insert
//!   less per order and per event).
//! - The delivery queue's due index holds only pending deliveries: a
//!   delivered row leaves it (one delete) instead of moving to a
//!   `succeeded` entry (a delete and an insert), and the index stays the
//!   size of the backlog, not of the history.
//! - Deliveries by endpoint: a plain `(endpoint_id)` index (for the
//!   endpoint's cascade delete), which no status change touches, and the
//!   failed deliveries by endpoint and time for `recover`.
//!
//! Queries that should use a `WHERE status = '…'` index spell the status as
//! a literal (`events::status_is`): a bound parameter would not let
//! PostgreSQL's generic plans use it.

use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: [&str; 9] = [
    "DROP INDEX IF EXISTS idx_events_dedupe",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_events_dedupe ON events (dedupe_key) \
     WHERE dedupe_key IS NOT NULL",
    "DROP INDEX IF EXISTS idx_orders_idempotency",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_orders_idempotency ON orders (user_id, idempotency_key) \
     WHERE idempotency_key IS NOT NULL",
    "DROP INDEX IF EXISTS idx_event_deliveries_due",
    "CREATE INDEX IF NOT EXISTS idx_event_deliveries_due ON event_deliveries (next_attempt_at) \
     WHERE status = 'pending'",
    "DROP INDEX IF EXISTS idx_event_deliveries_endpoint",
    "CREATE INDEX IF NOT EXISTS idx_event_deliveries_endpoint ON event_deliveries (endpoint_id)",
    "CREATE INDEX IF NOT EXISTS idx_event_deliveries_failed ON event_deliveries (endpoint_id, created_at) \
     WHERE status = 'failed'",
];

const DOWN: [&str; 9] = [
    "DROP INDEX IF EXISTS idx_event_deliveries_failed",
    "DROP INDEX IF EXISTS idx_event_deliveries_endpoint",
    "CREATE INDEX IF NOT EXISTS idx_event_deliveries_endpoint ON event_deliveries (endpoint_id, status)",
    "DROP INDEX IF EXISTS idx_event_deliveries_due",
    "CREATE INDEX IF NOT EXISTS idx_event_deliveries_due ON event_deliveries (status, next_attempt_at)",
    "DROP INDEX IF EXISTS idx_orders_idempotency",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_orders_idempotency ON orders (user_id, idempotency_key)",
    "DROP INDEX IF EXISTS idx_events_dedupe",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_events_dedupe ON events (dedupe_key)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        exec_all(m, &UP).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        exec_all(m, &DOWN).await
    }
}

//! The SQLite pool. loco runs its PRAGMAs once, on whichever connection is
//! first, and sqlx recycles connections (every 30 minutes by default), after
//! which they run with SQLite's defaults. Here every connection is opened
//! with the settings the service relies on.

use std::{str::FromStr, time::Duration};

use loco_rs::config::Database as DbConfig;
use sea_orm::{
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, Database, DatabaseConnection, DbErr,
};

/// Opens the SQLite pool: WAL (readers never block the writer), synchronous
/// NORMAL (a committed transaction survives a process crash; only a power
/// loss can cost the last commits), a 5 s busy timeout, foreign keys on, and
/// a bounded page cache without memory-mapped I/O, so memory stays small.
///
/// # Errors
/// When the database cannot be opened.
pub async fn connect_sqlite(config: &DbConfig) -> Result<DatabaseConnection, DbErr> {
    // Validate the URI once, so a typo fails here with a clear message.
    SqliteConnectOptions::from_str(&config.uri)
        .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::Internal(e.to_string())))?;
    let mut opt = ConnectOptions::new(&config.uri);
    opt.max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .connect_timeout(Duration::from_millis(config.connect_timeout))
        .idle_timeout(Duration::from_millis(config.idle_timeout))
        .sqlx_logging(config.enable_logging)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .pragma("cache_size", "-16000")
                .pragma("mmap_size", "0")
                .pragma("journal_size_limit", "67108864")
                .pragma("temp_store", "memory")
        });
    if let Some(acquire) = config.acquire_timeout {
        opt.acquire_timeout(Duration::from_millis(acquire));
    }
    Database::connect(opt).await
}

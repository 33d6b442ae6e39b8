//! The database connections: one writer and a set of readers.
//!
//! SQLite takes one writer at a time and, in WAL mode, any number of readers
//! beside it. So on SQLite the app's context holds a pool of exactly one
//! connection that every write and every transaction goes through (no two
//! transactions ever contend for SQLite's lock, so none waits in its busy
//! loop), and [`Readers`] holds a pool of read-only connections for pure
//! reads (the signed-in account, the key lookup on a cache miss, lists),
//! which never wait for the writer. On PostgreSQL both are the same pool.
//!
//! loco runs its PRAGMAs once, on whichever connection is first, and sqlx
//! recycles connections (every 30 minutes by default), after which they run
//! with SQLite's defaults; here every connection is opened with the settings
//! the service relies on.

use std::{str::FromStr, sync::Arc, time::Duration};

use loco_rs::{app::AppContext, config::Database as DbConfig};
use sea_orm::{
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, Database, DatabaseConnection, DbErr,
};

/// The pool for pure reads (see the module docs).
#[derive(Clone)]
pub struct Readers(DatabaseConnection);

impl Readers {
    /// The read pool stored in the context at boot.
    ///
    /// # Panics
    /// Never in a booted app: `App::after_context` stores it.
    #[must_use]
    pub fn get(ctx: &AppContext) -> DatabaseConnection {
        ctx.shared_store
            .get::<Arc<Self>>()
            .expect("read pool stored at boot")
            .0
            .clone()
    }
}

/// Whether `config` names a SQLite database.
#[must_use]
pub fn is_sqlite(config: &DbConfig) -> bool {
    config.uri.starts_with("sqlite:")
}

/// Opens the writer and the readers for `config` and stores the readers in
/// `ctx`; returns the writer, to become `ctx.db`.
///
/// # Errors
/// When the database cannot be opened.
pub async fn open(
    ctx: &AppContext,
    config: &DbConfig,
    readers: u32,
) -> Result<DatabaseConnection, DbErr> {
    let (writer, reader) = if is_sqlite(config) {
        let writer = connect_sqlite(config, 1, false).await?;
        let reader = connect_sqlite(config, readers.max(1), true).await?;
        (writer, reader)
    } else {
        // Our own pool, opened like loco's plus TCP_NODELAY (see
        // `nodelay`); loco's pool is dropped with the old context value.
        let pool = connect_postgres(config).await?;
        (pool.clone(), pool)
    };
    ctx.shared_store.insert(Arc::new(Readers(reader)));
    Ok(writer)
}

/// Opens the PostgreSQL pool with loco's settings, each new connection with
/// Nagle's algorithm off.
///
/// # Errors
/// When the database cannot be reached.
async fn connect_postgres(config: &DbConfig) -> Result<DatabaseConnection, DbErr> {
    let port = url::Url::parse(&config.uri)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(5432);
    let mut opt = ConnectOptions::new(&config.uri);
    opt.max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .connect_timeout(Duration::from_millis(config.connect_timeout))
        .idle_timeout(Duration::from_millis(config.idle_timeout))
        // Ping only a connection that sat idle (it may have been dropped by
        // the server or a proxy meanwhile); a busy one is known alive, and a
        // ping per acquire was one more round trip per order batch.
        .test_before_acquire_if_idle_for(Duration::from_secs(10))
        .sqlx_logging(config.enable_logging)
        .map_sqlx_postgres_pool_opts(move |o| {
            o.after_connect(move |_conn, _meta| {
                Box::pin(async move {
                    nodelay::to_port(port);
                    Ok(())
                })
            })
        });
    if let Some(acquire) = config.acquire_timeout {
        opt.acquire_timeout(Duration::from_millis(acquire));
    }
    Database::connect(opt).await
}

/// sqlx 0.9.0 opens its PostgreSQL sockets without `TCP_NODELAY`
/// (launchbadge/sqlx#4335, fixed upstream by #4336, not yet released). A
/// statement larger than one TCP segment — a batch insert of a few dozen
/// orders — then leaves its tail waiting on the server's delayed ACK, about
/// 40 ms per statement: PostgreSQL intake ran at ~400 orders/s with the
/// server idle. Until a release carries the fix, each new connection's
/// socket gets the option here. Remove this module with sqlx ≥ 0.9.1.
mod nodelay {
    /// Sets `TCP_NODELAY` on every TCP socket of this process whose peer
    /// port is `port` (idempotent; sockets already set are unchanged).
    #[cfg(target_os = "linux")]
    pub fn to_port(port: u16) {
        use std::os::fd::BorrowedFd;
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for entry in fds.flatten() {
            let is_socket = std::fs::read_link(entry.path())
                .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
            let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if !is_socket {
                continue;
            }
            // SAFETY: the descriptor is only borrowed for two socket calls.
            // Should another thread close it meanwhile, they fail with
            // EBADF, or reach a socket that reused the number, which at
            // worst gets TCP_NODELAY if it talks to the same port too.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let socket = socket2::SockRef::from(&fd);
            let to_db = socket
                .peer_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .is_some_and(|a| a.port() == port);
            if to_db {
                let _ = socket.set_tcp_nodelay(true);
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn to_port(_port: u16) {}
}

/// Opens a SQLite pool of `size` connections: WAL (readers never block the
/// writer), synchronous NORMAL (a committed transaction survives a process
/// crash; only a power loss can cost the last commits), a 5 s busy timeout,
/// foreign keys on, and a bounded page cache without memory-mapped I/O, so
/// memory stays small. A `read_only` pool refuses any write (`query_only`),
/// so a write sent to it by mistake fails loudly instead of contending.
///
/// # Errors
/// When the database cannot be opened.
async fn connect_sqlite(
    config: &DbConfig,
    size: u32,
    read_only: bool,
) -> Result<DatabaseConnection, DbErr> {
    // Validate the URI once, so a typo fails here with a clear message.
    SqliteConnectOptions::from_str(&config.uri)
        .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::Internal(e.to_string())))?;
    let mut opt = ConnectOptions::new(&config.uri);
    opt.max_connections(size)
        .min_connections(config.min_connections.min(size))
        .connect_timeout(Duration::from_millis(config.connect_timeout))
        .idle_timeout(Duration::from_millis(config.idle_timeout))
        // An in-process connection cannot drop: sqlx's ping before each
        // acquire was only a round trip to its worker thread, ~1.5 ms under
        // load before every order batch's BEGIN.
        .test_before_acquire(false)
        .sqlx_logging(config.enable_logging)
        .map_sqlx_sqlite_opts(move |o| {
            // The page cache, in KiB: the writer's keeps the indexes it
            // inserts into warm; each reader's is smaller, since its misses
            // are served from the kernel's page cache. Measured: halving
            // both (16/4 → 8/2 MB) cost no intake or search speed at 1.2 M
            // orders (README, design notes).
            let cache_kib = if read_only { "-2000" } else { "-8000" };
            let o = o
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .pragma("cache_size", cache_kib)
                .pragma("mmap_size", "0")
                .pragma("journal_size_limit", "67108864")
                .pragma("temp_store", "memory");
            if read_only {
                o.pragma("query_only", "ON")
            } else {
                o
            }
        });
    if let Some(acquire) = config.acquire_timeout {
        opt.acquire_timeout(Duration::from_millis(acquire));
    }
    Database::connect(opt).await
}

//! Write transactions, and what happens once they are durable.
//!
//! Some writes need work done after their commit: queued mail wakes the mail
//! worker, a changed key drops the intake's cached keys. Done before the
//! commit it would race (a reader could reload the old row and cache it
//! again); left to each caller it would be forgotten somewhere. So a write
//! records what it needs on its transaction ([`Tx::after_commit`]) and
//! [`Tx::commit`] runs it, once, in this one place. A rolled-back
//! transaction runs nothing.

use std::sync::{Arc, Mutex};

use sea_orm::{
    sqlx::{self, pool::PoolConnection, Sqlite},
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, RuntimeErr, Statement, TransactionTrait, Values,
};
use sea_query_sqlx::SqlxValues;

/// A database transaction with its after-commit work. It is a connection
/// (`ConnectionTrait`), so model code and sea-orm queries take it as one.
pub struct Tx {
    txn: DatabaseTransaction,
    after_commit: Mutex<Vec<fn()>>,
}

impl Tx {
    /// # Errors
    /// When no transaction can be started.
    pub async fn begin(db: &DatabaseConnection) -> Result<Self, DbErr> {
        Ok(Self {
            txn: db.begin().await?,
            after_commit: Mutex::new(Vec::new()),
        })
    }

    /// Runs `effect` after this transaction commits (once, however often it
    /// is asked for).
    pub fn after_commit(&self, effect: fn()) {
        let mut effects = self
            .after_commit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !effects.iter().any(|e| std::ptr::fn_addr_eq(*e, effect)) {
            effects.push(effect);
        }
    }

    /// Commits, then runs the recorded effects.
    ///
    /// # Errors
    /// When the commit fails (nothing runs then).
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        let effects = self
            .after_commit
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for effect in effects {
            effect();
        }
        Ok(())
    }

    /// Rolls back; nothing recorded runs.
    ///
    /// # Errors
    /// When the rollback fails.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// Writes whose results nobody reads, to run in order in one transaction,
/// with what must happen once they are durable.
///
/// On SQLite every statement is a hand-off to the connection's worker
/// thread and back, two thread wake-ups that cost more than the insert
/// itself under load; a script goes as one string, so the whole set is a
/// single hand-off (SQLite runs the statements in turn and binds the
/// values across them in order). PostgreSQL takes one statement per
/// prepared query, so there they run one by one.
#[derive(Default)]
pub struct Script {
    statements: Vec<Statement>,
    after_commit: Vec<fn()>,
}

impl Script {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `statement` after the ones already there.
    pub fn push(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// Runs `effect` once the transaction that runs this script commits.
    pub fn after_commit(&mut self, effect: fn()) {
        self.after_commit.push(effect);
    }

    /// Runs the statements in order in `tx`, whose commit then runs the
    /// effects; the first failure stops the script (the caller's
    /// transaction is then rolled back).
    ///
    /// # Errors
    /// On database failure.
    pub async fn run(self, tx: &Tx) -> Result<(), DbErr> {
        for effect in &self.after_commit {
            tx.after_commit(*effect);
        }
        let backend = tx.get_database_backend();
        if backend != DbBackend::Sqlite || self.statements.len() < 2 {
            for statement in self.statements {
                tx.execute_raw(statement).await?;
            }
            return Ok(());
        }
        tx.execute_raw(joined(backend, self.statements, "", ""))
            .await?;
        Ok(())
    }

    /// Runs the script as a transaction of its own on `held`, `BEGIN` and
    /// `COMMIT` included: one hand-off to SQLite's worker thread in all.
    /// On failure the transaction is rolled back (nothing is stored).
    ///
    /// # Errors
    /// On database failure.
    pub async fn commit_held(self, held: &Held) -> Result<(), DbErr> {
        let statement = joined(DbBackend::Sqlite, self.statements, "BEGIN;\n", "COMMIT;\n");
        let done = {
            let mut conn = held.lock().await;
            sqlx_query(statement).execute(&mut **conn).await
        };
        if let Err(e) = done {
            // A failed statement stops the script inside its transaction.
            let _ = rollback_held(held).await;
            return Err(exec_err(e));
        }
        for effect in self.after_commit {
            effect();
        }
        Ok(())
    }
}

/// The statements as one SQLite script, between `head` and `tail`.
fn joined(backend: DbBackend, statements: Vec<Statement>, head: &str, tail: &str) -> Statement {
    let mut sql = String::from(head);
    let mut values = Vec::new();
    for statement in statements {
        sql.push_str(&statement.sql);
        sql.push_str(";\n");
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    sql.push_str(tail);
    Statement {
        sql,
        values: Some(Values(values)),
        db_backend: backend,
    }
}

/// SQLite's write connection, taken out of the pool and kept across
/// transactions by the order writer ([`hold`]). Handing a connection back
/// to sqlx's pool costs a spawned task and a ping of its worker thread, and
/// only a held connection can take a whole transaction as one script: after
/// a failure its owner rolls back on the same connection before anyone
/// else can use it.
pub type Held = Arc<tokio::sync::Mutex<PoolConnection<Sqlite>>>;

/// Takes the (SQLite) pool's connection out; [`release`] hands it back.
///
/// # Errors
/// When no connection comes free in time.
pub async fn hold(db: &DatabaseConnection) -> Result<Held, DbErr> {
    let conn = db
        .get_sqlite_connection_pool()
        .acquire()
        .await
        .map_err(|e| match e {
            sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            e => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
        })?;
    Ok(Arc::new(tokio::sync::Mutex::new(conn)))
}

/// Hands a held connection back to the pool, first rolling back whatever
/// transaction a failure may have left open on it (a no-op otherwise), so
/// the pool's next user never finds itself inside it.
pub async fn release(held: Held) {
    let _ = rollback_held(&held).await;
    drop(held);
}

async fn rollback_held(held: &Held) -> Result<(), sqlx::Error> {
    let mut conn = held.lock().await;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut **conn)
        .await
        .map(|_| ())
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

fn sqlx_query(stmt: Statement) -> sqlx::query::Query<'static, Sqlite, SqlxValues> {
    sqlx::query_with(
        sqlx::AssertSqlSafe(stmt.sql),
        SqlxValues(stmt.values.unwrap_or(Values(Vec::new()))),
    )
}

#[async_trait::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

//! Write transactions, and what happens once they are durable.
//!
//! Some writes need work done after their commit: queued mail wakes the mail
//! worker, a changed key drops the intake's cached keys. Done before the
//! commit it would race (a reader could reload the old row and cache it
//! again); left to each caller it would be forgotten somewhere. So a write
//! records what it needs on its transaction ([`Tx::after_commit`]) and
//! [`Tx::commit`] runs it, once, in this one place. A rolled-back
//! transaction runs nothing.

use std::sync::Mutex;

use sea_orm::{
    sea_query::{IntoIden, Query, SelectStatement},
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait, Values,
};

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

/// Writes whose results nobody reads, to run in order in one transaction.
///
/// On SQLite every statement is a hand-off to the connection's worker
/// thread and back, two thread wake-ups that cost more than the insert
/// itself under load; a script goes as one string, so the whole set is a
/// single hand-off (SQLite runs the statements in turn and binds the
/// values across them in order). PostgreSQL takes one statement per
/// prepared query, so there they run one by one.
#[derive(Default)]
pub struct Script(Vec<Statement>);

impl Script {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `statement` after the ones already there.
    pub fn push(&mut self, statement: Statement) {
        self.0.push(statement);
    }

    /// Adds `INSERT INTO table (columns) <select>`: rows that find what they
    /// refer to (an id) by a key the caller already has, instead of reading
    /// it back first.
    ///
    /// # Errors
    /// When `select` yields a different number of columns.
    pub fn push_insert_select<C: IntoIden>(
        &mut self,
        backend: DbBackend,
        table: impl IntoIden,
        columns: impl IntoIterator<Item = C>,
        select: SelectStatement,
    ) -> Result<(), DbErr> {
        let insert = Query::insert()
            .into_table(table)
            .columns(columns)
            .select_from(select)
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        self.push(backend.build(&insert));
        Ok(())
    }

    /// Runs the statements in order; the first failure stops the script
    /// (the caller's transaction is then rolled back).
    ///
    /// # Errors
    /// On database failure.
    pub async fn run(self, tx: &Tx) -> Result<(), DbErr> {
        let backend = tx.get_database_backend();
        if backend != DbBackend::Sqlite || self.0.len() < 2 {
            for statement in self.0 {
                tx.execute_raw(statement).await?;
            }
            return Ok(());
        }
        let mut sql = String::new();
        let mut values = Vec::new();
        for statement in self.0 {
            sql.push_str(&statement.sql);
            sql.push_str(";\n");
            values.extend(statement.values.map(|v| v.0).unwrap_or_default());
        }
        tx.execute_raw(Statement {
            sql,
            values: Some(Values(values)),
            db_backend: backend,
        })
        .await?;
        Ok(())
    }
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

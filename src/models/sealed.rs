//! Every column that holds values sealed with a `SECRETS_KEY` subkey, and
//! their re-encryption under the current key after a key rotation
//! (`cargo loco task rotate_secrets_key`).
//!
//! Re-encryption reads a batch of rows in id order, opens each value with
//! the keyring (current key, then `SECRETS_KEY_PREVIOUS`), and writes back
//! those not sealed under the current subkey, each only if it still holds
//! the value read (compare-and-set): a row the server changed meanwhile was
//! written under the current key and is left alone. Nothing is remembered
//! between runs, so a run can stop anywhere and the next one goes on, while
//! the server serves.

use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, Order, Query},
    ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait,
};

use crate::{domain::crypto::KeyPurpose, settings::Keys};

/// A column of sealed values: its table, the table's integer id column, the
/// column, and the purpose of the key that seals it.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    pub table: &'static str,
    pub id: &'static str,
    pub column: &'static str,
    pub purpose: KeyPurpose,
}

/// Every sealed column. A new one is one line here.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "webhook_secrets",
        id: "id",
        column: "secret_encrypted",
        purpose: KeyPurpose::WebhookSecrets,
    },
    // Delivered mail is blanked; the rest may still hold a one-time code.
    SealedColumn {
        table: "outbox_messages",
        id: "id",
        column: "payload",
        purpose: KeyPurpose::MailPayloads,
    },
];

/// What a re-encryption pass over one column found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Written back under the current subkey.
    pub resealed: u64,
    /// Already sealed under the current subkey.
    pub current: u64,
    /// Changed by someone else between read and write (left as they wrote it).
    pub changed_meanwhile: u64,
    /// Opened by no key: `SECRETS_KEY_PREVIOUS` is missing or wrong.
    pub unreadable: u64,
}

/// Re-encrypts `col` under the current subkey of its purpose, `batch` rows
/// per transaction.
///
/// # Errors
/// On database failure (what was committed stays done).
pub async fn reseal(
    db: &DatabaseConnection,
    keys: &Keys,
    col: SealedColumn,
    batch: u64,
) -> Result<Resealed, DbErr> {
    let ring = keys.ring(col.purpose);
    let (table, id, column) = (
        Alias::new(col.table),
        Alias::new(col.id),
        Alias::new(col.column),
    );
    let backend = db.get_database_backend();
    let mut counts = Resealed::default();
    let mut after = i64::MIN;
    loop {
        let select = Query::select()
            .columns([id.clone(), column.clone()])
            .from(table.clone())
            .and_where(Expr::col(id.clone()).gt(after))
            .and_where(Expr::col(column.clone()).ne(""))
            .order_by(id.clone(), Order::Asc)
            .limit(batch)
            .to_owned();
        let rows = db.query_all_raw(backend.build(&select)).await?;
        let Some(last) = rows.last() else {
            return Ok(counts);
        };
        after = last.try_get::<i64>("", col.id)?;
        let txn = db.begin().await?;
        for row in rows {
            let row_id: i64 = row.try_get("", col.id)?;
            let sealed: String = row.try_get("", col.column)?;
            let opened = match ring.open(&sealed) {
                Ok(opened) if opened.current => {
                    counts.current += 1;
                    continue;
                }
                Ok(opened) => opened,
                Err(_) => {
                    counts.unreadable += 1;
                    continue;
                }
            };
            let update = Query::update()
                .table(table.clone())
                .value(column.clone(), ring.encrypt(&opened.plaintext))
                .and_where(Expr::col(id.clone()).eq(row_id))
                .and_where(Expr::col(column.clone()).eq(sealed))
                .to_owned();
            if txn
                .execute_raw(backend.build(&update))
                .await?
                .rows_affected()
                == 1
            {
                counts.resealed += 1;
            } else {
                counts.changed_meanwhile += 1;
            }
        }
        txn.commit().await?;
    }
}

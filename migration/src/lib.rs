#![allow(elided_lifetimes_in_paths)]
#![allow(clippy::wildcard_imports)]
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_accounts;
mod m20261123_000002_kyc_and_secrets;
mod m20261123_000003_orders;
mod m20261126_000004_secret_fingerprint;
mod m20261127_000010_password_reset_caps;
mod m20261127_000020_events;
mod m20261127_000030_order_search;
mod m20261127_000040_order_search_words;
mod m20261128_000050_partial_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_accounts::Migration),
            Box::new(m20261123_000002_kyc_and_secrets::Migration),
            Box::new(m20261123_000003_orders::Migration),
            Box::new(m20261126_000004_secret_fingerprint::Migration),
            Box::new(m20261127_000010_password_reset_caps::Migration),
            Box::new(m20261127_000020_events::Migration),
            Box::new(m20261127_000030_order_search::Migration),
            Box::new(m20261127_000040_order_search_words::Migration),
            Box::new(m20261128_000050_partial_indexes::Migration),
            // inject-above (do not remove this comment)
        ]
    }
}

/// Runs raw DDL that sea-query cannot express portably (partial unique indexes).
/// Both SQLite and PostgreSQL accept the statements verbatim.
pub(crate) async fn exec_all(m: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let conn = m.get_connection();
    for sql in statements {
        conn.execute_unprepared(sql).await?;
    }
    Ok(())
}

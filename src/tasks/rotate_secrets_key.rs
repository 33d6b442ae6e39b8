use loco_rs::prelude::*;

use crate::{
    models::sealed::{self, SEALED_COLUMNS},
    settings::AppSettings,
};

/// Rows read and re-encrypted per transaction.
const BATCH: u64 = 500;

/// `cargo loco task rotate_secrets_key`: after `SECRETS_KEY` was replaced
/// (the old one in `SECRETS_KEY_PREVIOUS`), re-encrypts every stored secret
/// and mail payload not yet sealed under the new key. Safe while the server
/// serves, and resumable: run it again until it reports nothing left, then
/// drop `SECRETS_KEY_PREVIOUS`.
pub struct RotateSecretsKey;

#[async_trait]
impl Task for RotateSecretsKey {
    fn task(&self) -> TaskInfo {
        TaskInfo {
            name: "rotate_secrets_key".to_string(),
            detail: "Re-encrypt stored secrets and mail under the current SECRETS_KEY.\nUsage: SECRETS_KEY=<new> SECRETS_KEY_PREVIOUS=<old> cargo loco task rotate_secrets_key".to_string(),
        }
    }

    async fn run(&self, ctx: &AppContext, _vars: &task::Vars) -> Result<()> {
        let app = AppSettings::get(ctx);
        let mut unreadable = 0;
        for &col in SEALED_COLUMNS {
            let n = sealed::reseal(&ctx.db, &app.keys, col, BATCH).await?;
            println!(
                "{}.{}: {} re-encrypted, {} already current, {} changed meanwhile, {} unreadable",
                col.table, col.column, n.resealed, n.current, n.changed_meanwhile, n.unreadable
            );
            unreadable += n.unreadable;
        }
        if unreadable > 0 {
            return Err(Error::string(&format!(
                "{unreadable} value(s) opened with no key: set SECRETS_KEY_PREVIOUS to the key they were written under"
            )));
        }
        Ok(())
    }
}

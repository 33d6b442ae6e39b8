use loco_rs::prelude::*;

use crate::{
    controllers::extract::parse_pid,
    errors::ApiError,
    models::kyc::{self, Actor, Decision},
    settings::AppSettings,
};

/// `cargo loco task kyc_approve ids:<uuid,uuid,…>`: approves each application
/// through the same state machine and hooks as the admin API (so every
/// approval issues its webhook secret), reporting each outcome.
pub struct KycApprove;

#[async_trait]
impl Task for KycApprove {
    fn task(&self) -> TaskInfo {
        TaskInfo {
            name: "kyc_approve".to_string(),
            detail: "Approve KYC applications in bulk.\nUsage: cargo loco task kyc_approve ids:<id>,<id>,...".to_string(),
        }
    }

    async fn run(&self, ctx: &AppContext, vars: &task::Vars) -> Result<()> {
        let ids = vars
            .cli_arg("ids")
            .map_err(|_| Error::string("ids:<id>,<id>,... is required"))?;
        let app = AppSettings::get(ctx);
        let mut failed = 0;
        for raw in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let outcome = match parse_pid(raw) {
                Ok(pid) => kyc::transition(&ctx.db, &app, pid, Decision::approve(), &Actor::Task)
                    .await
                    .map(|k| k.status),
                Err(e) => Err(e),
            }
            .map_err(|e| match e {
                ApiError::NotFound(_) => "no such application".to_string(),
                other => other.describe(),
            });
            match outcome {
                Ok(status) => println!("{raw}: {status}"),
                Err(e) => {
                    failed += 1;
                    println!("{raw}: failed: {e}");
                }
            }
        }
        if failed > 0 {
            return Err(Error::string(&format!(
                "{failed} application(s) not approved"
            )));
        }
        Ok(())
    }
}

use loco_rs::prelude::*;

use crate::{
    domain::{email::Email, password::Password},
    models::users,
};

/// `cargo loco task create_admin email:<e> password:<p>` (or `ADMIN_PASSWORD`
/// in the environment, which keeps the password out of the process list).
pub struct CreateAdmin;

#[async_trait]
impl Task for CreateAdmin {
    fn task(&self) -> TaskInfo {
        TaskInfo {
            name: "create_admin".to_string(),
            detail: "Create or promote a verified admin.\nUsage: cargo loco task create_admin email:admin@example.com password:<10-128 chars>".to_string(),
        }
    }

    async fn run(&self, ctx: &AppContext, vars: &task::Vars) -> Result<()> {
        let email = vars
            .cli_arg("email")
            .map_err(|_| Error::string("email:<address> is required"))?;
        let email = Email::parse(email).map_err(|e| Error::string(&e.0))?;
        let raw = match vars.cli_arg("password") {
            Ok(p) => p.to_string(),
            Err(_) => std::env::var("ADMIN_PASSWORD")
                .map_err(|_| Error::string("password:<password> or ADMIN_PASSWORD is required"))?,
        };
        let password = Password::parse(&raw).map_err(|e| Error::string(&e.0))?;
        let admin = users::Model::create_or_promote_admin(&ctx.db, &email, &password)
            .await
            .map_err(|e| Error::string(&e.describe()))?;
        println!("admin ready: {} ({})", admin.email, admin.pid);
        Ok(())
    }
}

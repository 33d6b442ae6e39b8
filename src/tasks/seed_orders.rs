use loco_rs::{environment::Environment, prelude::*};

use crate::{
    domain::email::Email,
    models::{seed, users},
};

/// `cargo loco task seed_orders email:<company> count:<n>`: stores `n`
/// made-up orders for an existing company (see `models::seed`), to measure
/// the service at scale. Refused in production.
pub struct SeedOrders;

#[async_trait]
impl Task for SeedOrders {
    fn task(&self) -> TaskInfo {
        TaskInfo {
            name: "seed_orders".to_string(),
            detail: "Store made-up orders for a company, for benchmarks (not in production).\nUsage: cargo loco task seed_orders email:shop@example.com count:1000000".to_string(),
        }
    }

    async fn run(&self, ctx: &AppContext, vars: &task::Vars) -> Result<()> {
        if ctx.environment == Environment::Production {
            return Err(Error::string(
                "seed_orders writes made-up orders: not in production",
            ));
        }
        let email = vars
            .cli_arg("email")
            .map_err(|_| Error::string("email:<company e-mail> is required"))?;
        let email = Email::parse(email).map_err(|e| Error::string(&e.0))?;
        let count: u64 = vars
            .cli_arg("count")
            .map_err(|_| Error::string("count:<n> is required"))?
            .parse()
            .map_err(|_| Error::string("count must be a whole number"))?;
        let company = users::Model::find_by_email(&ctx.db, &email)
            .await?
            .ok_or_else(|| Error::string("no account with that e-mail"))?;
        let started = std::time::Instant::now();
        let stored = seed::orders(&ctx.db, company.id, count).await?;
        println!(
            "seeded {stored} orders for {} in {:.1}s",
            company.email,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

//! Group commit for the order intake: requests hand their parsed order to one
//! writer task, which stores whatever is queued in a single transaction and
//! answers each request after the commit. A 201 therefore always means the
//! order (and its confirmation e-mail row) is durable, and SQLite pays one
//! commit per batch instead of one per order.

use std::sync::{Arc, OnceLock};

use loco_rs::app::AppContext;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use crate::{
    errors::{is_unique_violation, ApiError, ApiResult},
    models::{
        orders::{self, Accepted, NewOrder},
        outbox,
    },
    settings::AppSettings,
};

const MAX_BATCH: usize = 256;
const QUEUE: usize = 8192;

struct Job {
    order: NewOrder,
    reply: oneshot::Sender<Result<Accepted, String>>,
}

/// One per running app; the task starts on first use.
#[derive(Default)]
pub struct OrderWriter {
    tx: OnceLock<mpsc::Sender<Job>>,
}

impl OrderWriter {
    /// # Panics
    /// Never in a booted app: `App::after_context` stores it.
    #[must_use]
    pub fn get(ctx: &AppContext) -> Arc<Self> {
        ctx.shared_store
            .get::<Arc<Self>>()
            .expect("order writer is stored at boot")
    }

    /// Stores `order` (or recognises it as a repeat) and returns once committed.
    ///
    /// # Errors
    /// 500 when the database fails; nothing was stored then.
    pub async fn submit(&self, ctx: &AppContext, order: NewOrder) -> ApiResult<Accepted> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(ctx.db.clone(), AppSettings::get(ctx), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        tx.send(Job { order, reply })
            .await
            .map_err(|_| ApiError::internal("order writer stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("order writer dropped a job"))?
            .map_err(ApiError::internal)
    }
}

async fn run(db: DatabaseConnection, app: Arc<AppSettings>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (batch, replies): (Vec<NewOrder>, Vec<_>) =
            jobs.drain(..).map(|j| (j.order, j.reply)).unzip();
        match write(&db, &app, &batch).await {
            Ok(answers) => {
                let created = answers
                    .iter()
                    .filter(|a| matches!(a, Accepted::Created(_)))
                    .count();
                metrics::counter!("orders_accepted_total").increment(created as u64);
                metrics::counter!("orders_duplicate_total")
                    .increment((answers.len() - created) as u64);
                metrics::histogram!("order_batch_size").record(batch.len() as f64);
                outbox::wake();
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = batch.len(), "order batch failed");
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// One transaction per batch; a unique violation means another server stored
/// one of these orders meanwhile, so the batch is retried and sees it.
async fn write(
    db: &DatabaseConnection,
    app: &AppSettings,
    batch: &[NewOrder],
) -> Result<Vec<Accepted>, DbErr> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let txn = db.begin().await?;
        match orders::insert_batch(&txn, app, batch).await {
            Ok(answers) => {
                txn.commit().await?;
                return Ok(answers);
            }
            Err(e) => {
                let _ = txn.rollback().await;
                let unique = is_unique_violation(&e);
                if !unique || attempt >= 3 {
                    return Err(e);
                }
            }
        }
    }
}

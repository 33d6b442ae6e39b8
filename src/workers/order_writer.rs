//! Group commit for the order intake: requests hand their parsed order to one
//! writer task, which stores whatever is queued in a single transaction and
//! answers each request after the commit. A 201 therefore always means the
//! order (and its confirmation e-mail row) is durable, and SQLite pays one
//! commit per batch instead of one per order.

use std::sync::{Arc, OnceLock};

use loco_rs::app::AppContext;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot};

use crate::{
    errors::{is_unique_violation, ApiError, ApiResult},
    models::{
        orders::{self, Accepted, NewOrder},
        tx::Tx,
    },
    settings::AppSettings,
};

const MAX_BATCH: usize = 256;
const QUEUE: usize = 8192;

struct Job {
    order: NewOrder,
    reply: oneshot::Sender<Result<Accepted, DbErr>>,
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
    pub async fn submit(
        &self,
        db: &DatabaseConnection,
        app: &Arc<AppSettings>,
        order: NewOrder,
    ) -> ApiResult<Accepted> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(db.clone(), app.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        tx.send(Job { order, reply })
            .await
            .map_err(|_| ApiError::invariant("order writer stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::invariant("order writer dropped a job"))?
            .map_err(ApiError::database)
    }
}

async fn run(db: DatabaseConnection, app: Arc<AppSettings>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (batch, replies): (Vec<NewOrder>, Vec<_>) =
            jobs.drain(..).map(|j| (j.order, j.reply)).unzip();
        metrics::histogram!("order_batch_size").record(batch.len() as f64);
        let answers: Vec<Result<Accepted, DbErr>> = match write(&db, &app, &batch).await {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            // One order the database refuses must not fail its neighbours:
            // store them one by one, so only the culprit gets the error.
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %e, batch = batch.len(), "order batch failed; retrying one by one");
                let mut answers = Vec::with_capacity(batch.len());
                for order in &batch {
                    answers.push(
                        write(&db, &app, std::slice::from_ref(order))
                            .await
                            .and_then(|a| {
                                a.into_iter().next().ok_or_else(|| {
                                    DbErr::Custom("a batch of one got no answer".into())
                                })
                            }),
                    );
                }
                answers
            }
            Err(e) => vec![Err(e)],
        };
        let created = answers
            .iter()
            .filter(|a| matches!(a, Ok(Accepted::Created(_))))
            .count();
        let duplicates = answers
            .iter()
            .filter(|a| matches!(a, Ok(Accepted::Duplicate(_))))
            .count();
        metrics::counter!("orders_accepted_total").increment(created as u64);
        metrics::counter!("orders_duplicate_total").increment(duplicates as u64);
        for (reply, answer) in replies.into_iter().zip(answers) {
            if let Err(e) = &answer {
                tracing::error!(error = %e, "order not stored");
            }
            let _ = reply.send(answer);
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
        let tx = Tx::begin(db).await?;
        match orders::insert_batch(&tx, app, batch).await {
            Ok(answers) => {
                tx.commit().await?;
                return Ok(answers);
            }
            Err(e) => {
                let _ = tx.rollback().await;
                let unique = is_unique_violation(&e);
                if !unique || attempt >= 3 {
                    return Err(e);
                }
            }
        }
    }
}

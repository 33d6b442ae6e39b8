//! Group commit for the order intake: requests hand their parsed order to one
//! writer task, which stores whatever is queued in a single transaction and
//! answers each request after the commit. A 201 therefore always means the
//! order (and its confirmation e-mail row) is durable, and SQLite pays one
//! commit per batch instead of one per order.

use std::sync::{Arc, OnceLock};

use loco_rs::app::AppContext;
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{mpsc, mpsc::OwnedPermit, oneshot, Semaphore};

use super::outbox::Handoff;
use crate::{
    errors::{is_deadlock, is_unique_violation, ApiError, ApiResult},
    models::{
        lease,
        orders::{self, Accepted, NewOrder},
        outbox::HandedOver,
        tx::Tx,
    },
    settings::{delta, AppSettings},
};

const MAX_BATCH: usize = 256;
const QUEUE: usize = 8192;

struct Job {
    order: NewOrder,
    reply: oneshot::Sender<Result<Accepted, DbErr>>,
}

/// One per running app; the task starts on first use.
pub struct OrderWriter {
    tx: OnceLock<mpsc::Sender<Job>>,
    /// Where the new orders' confirmations go once committed.
    mail: Arc<Handoff>,
}

impl OrderWriter {
    #[must_use]
    pub fn new(mail: Arc<Handoff>) -> Self {
        Self {
            tx: OnceLock::new(),
            mail,
        }
    }

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
            tokio::spawn(run(db.clone(), app.clone(), self.mail.clone(), rx));
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

/// How long a batch may wait for the orders its predecessor's answers set
/// in motion (see [`gather`]).
const GATHER_AT_MOST: std::time::Duration = std::time::Duration::from_micros(3000);

/// Group commit's convoy: when a batch of 63 commits, its 63 clients send
/// their next orders at once, but the first to arrive used to be written
/// alone (a whole transaction for one order) while the other 62 queued
/// behind it — batches alternated 63, 1, 63, 1. So while the batch is
/// under half the previous one, the writer yields to the runtime (where
/// those requests are being parsed) and takes what arrives, for at most
/// [`GATHER_AT_MOST`]. Under light load the previous batch is small and
/// nothing waits.
async fn gather(rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>, previous: usize) {
    let want = (previous * 3 / 4).min(MAX_BATCH);
    let started = std::time::Instant::now();
    while jobs.len() < want && started.elapsed() < GATHER_AT_MOST {
        tokio::task::yield_now().await;
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
    }
}

/// How many batches are written at once. SQLite takes one writer at a
/// time (and the app has one write connection), so one. PostgreSQL commits
/// concurrent transactions side by side, and a batch spends most of its time
/// in round trips and its commit's WAL flush, so while one batch waits on
/// those the next is already being written: up to half the pool, at most 4,
/// leaving connections for the API and the workers.
fn concurrency(db: &DatabaseConnection) -> usize {
    if db.get_database_backend() == DbBackend::Postgres {
        let pool = db
            .get_postgres_connection_pool()
            .options()
            .get_max_connections();
        usize::try_from(pool / 2).unwrap_or(1).clamp(1, 4)
    } else {
        1
    }
}

async fn run(
    db: DatabaseConnection,
    app: Arc<AppSettings>,
    mail: Arc<Handoff>,
    mut rx: mpsc::Receiver<Job>,
) {
    let slots = Arc::new(Semaphore::new(concurrency(&db)));
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut previous = 0;
    loop {
        // A free slot first, then whatever is queued: orders that arrive
        // while every slot is busy join the next batch, not a closed one.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            return;
        }
        gather(&mut rx, &mut jobs, previous).await;
        previous = jobs.len();
        let batch = std::mem::replace(&mut jobs, Vec::with_capacity(MAX_BATCH));
        let (db, app) = (db.clone(), app.clone());
        let mail = mail.reserve();
        tokio::spawn(async move {
            store_and_answer(&db, &app, batch, mail).await;
            drop(slot);
        });
    }
}

/// Writes one batch and answers each of its requests. With a place in the
/// mail worker's queue, the batch's confirmations are handed to it.
async fn store_and_answer(
    db: &DatabaseConnection,
    app: &AppSettings,
    jobs: Vec<Job>,
    mail: Option<OwnedPermit<HandedOver>>,
) {
    let (batch, replies): (Vec<NewOrder>, Vec<_>) =
        jobs.into_iter().map(|j| (j.order, j.reply)).unzip();
    metrics::histogram!("order_batch_size").record(batch.len() as f64);
    let started = std::time::Instant::now();
    let answers: Vec<Result<Accepted, DbErr>> = match write(db, app, &batch, mail).await {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        // One order the database refuses must not fail its neighbours:
        // store them one by one, so only the culprit gets the error.
        Err(e) if batch.len() > 1 => {
            tracing::warn!(error = %e, batch = batch.len(), "order batch failed; retrying one by one");
            let mut answers = Vec::with_capacity(batch.len());
            for order in &batch {
                answers.push(
                    write(db, app, std::slice::from_ref(order), None)
                        .await
                        .and_then(|a| {
                            a.into_iter()
                                .next()
                                .ok_or_else(|| DbErr::Custom("a batch of one got no answer".into()))
                        }),
                );
            }
            answers
        }
        Err(e) => vec![Err(e)],
    };
    metrics::histogram!("order_batch_seconds").record(started.elapsed().as_secs_f64());
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

/// One transaction per batch. A unique violation means another server, or
/// a concurrent batch on PostgreSQL, stored one of these orders meanwhile, so
/// the batch is retried and sees it; two concurrent batches holding the
/// same two keys in opposite orders can deadlock, and the one PostgreSQL
/// fails is retried too. With `mail`, the confirmations are written leased
/// to the mail worker and handed to it after the commit.
async fn write(
    db: &DatabaseConnection,
    app: &AppSettings,
    batch: &[NewOrder],
    mail: Option<OwnedPermit<HandedOver>>,
) -> Result<Vec<Accepted>, DbErr> {
    let token = mail
        .as_ref()
        .map(|_| lease::token(delta(app.settings.outbox_lease)));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tx = Tx::begin(db).await?;
        match orders::insert_batch(&tx, app, batch, token).await {
            Ok(inserted) => {
                tx.commit().await?;
                if let (Some(place), Some(handed)) = (mail, inserted.mail) {
                    place.send(handed);
                }
                return Ok(inserted.answers);
            }
            Err(e) => {
                let _ = tx.rollback().await;
                let conflict = is_unique_violation(&e) || is_deadlock(&e);
                if !conflict || attempt >= 3 {
                    return Err(e);
                }
            }
        }
    }
}

//! Group commit for the order intake: requests hand their parsed order to one
//! writer task, which stores whatever is queued in a single transaction and
//! answers each request after the commit. A 201 therefore always means the
//! order (and its confirmation e-mail row) is durable, and SQLite pays one
//! commit per batch instead of one per order.
//!
//! A batch is two steps: what it needs to know is read outside any
//! transaction (on SQLite from the read pool, beside the writer), then what
//! it writes is committed as one script. On SQLite that script, `BEGIN` and
//! `COMMIT` included, is one hand-off to sqlx's worker thread on a
//! connection the writer holds across batches ([`Turn`]); each hand-off
//! costs two thread wake-ups, about a millisecond each while both cores
//! serve HTTP, and a batch used to make eight.

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use loco_rs::app::AppContext;
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{mpsc, oneshot};

use crate::{
    errors::{is_unique_violation, ApiError, ApiResult},
    models::{
        orders::{self, Accepted, NewOrder},
        tx::{self, Held, Script, Tx},
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
        reader: &DatabaseConnection,
        app: &Arc<AppSettings>,
        order: NewOrder,
    ) -> ApiResult<Accepted> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let pools = Pools {
                db: db.clone(),
                reader: reader.clone(),
            };
            tokio::spawn(run(pools, app.clone(), rx));
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
const GATHER_AT_MOST: Duration = Duration::from_micros(3000);

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
    let started = Instant::now();
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

/// The writer's connections: `db` writes; `reader` serves the batch's
/// reads (on PostgreSQL both are the same pool).
struct Pools {
    db: DatabaseConnection,
    reader: DatabaseConnection,
}

/// How long the writer may keep SQLite's write connection across
/// back-to-back batches (see [`Turn`]).
const TURN: Duration = Duration::from_millis(20);

/// On SQLite the writer takes the one write connection out of the pool and
/// keeps it while batches follow each other, instead of handing it back
/// after every commit (for sqlx, a spawned task and a ping of its worker
/// thread). It hands it back when no order came for the rest of its turn,
/// or after [`TURN`], so the mail and event workers, which write through
/// the same connection, wait at most that long.
struct Turn {
    held: Held,
    since: Instant,
}

impl Turn {
    fn left(&self) -> Duration {
        TURN.saturating_sub(self.since.elapsed())
    }
}

/// Hands the held connection back to the pool (rolled back first, should a
/// failure have left a transaction open on it).
async fn end_turn(turn: &mut Option<Turn>) {
    if let Some(t) = turn.take() {
        tx::release(t.held).await;
    }
}

/// Waits for the next orders; with the connection held, only for the rest
/// of the turn before handing it back.
async fn next_jobs(
    rx: &mut mpsc::Receiver<Job>,
    jobs: &mut Vec<Job>,
    turn: &mut Option<Turn>,
) -> usize {
    if let Some(left) = turn.as_ref().map(Turn::left) {
        // `recv_many` is cancel-safe: a timeout loses no job.
        if let Ok(n) = tokio::time::timeout(left, rx.recv_many(jobs, MAX_BATCH)).await {
            return n;
        }
        end_turn(turn).await;
    }
    rx.recv_many(jobs, MAX_BATCH).await
}

async fn run(pools: Pools, app: Arc<AppSettings>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut previous = 0;
    let mut turn: Option<Turn> = None;
    while next_jobs(&mut rx, &mut jobs, &mut turn).await > 0 {
        gather(&mut rx, &mut jobs, previous).await;
        previous = jobs.len();
        let (batch, replies): (Vec<NewOrder>, Vec<_>) =
            jobs.drain(..).map(|j| (j.order, j.reply)).unzip();
        metrics::histogram!("order_batch_size").record(batch.len() as f64);
        let started = std::time::Instant::now();
        let answers: Vec<Result<Accepted, DbErr>> = match write(&pools, &mut turn, &app, &batch)
            .await
        {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            // One order the database refuses must not fail its neighbours:
            // store them one by one, so only the culprit gets the error.
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %e, batch = batch.len(), "order batch failed; retrying one by one");
                let mut answers = Vec::with_capacity(batch.len());
                for order in &batch {
                    answers.push(
                        write(&pools, &mut turn, &app, std::slice::from_ref(order))
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
        if turn.as_ref().is_some_and(|t| t.left().is_zero()) {
            end_turn(&mut turn).await;
        }
    }
    end_turn(&mut turn).await;
}

/// One transaction per batch; a unique violation means someone else stored
/// one of these orders meanwhile, so the batch is planned again and sees it.
async fn write(
    pools: &Pools,
    turn: &mut Option<Turn>,
    app: &AppSettings,
    batch: &[NewOrder],
) -> Result<Vec<Accepted>, DbErr> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (answers, script) = orders::plan_batch(&pools.reader, app, batch).await?;
        match commit(&pools.db, turn, script).await {
            Ok(()) => return Ok(answers),
            Err(e) if is_unique_violation(&e) && attempt < 3 => {}
            Err(e) => return Err(e),
        }
    }
}

/// Commits `script`: on SQLite as one hand-off on the held connection
/// (taken out of the pool for a new turn if need be; handed back after a
/// failure), elsewhere in a transaction from the pool.
async fn commit(
    db: &DatabaseConnection,
    turn: &mut Option<Turn>,
    script: Script,
) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        let tx = Tx::begin(db).await?;
        if let Err(e) = script.run(&tx).await {
            let _ = tx.rollback().await;
            return Err(e);
        }
        return tx.commit().await;
    }
    if turn.is_none() {
        *turn = Some(Turn {
            held: tx::hold(db).await?,
            since: Instant::now(),
        });
    }
    let held = turn.as_ref().map(|t| t.held.clone());
    let Some(held) = held else {
        return Err(DbErr::Custom("the write connection was not held".into()));
    };
    let done = script.commit_held(&held).await;
    if done.is_err() {
        end_turn(turn).await;
    }
    done
}

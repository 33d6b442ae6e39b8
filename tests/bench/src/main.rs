//! `make bench`: starts the release server on a fresh SQLite file, onboards an
//! approved company through the public API and the operator task, then posts
//! unique signed orders at several concurrencies and prints throughput,
//! latency percentiles, errors and the server's memory. Then the same
//! keep-alive run again with one `standard` endpoint subscribed to
//! `order.created` on a local receiver: intake with and without events, and
//! the pending deliveries sampled over the run. Finally checks that every
//! 201 is a stored order.

// Shared with the end-to-end tests, which use more of them.
#[allow(dead_code)]
#[path = "../../e2e/company.rs"]
mod company;
mod load;
mod pg;
mod receiver;
mod report;
mod search;
#[allow(dead_code)]
#[path = "../../e2e/server.rs"]
mod server;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
    time::{Duration, Instant},
};

use clap::Parser;

use crate::{
    company::{given_an_approved_company, stored_orders},
    load::Mode,
    report::{Memory, Row},
    server::ServerProcess,
};

/// Signed-order intake load test against the real server binary.
#[derive(Parser, Debug)]
struct Args {
    /// The server binary (normally target/release/order_fellow-cli).
    #[arg(long)]
    server: PathBuf,
    /// Seconds of load per run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// The project folder holding `config/` (the server's working directory).
    #[arg(long, default_value = ".")]
    workdir: PathBuf,
    /// `sqlite` (a fresh file in a temp dir) or `postgres` (a fresh database
    /// on `--pg-url`, dropped afterwards).
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// The PostgreSQL server for `--db postgres`.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Onboard a company, print the intake URL and its key, and keep the
    /// server up until interrupted (for `../shared/perf/compare.sh`).
    #[arg(long)]
    hold: bool,
    /// With `--hold`: also subscribe one `standard` endpoint on a local
    /// receiver to `order.created` (to profile the events path).
    #[arg(long, requires = "hold")]
    hold_endpoint: bool,
    /// After the runs, store this many made-up orders (the `seed_orders`
    /// task), then measure intake again and the order search at that size.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The runs, in order: keep-alive at 16 and 64, then 64 with a new
/// connection per request.
const PLAN: [(Mode, usize); 3] = [
    (Mode::KeepAlive, 16),
    (Mode::KeepAlive, 64),
    (Mode::NewConnection, 64),
];

#[tokio::main]
async fn main() -> ExitCode {
    match bench(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the plan; `Ok(false)` when a request failed or the stored count differs.
async fn bench(args: Args) -> Result<bool, String> {
    let server_bin = args.server.canonicalize().map_err(|e| {
        format!(
            "{}: {e} (build it with `make bench`)",
            args.server.display()
        )
    })?;
    let workdir = args
        .workdir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", args.workdir.display()))?;
    if !workdir.join("config/development.yaml").is_file() {
        return Err(format!(
            "{} has no config/development.yaml: run from the project root or pass --workdir",
            workdir.display()
        ));
    }
    let duration = Duration::from_secs(args.duration.max(1));

    let database = pg::Database::for_bench(&args.db, &args.pg_url)?;
    let mut env = vec![
        ("ORDER_RATE_LIMIT_PER_SEC", "0"),
        // The events run's receiver listens on 127.0.0.1.
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
    ];
    if let Some(url) = database.url() {
        env.push(("DATABASE_URL", url));
        env.push(("DB_MAX_CONNECTIONS", "10"));
    }
    let server = ServerProcess::try_start_binary(&server_bin, &workdir, &env).await?;
    println!(
        "server: {} (pid {}), {}, {}s per run",
        server_bin.display(),
        server.pid().unwrap_or_default(),
        database.describe(),
        duration.as_secs()
    );

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let email = format!(
        "bench-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let onboarding = Instant::now();
    let company = given_an_approved_company(&http, &server, &email)
        .await
        .map_err(|e| {
            format!(
                "onboarding: {e}\nserver output:\n{}",
                tail(&server.output())
            )
        })?;
    println!(
        "company approved and secret fetched in {:.1}s\n",
        onboarding.elapsed().as_secs_f64()
    );
    if args.hold {
        let _receiver = if args.hold_endpoint {
            Some(subscribe_receiver(&http, &server, &company).await?.0)
        } else {
            None
        };
        println!(
            "URL={}/api/v1/webhooks/orders/\nKEY={}\nPID={}\nholding until interrupted…",
            server.base_url(),
            company.secret_key,
            server.pid().unwrap_or_default()
        );
        let _ = tokio::signal::ctrl_c().await;
        return Ok(true);
    }

    let mut rows = Vec::new();
    let (mut created, mut errors) = (0u64, 0u64);
    for (mode, concurrency) in PLAN {
        println!("running {} at concurrency {concurrency}…", mode.label());
        let before = Probe::take(&http, &server).await;
        let outcome = load::run(
            &server.base_url(),
            &company.secret_key,
            mode,
            concurrency,
            duration,
        )
        .await?;
        created += outcome.created;
        errors += outcome.errors;
        for error in &outcome.first_errors {
            println!("  error: {error}");
        }
        let after = Probe::take(&http, &server).await;
        rows.push(row(
            database.kind(),
            mode.label(),
            concurrency,
            &outcome,
            &server,
            &before,
            &after,
        ));
    }
    let events = events_run(&http, &server, database.kind(), &company, duration).await?;
    created += events.row_created;
    errors += events.row.errors;
    let without = rows
        .iter()
        .find(|r| r.mode == "keep-alive" && r.concurrency == EVENTS_CONCURRENCY)
        .map_or(0.0, |r| r.orders_per_sec);
    let with = events.row.orders_per_sec;
    rows.push(events.row);
    println!("\n{}", report::render(&rows));
    println!(
        "events: {with:.0} orders/s with one standard endpoint vs {without:.0} without ({:+.1} %); \
         pending deliveries sampled each second over the run: first {}, max {}, last {}; \
         all delivered {:.1}s after the load stopped; the receiver got {} deliveries",
        (with / without.max(f64::EPSILON) - 1.0) * 100.0,
        events.pending.first().copied().unwrap_or_default(),
        events.pending.iter().max().copied().unwrap_or_default(),
        events.pending.last().copied().unwrap_or_default(),
        events.drained.as_secs_f64(),
        events.received,
    );

    let mut seeded = 0;
    if args.seed > 0 {
        let at_scale = at_scale(&http, &server, &database, &company, args.seed, duration).await?;
        seeded = args.seed;
        created += at_scale.row_created;
        errors += at_scale.row.errors + at_scale.search.errors + at_scale.search.empty;
        let with = at_scale.row.orders_per_sec;
        let search = &at_scale.search;
        println!("\n{}", report::render(std::slice::from_ref(&at_scale.row)));
        println!(
            "at {} stored orders (seeded in {:.1}s): intake {with:.0} orders/s vs {without:.0} \
             on the small database ({:+.1} %); search `GET /api/v1/orders/?q=` from {SEARCH_CONCURRENCY} \
             clients: {} queries, p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, {} found nothing, {} errors",
            at_scale.total,
            at_scale.seeding.as_secs_f64(),
            (with / without.max(f64::EPSILON) - 1.0) * 100.0,
            search.queries,
            search.latency_ms(0.5),
            search.latency_ms(0.99),
            search.latency_ms(0.999),
            search.empty,
            search.errors,
        );
        println!("  search p50/p99 ms by query: {}", search.by_kind_summary());
        for error in &search.first_errors {
            println!("  search error: {error}");
        }
    }

    let stored = stored_orders(&http, &server, &company).await?;
    let consistent = stored == created + seeded;
    println!(
        "orders stored: {stored}, 201 answers: {created}, seeded: {seeded}, errors: {errors} — {}",
        if consistent { "OK" } else { "MISMATCH" }
    );
    if errors > 0 || !consistent {
        eprintln!("server output (tail):\n{}", tail(&server.output()));
    }
    Ok(consistent && errors == 0)
}

/// What the server had used and queued before a run.
struct Probe {
    cpu: Option<Duration>,
    outbox: Option<u64>,
    at: Instant,
}

impl Probe {
    async fn take(http: &reqwest::Client, server: &ServerProcess) -> Self {
        Self {
            cpu: report::cpu_time(server.pid()),
            outbox: receiver::gauge(http, &server.base_url(), "outbox_pending")
                .await
                .ok(),
            at: Instant::now(),
        }
    }
}

/// One line of the table for a run: the load's figures, the server's memory
/// now, its CPU per accepted order, and the mail it sent meanwhile (every
/// accepted order queues one confirmation).
fn row(
    db: &'static str,
    mode: &str,
    concurrency: usize,
    outcome: &load::Outcome,
    server: &ServerProcess,
    before: &Probe,
    after: &Probe,
) -> Row {
    let secs = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let mail_per_sec = before.outbox.zip(after.outbox).map(|(b, a)| {
        let sent = (b + outcome.created).saturating_sub(a);
        sent as f64 / secs
    });
    let cpu_ms_per_order = before
        .cpu
        .zip(after.cpu)
        .filter(|_| outcome.created > 0)
        .map(|(b, a)| a.saturating_sub(b).as_secs_f64() * 1000.0 / outcome.created as f64);
    Row {
        db,
        mode: mode.to_string(),
        concurrency,
        orders_per_sec: outcome.orders_per_sec(),
        p50_ms: outcome.latency_ms(0.5),
        p99_ms: outcome.latency_ms(0.99),
        p999_ms: outcome.latency_ms(0.999),
        errors: outcome.errors,
        mail_per_sec,
        outbox_pending: after.outbox,
        memory: Memory::of_process(server.pid()),
        cpu_ms_per_order,
    }
}

/// The concurrency of the keep-alive run repeated with an endpoint.
const EVENTS_CONCURRENCY: usize = 64;

/// What the run with an event endpoint measured.
struct EventsRun {
    row: Row,
    row_created: u64,
    /// `event_deliveries_pending`, once a second during the load.
    pending: Vec<u64>,
    /// From the end of the load until nothing was pending.
    drained: Duration,
    received: u64,
}

/// Starts a local receiver and subscribes one `standard` endpoint on it to
/// `order.created`; returns the receiver and the endpoint as created.
async fn subscribe_receiver(
    http: &reqwest::Client,
    server: &ServerProcess,
    company: &company::Company,
) -> Result<(receiver::Receiver, serde_json::Value), String> {
    let receiver = receiver::Receiver::start().await?;
    let (status, body) = company::call(
        http,
        reqwest::Method::POST,
        &format!("{}/api/v1/webhook/endpoints/", server.base_url()),
        Some(&company.token),
        Some(&serde_json::json!({"url": receiver.url, "events": ["order.created"]})),
    )
    .await?;
    if status != 201 {
        return Err(format!("endpoint: {status} {body}"));
    }
    Ok((receiver, body))
}

/// Subscribes one `standard` endpoint on a local receiver to
/// `order.created`, then repeats the keep-alive run.
async fn events_run(
    http: &reqwest::Client,
    server: &ServerProcess,
    db: &'static str,
    company: &company::Company,
    duration: Duration,
) -> Result<EventsRun, String> {
    let (receiver, body) = subscribe_receiver(http, server, company).await?;
    println!("running keep-alive at concurrency {EVENTS_CONCURRENCY} with one standard endpoint…");
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(receiver::sample(
        http.clone(),
        server.base_url(),
        Duration::from_secs(1),
        Arc::clone(&stop),
    ));
    let (row, outcome) = keep_alive_run(
        http,
        server,
        company,
        (db, "keep-alive + endpoint"),
        duration,
    )
    .await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let pending = sampler.await.map_err(|e| format!("sampler: {e}"))?;
    let drained = receiver::drained(http, &server.base_url(), Duration::from_secs(120)).await?;
    // Later runs measure intake alone.
    let id = body["id"].as_str().unwrap_or_default();
    let (status, _) = company::call(
        http,
        reqwest::Method::DELETE,
        &format!("{}/api/v1/webhook/endpoints/{id}/", server.base_url()),
        Some(&company.token),
        None,
    )
    .await?;
    if status != 204 && status != 200 {
        return Err(format!("deleting the endpoint: {status}"));
    }
    Ok(EventsRun {
        row,
        row_created: outcome.created,
        pending,
        drained,
        received: receiver.received(),
    })
}

/// The keep-alive run at [`EVENTS_CONCURRENCY`], as the table row `mode`,
/// with the server probed before and after; also the outcome itself.
async fn keep_alive_run(
    http: &reqwest::Client,
    server: &ServerProcess,
    company: &company::Company,
    (db, mode): (&'static str, &str),
    duration: Duration,
) -> Result<(Row, load::Outcome), String> {
    let before = Probe::take(http, server).await;
    let outcome = load::run(
        &server.base_url(),
        &company.secret_key,
        load::Mode::KeepAlive,
        EVENTS_CONCURRENCY,
        duration,
    )
    .await?;
    let after = Probe::take(http, server).await;
    for error in &outcome.first_errors {
        println!("  error: {error}");
    }
    let row = row(
        db,
        mode,
        EVENTS_CONCURRENCY,
        &outcome,
        server,
        &before,
        &after,
    );
    Ok((row, outcome))
}

/// Concurrent clients of the search run.
const SEARCH_CONCURRENCY: usize = 8;

/// What the run at scale measured.
struct AtScale {
    row: Row,
    row_created: u64,
    /// Orders stored when it ran.
    total: u64,
    seeding: Duration,
    search: search::Outcome,
}

/// Seeds `count` orders for the company, then repeats the keep-alive run
/// and searches.
async fn at_scale(
    http: &reqwest::Client,
    server: &ServerProcess,
    database: &pg::Database,
    company: &company::Company,
    count: u64,
    duration: Duration,
) -> Result<AtScale, String> {
    println!("\nseeding {count} orders…");
    let started = Instant::now();
    let out = server
        .run_task(
            "seed_orders",
            &[
                &format!("email:{}", company.email),
                &format!("count:{count}"),
            ],
        )
        .await?;
    let seeding = started.elapsed();
    print!("{out}");
    let total = stored_orders(http, server, company).await?;
    println!("running keep-alive at concurrency {EVENTS_CONCURRENCY} with {total} orders stored…");
    let mode = format!("keep-alive, {total} stored");
    let (row, outcome) =
        keep_alive_run(http, server, company, (database.kind(), &mode), duration).await?;
    println!("searching from {SEARCH_CONCURRENCY} clients…");
    let search = search::run(
        http,
        &server.base_url(),
        &company.token,
        total,
        SEARCH_CONCURRENCY,
        duration,
    )
    .await?;
    Ok(AtScale {
        row,
        row_created: outcome.created,
        total,
        seeding,
        search,
    })
}

/// The last few kB of the server's output.
fn tail(output: &str) -> &str {
    let start = output.len().saturating_sub(4096);
    let start = (start..output.len())
        .find(|&i| output.is_char_boundary(i))
        .unwrap_or(output.len());
    &output[start..]
}

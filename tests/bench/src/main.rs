//! `make bench`: starts the release server on a fresh SQLite file, onboards an
//! approved company through the public API and the operator task, then posts
//! unique signed orders at several concurrencies and prints throughput,
//! latency percentiles, errors and the server's memory. Finally checks that
//! every 201 is a stored order.

// Shared with the end-to-end tests, which use more of them.
#[allow(dead_code)]
#[path = "../../e2e/company.rs"]
mod company;
mod load;
mod report;
#[allow(dead_code)]
#[path = "../../e2e/server.rs"]
mod server;

use std::{
    path::PathBuf,
    process::ExitCode,
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

    let server = ServerProcess::try_start_binary(
        &server_bin,
        &workdir,
        &[("ORDER_RATE_LIMIT_PER_SEC", "0")],
    )
    .await?;
    println!(
        "server: {} (pid {}), SQLite in a temp dir, {}s per run",
        server_bin.display(),
        server.pid().unwrap_or_default(),
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

    let mut rows = Vec::new();
    let (mut created, mut errors) = (0u64, 0u64);
    for (mode, concurrency) in PLAN {
        println!("running {} at concurrency {concurrency}…", mode.label());
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
        rows.push(Row {
            mode: mode.label().to_string(),
            concurrency,
            orders_per_sec: outcome.orders_per_sec(),
            p50_ms: outcome.latency_ms(0.5),
            p99_ms: outcome.latency_ms(0.99),
            p999_ms: outcome.latency_ms(0.999),
            errors: outcome.errors,
            memory: Memory::of_process(server.pid()),
        });
    }
    println!("\n{}", report::render(&rows));

    let stored = stored_orders(&http, &server, &company).await?;
    let consistent = stored == created;
    println!(
        "orders stored: {stored}, 201 answers: {created}, errors: {errors} — {}",
        if consistent { "OK" } else { "MISMATCH" }
    );
    if errors > 0 || !consistent {
        eprintln!("server output (tail):\n{}", tail(&server.output()));
    }
    Ok(consistent && errors == 0)
}

/// The last few kB of the server's output.
fn tail(output: &str) -> &str {
    let start = output.len().saturating_sub(4096);
    let start = (start..output.len())
        .find(|&i| output.is_char_boundary(i))
        .unwrap_or(output.len());
    &output[start..]
}

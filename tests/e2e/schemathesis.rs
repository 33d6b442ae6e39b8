//! schemathesis (PyPI, from the tools venv) against the live server: a
//! bounded number of generated requests per documented operation, as a
//! business (every operation) and as an admin (the review API). No answer
//! may be a 5xx, and every answer must have a documented status, content
//! type and schema. `schemathesis_hooks.py` signs the order webhook's
//! requests with the company's key, so generated bodies get past the
//! signature check and reach validation.

use std::{path::PathBuf, process::Stdio, time::Duration};

use super::{
    company::{given_an_approved_company, stored_orders, PASSWORD},
    http,
    server::ServerProcess,
    unique_email,
};
use crate::support::tools;

/// Generated cases per operation and phase: enough to hit each operation's
/// edges, few enough for a 2-core CI machine.
const MAX_EXAMPLES: &str = "10";
/// One run's ceiling (a run takes well under a minute here).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_schema_conformance";

/// Where each run's JUnit report goes, for a look after a failure.
fn report_dir() -> PathBuf {
    tools::repo("target/schemathesis")
}

/// Runs `st run` as `who` with `extra` arguments, signing the order webhook
/// with `api_key` when given; panics with its output on any failure.
async fn fuzz(
    st: &PathBuf,
    server: &ServerProcess,
    who: &str,
    token: &str,
    api_key: Option<&str>,
    extra: &[&str],
) {
    let base = server.base_url();
    let schema = format!("{base}/api/v1/openapi.json");
    let auth = format!("Authorization: Bearer {token}");
    let junit = report_dir().join(format!("{who}.xml"));
    let mut args: Vec<&str> = vec![
        "run",
        &schema,
        "--url",
        &base,
        "--checks",
        CHECKS,
        "--max-examples",
        MAX_EXAMPLES,
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "20261127",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
    ];
    let junit = junit.display().to_string();
    args.push(&junit);
    args.extend(["-H", &auth]);
    // Logging out would revoke the token for the rest of the run.
    args.extend(["--exclude-path", "/api/v1/auth/logout"]);
    args.extend(extra);
    let run = tokio::process::Command::new(st)
        .args(&args)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env(
            "SCHEMATHESIS_HOOKS",
            tools::repo("tests/e2e/schemathesis_hooks.py"),
        )
        .env("MOF_FUZZ_API_KEY", api_key.unwrap_or_default())
        // Its cache goes where it runs: under target/, not into the repository.
        .current_dir(report_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("schemathesis as {who} ran longer than {RUN_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("schemathesis: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis as {who} found problems (report: {junit}):\n{stdout}\n{stderr}\n\
         server output:\n{}",
        server.output()
    );
    eprintln!("schemathesis as {who}:\n{}", tail(&stdout, 25));
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let Some(st) = tools::venv_bin("st") else {
        return;
    };
    std::fs::create_dir_all(report_dir()).unwrap();
    let mut server = ServerProcess::start(&[("SIGNUP_ADDRESS_LIMIT", "1000")]).await;
    let http = http();
    let company = given_an_approved_company(&http, &server, &unique_email("fuzz"))
        .await
        .unwrap();

    let admin_email = unique_email("admin");
    server.set_env("ADMIN_PASSWORD", PASSWORD);
    server
        .run_task("create_admin", &[&format!("email:{admin_email}")])
        .await
        .unwrap();
    let login = http
        .post(format!("{}/api/v1/auth/login", server.base_url()))
        .json(&serde_json::json!({"email": admin_email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let admin_token = login.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    // The order webhook first, signed, while the key is the one the hook
    // holds (the full run below may rotate and revoke it).
    fuzz(
        &st,
        &server,
        "orders",
        &company.token,
        Some(&company.secret_key),
        &["--include-tag", "order webhook"],
    )
    .await;
    let stored = stored_orders(&http, &server, &company).await.unwrap();
    assert!(
        stored > 0,
        "no signed order reached the intake: the hook did not sign"
    );
    fuzz(
        &st,
        &server,
        "business",
        &company.token,
        Some(&company.secret_key),
        &[],
    )
    .await;
    fuzz(
        &st,
        &server,
        "admin",
        &admin_token,
        None,
        &["--include-tag", "admin"],
    )
    .await;
}

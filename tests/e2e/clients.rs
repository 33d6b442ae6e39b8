//! The seed's client examples (`tests/clients/`), run as a business would
//! run them against the real server.

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::Value;

use super::{
    company::{given_an_approved_company, stored_orders, Company},
    http,
    server::ServerProcess,
    unique_email,
};
use crate::support::tools;

/// Generous for a loaded 2-core machine; a client run installs nothing.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

fn client(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

async fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(CLIENT_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} ran longer than {CLIENT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs one client and checks it printed `{"status": "success", "order_id": …}`
/// and that the company has exactly one more order.
async fn assert_client_creates_an_order(
    server: &ServerProcess,
    company: &Company,
    program: &str,
    script: &str,
) {
    let http = http();
    let before = stored_orders(&http, server, company).await.unwrap();
    let base_url = server.base_url();
    let script = client(script);
    let (ok, stdout, stderr) = run(
        program,
        &[script.to_str().unwrap()],
        &[
            ("BASE_URL", base_url.as_str()),
            ("API_KEY", company.secret_key.as_str()),
        ],
    )
    .await;
    assert!(ok, "{script:?} failed:\n{stdout}\n{stderr}");
    let answer: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{script:?} printed no JSON:\n{stdout}"));
    assert_eq!(answer["status"], "success", "{answer}");
    assert!(answer["order_id"].is_string(), "{answer}");
    assert_eq!(
        stored_orders(&http, server, company).await.unwrap(),
        before + 1,
        "{script:?} stored exactly one order"
    );
}

#[tokio::test]
async fn the_seeds_python_curl_and_node_clients_each_create_an_order() {
    let server = ServerProcess::start(&[]).await;
    let company = given_an_approved_company(&http(), &server, &unique_email("clients"))
        .await
        .unwrap_or_else(|e| panic!("{e}\nserver output:\n{}", server.output()));

    // The venv of `make tools` carries `requests`; nothing is installed here.
    if let Some(python) = tools::python() {
        let python = python.to_str().unwrap();
        assert_client_creates_an_order(&server, &company, python, "python_client.py").await;
    }

    if tools::system("curl", "--version").is_some() && tools::system("openssl", "version").is_some()
    {
        assert_client_creates_an_order(&server, &company, "bash", "curl_client.sh").await;
    }

    if tools::node().is_some() {
        assert_client_creates_an_order(&server, &company, "node", "node_client.js").await;
    }

    assert!(
        !server.output().contains(&company.secret_key),
        "the webhook secret reached the server's output"
    );
}

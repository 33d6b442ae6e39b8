//! The other end of outbound events: a capture server on 127.0.0.1 that
//! records every request (headers and raw body) and answers scripted
//! statuses, and the receivers' own verification code, written by others,
//! run over what it captured: the `standardwebhooks` package (Python), seed
//! 000's `validateWebhook` (Node) and seed 001's python-jose check.
//!
//! The Python packages come from `tests/tools/requirements.txt`, installed
//! into `target/tools/venv` (`make tools`); tests install nothing. Without
//! them (or without Node) a verification is skipped with a notice locally
//! and fails in CI (`support::tools`).
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, VecDeque},
    net::SocketAddr,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// One request the capture server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Lower-case names, as HTTP/1.1 servers see them.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The event id (every scheme's body carries it).
    pub fn event_id(&self) -> String {
        self.json()["id"].as_str().unwrap_or_default().to_string()
    }

    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }
}

#[derive(Default)]
struct Script {
    received: Vec<Received>,
    /// Statuses to answer first, in order; then `then`.
    first: VecDeque<u16>,
    then: u16,
    /// How long to hold each answer.
    delay: Duration,
}

/// A receiver bound on 127.0.0.1 on a free port; stops when dropped.
pub struct Capture {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(script): State<Arc<Mutex<Script>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let (status, delay) = {
        let mut s = script.lock().unwrap();
        s.received.push(Received {
            path: uri.path().to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: body.to_vec(),
        });
        let status = s.first.pop_front().unwrap_or(s.then);
        (status, s.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    (
        StatusCode::from_u16(status).unwrap(),
        if status < 300 { "thanks" } else { "no thanks" },
    )
}

impl Capture {
    /// Answers 200 to everything.
    pub async fn start() -> Self {
        Self::scripted(&[], 200).await
    }

    /// Answers `first` in order, then `then` forever.
    pub async fn scripted(first: &[u16], then: u16) -> Self {
        let script = Arc::new(Mutex::new(Script {
            first: first.iter().copied().collect(),
            then,
            ..Script::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(script.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, script, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }

    pub fn hold_answers_for(&self, delay: Duration) {
        self.script.lock().unwrap().delay = delay;
    }

    pub fn answer(&self, status: u16) {
        self.script.lock().unwrap().then = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }

    /// Polls (with `step` run between looks, e.g. one worker round) until
    /// `done` holds for what was received, or panics after `within`.
    pub async fn until<F, Fut>(
        &self,
        within: Duration,
        mut step: F,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let deadline = Instant::now() + within;
        loop {
            step().await;
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected within {within:?}; got {} requests: {:?}",
                got.len(),
                got.iter().map(|r| (r.event_type(), r.path.clone())).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

use crate::support::tools::repo;
pub use crate::support::tools::{node, python};

/// Runs `program script args…` with `input` on stdin; returns (success, stdout, stderr).
async fn run(
    program: &PathBuf,
    script: &str,
    args: &[&str],
    input: &Value,
) -> (bool, String, String) {
    let mut child = tokio::process::Command::new(program)
        .arg(repo(script))
        .args(args)
        // Seed 001 compares a UTC timestamp with the local `datetime.now()`.
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("a receiver check ran for over a minute")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn results(ok: bool, stdout: &str, stderr: &str) -> Vec<Value> {
    assert!(ok, "the receiver script failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The `standardwebhooks` package's verdict on each delivery under `secret`:
/// `Ok(())` or its error. `None` when the package is not installed (local runs).
pub async fn standard_webhooks(
    secret: &str,
    deliveries: &[Received],
) -> Option<Vec<Result<(), String>>> {
    let python = python()?;
    let names = ["webhook-id", "webhook-timestamp", "webhook-signature"];
    let cases = cases(secret, deliveries, &names);
    let (ok, out, err) = run(&python, "tests/receivers/standard_webhooks.py", &[], &cases).await;
    Some(verdicts(results(ok, &out, &err)))
}

/// Seed 000's `validateWebhook` (Node) on each delivery under `secret`.
pub async fn qgen(secret: &str, deliveries: &[Received]) -> Option<Vec<Result<(), String>>> {
    let node = node()?;
    // Handed over under the names the seed reads.
    let names = [
        "SignatureHeaderKey",
        "SignatureHeaderTimestampKey",
        "SignatureHeaderEndpoint",
    ];
    let cases = cases(secret, deliveries, &names);
    let (ok, out, err) = run(&node, "tests/receivers/qgen.js", &[], &cases).await;
    Some(verdicts(results(ok, &out, &err)))
}

/// Seed 001's python-jose check of one delivery, with our public key (PEM)
/// and the expected `uri`.
pub async fn qitech(
    public_key_pem: &str,
    expected_uri: &str,
    delivery: &Received,
) -> Option<Result<(), String>> {
    let python = python()?;
    let key_lines: Vec<&str> = public_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let input = json!({
        "public_key": key_lines.join("\n"),
        "headers": {
            "AUTHORIZATION": delivery.header("authorization"),
            "API-CLIENT-KEY": delivery.header("api-client-key"),
        },
        "body": delivery.body_str(),
    });
    let (ok, out, err) = run(
        &python,
        "tests/receivers/qitech.py",
        &[expected_uri],
        &input,
    )
    .await;
    Some(if ok {
        Ok(())
    } else {
        Err(format!("{out}{err}"))
    })
}

/// One verification case per delivery: the secret, the headers `names`
/// (under those names), the raw body.
fn cases(secret: &str, deliveries: &[Received], names: &[&str]) -> Value {
    deliveries
        .iter()
        .map(|r| {
            let headers: serde_json::Map<String, Value> = names
                .iter()
                .map(|n| ((*n).to_string(), json!(r.header(n))))
                .collect();
            json!({"secret": secret, "headers": headers, "body": r.body_str()})
        })
        .collect()
}

fn verdicts(raw: Vec<Value>) -> Vec<Result<(), String>> {
    raw.into_iter()
        .map(|v| match v {
            Value::Bool(true) => Ok(()),
            other => Err(other.to_string()),
        })
        .collect()
}

//! The security hardening seen from outside the real server process: early
//! refusals close connections gracefully, a login flood is bounded in
//! memory, the order intake logs with request ids, and `SECRETS_KEY` can be
//! rotated under a serving server.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    company::{call, given_a_verified_business, given_an_approved_company, is_to, sign},
    http,
    server::ServerProcess,
    unique_email,
};

fn host_port(server: &ServerProcess) -> String {
    server.base_url().trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn an_early_413_says_connection_close_and_the_connection_ends_without_a_reset() {
    let server = ServerProcess::start(&[]).await;
    let addr = host_port(&server);
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // A megabyte to an endpoint that takes 64 KiB: refused on its length,
    // before one byte of it is read.
    let body = vec![b' '; 1 << 20];
    let head = format!(
        "POST /api/v1/auth/login/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let sending = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(&body).await?;
        writer.flush().await
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(
        read.is_ok(),
        "the connection ended with {read:?} instead of a clean close; got: {text}"
    );
    assert!(text.starts_with("http/1.1 413"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    assert!(
        text.ends_with(r#"{"error":"request body too large"}"#),
        "{text}"
    );
    sending
        .await
        .unwrap()
        .expect("the whole body was taken, not reset");
}

#[tokio::test]
async fn a_pooled_client_goes_on_after_early_refusals() {
    let server = ServerProcess::start(&[]).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let base = server.base_url();
    let too_large = json!({"email": "a@example.com", "password": "x".repeat(200 * 1024)});
    for _ in 0..5 {
        let res = http
            .post(format!("{base}/api/v1/auth/login/"))
            .json(&too_large)
            .send()
            .await
            .expect("the 413 arrives");
        assert_eq!(res.status(), 413);
        assert_eq!(res.headers()["connection"], "close");
        // An order with an unknown key: refused before its body is read.
        let res = http
            .post(format!("{base}/api/v1/webhooks/orders/"))
            .header("x-api-key", format!("whsk_{}", "0".repeat(43)))
            .header("content-type", "application/json")
            .body(vec![b' '; 256 * 1024])
            .send()
            .await
            .expect("the 401 arrives");
        assert_eq!(res.status(), 401);
        let res = http
            .get(format!("{base}/_ping"))
            .send()
            .await
            .expect("the next request on the pool succeeds");
        assert!(res.status().is_success());
    }
}

/// The server's peak resident memory, in MB.
fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/<pid>/status");
    kb / 1024
}

#[tokio::test]
async fn three_hundred_concurrent_logins_stay_under_250_mb_and_all_get_an_answer() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to read the server's memory from");
        return;
    }
    // Every login reaches the hasher: the per-address budget is out of the way.
    let server = ServerProcess::start(&[("LOGIN_ADDRESS_FAILURE_LIMIT", "100000")]).await;
    let pid = server.pid().unwrap();
    let url = format!("{}/api/v1/auth/login/", server.base_url());
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let logins = (0..300).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let email = format!("flood-{i}@example.com");
            http.post(url)
                .json(&json!({"email": email, "password": "correct horse battery"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        })
    });
    let answers: Vec<Result<u16, String>> = futures::future::join_all(logins)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let elapsed = started.elapsed();
    for answer in &answers {
        match answer {
            Ok(401 | 429 | 503) => {}
            other => panic!("a login answered {other:?}"),
        }
    }
    let peak = peak_rss_mb(pid);
    eprintln!(
        "300 logins in {elapsed:?}: {} x 401, {} x 429, {} x 503; peak RSS {peak} MB",
        answers.iter().filter(|a| **a == Ok(401)).count(),
        answers.iter().filter(|a| **a == Ok(429)).count(),
        answers.iter().filter(|a| **a == Ok(503)).count(),
    );
    assert!(peak < 250, "peak RSS {peak} MB");
}

#[tokio::test]
async fn a_refused_order_is_logged_with_its_request_id() {
    let server = ServerProcess::start(&[]).await;
    let res = http()
        .post(format!("{}/api/v1/webhooks/orders/", server.base_url()))
        .header("x-request-id", "e2e-intake-7731")
        .header("x-api-key", format!("whsk_{}", "1".repeat(43)))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = server.output();
        if let Some(line) = output.lines().find(|l| l.contains("order webhook refused")) {
            assert!(line.contains("e2e-intake-7731"), "{line}");
            return;
        }
        assert!(Instant::now() < deadline, "no refusal logged:\n{output}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 32 random bytes, hex.
fn random_key() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")
}

/// A port nothing listens on: mail sent there fails and stays queued.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn secret_of(server: &ServerProcess, token: &str) -> String {
    let (status, body) = call(
        &http(),
        Method::GET,
        &format!("{}/api/v1/webhook/secret/", server.base_url()),
        Some(token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    body["secret_key"].as_str().unwrap().to_string()
}

/// The number in `<column>: <n> re-encrypted` of the task's report.
fn resealed(report: &str, column: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{column}: ")))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no line for {column} in:\n{report}"))
}

async fn wait_for_mail(server: &ServerProcess, to: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = std::fs::read_dir(server.outbox_dir())
            .ok()
            .is_some_and(|dir| {
                dir.filter_map(Result::ok).any(|e| {
                    std::fs::read_to_string(e.path())
                        .is_ok_and(|m| is_to(&m, to) && m.contains(needle))
                })
            });
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {to} with {needle:?}; server output:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn secrets_key_rotation_keeps_every_secret_and_mail_readable() {
    let (old_key, new_key) = (random_key(), random_key());
    let mut server = ServerProcess::start(&[("SECRETS_KEY", old_key.as_str())]).await;
    let http = http();
    let api = format!("{}/api/v1", server.base_url());

    // Under the old key: an approved company, and one whose approval (with
    // its key and its mail) is written by the operator task while the
    // server is down, so the mail is still queued.
    let first = given_an_approved_company(&http, &server, &unique_email("rot1"))
        .await
        .unwrap();
    let second_email = unique_email("rot2");
    let second = given_a_verified_business(&http, &server, &second_email)
        .await
        .unwrap();
    let (status, kyc) = call(
        &http,
        Method::POST,
        &format!("{api}/kyc/"),
        Some(&second),
        Some(&json!({
            "business_name": "Difference Engines Ltd",
            "registration_number": "RC-1822",
            "country": "GB",
            "business_address": "1 Dorset Street, London",
        })),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{kyc}");
    server.kill_9();
    server
        .run_task(
            "kyc_approve",
            &[&format!("ids:{}", kyc["id"].as_str().unwrap())],
        )
        .await
        .unwrap();

    // The new key, the old one beside it; mail cannot leave (SMTP is down).
    let port = closed_port().to_string();
    for (k, v) in [
        ("SECRETS_KEY", new_key.as_str()),
        ("SECRETS_KEY_PREVIOUS", old_key.as_str()),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", port.as_str()),
        ("SMTP_TLS", "none"),
    ] {
        server.set_env(k, v);
    }
    server.restart().await;
    assert_eq!(secret_of(&server, &first.token).await, first.secret_key);
    let second_key = secret_of(&server, &second).await;
    let body = json!({
        "customer_details": {"name": "John Doe", "email": "john@example.com", "phone": "+2348123456789"},
        "item_summary": "iPhone 15 x2",
        "address": "123 Main St, Lagos",
    })
    .to_string();
    let res = http
        .post(format!("{api}/webhooks/orders/"))
        .header("x-api-key", &first.secret_key)
        .header(
            "x-webhook-signature",
            sign(&first.secret_key, body.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Re-encrypt while the server serves; a second run finds nothing left.
    let report = server.run_task("rotate_secrets_key", &[]).await.unwrap();
    assert_eq!(
        resealed(&report, "webhook_secrets.secret_encrypted"),
        2,
        "{report}"
    );
    assert!(
        resealed(&report, "outbox_messages.payload") >= 1,
        "{report}"
    );
    let again = server.run_task("rotate_secrets_key", &[]).await.unwrap();
    assert_eq!(
        resealed(&again, "webhook_secrets.secret_encrypted"),
        0,
        "{again}"
    );
    assert_eq!(resealed(&again, "outbox_messages.payload"), 0, "{again}");

    // Only the new key now: everything still reads, the queued mail goes out.
    for (k, v) in [("SECRETS_KEY_PREVIOUS", ""), ("SMTP_HOST", "")] {
        server.set_env(k, v);
    }
    server.restart().await;
    assert_eq!(secret_of(&server, &first.token).await, first.secret_key);
    assert_eq!(secret_of(&server, &second).await, second_key);
    wait_for_mail(&server, &second_email, "approved").await;
}

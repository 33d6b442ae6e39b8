//! The server process's life: the probes, the read timeout that cuts a
//! client trickling its request in (slowloris), and the graceful shutdown
//! on SIGTERM.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{
    company::{given_an_approved_company, signed_post, stored_orders, Company},
    http,
    server::ServerProcess,
    unique_email,
};

#[tokio::test]
async fn healthz_is_live_and_readyz_checks_the_database() {
    let server = ServerProcess::start(&[]).await;
    let http = http();
    let live = http
        .get(format!("{}/healthz", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let ready = http
        .get(format!("{}/readyz", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready", "database": "ok", "redis": "not configured"})
    );
}

/// Sends `head` and then `body` one byte every `every`, for at most `for_at_most`;
/// answers what the server sent back and how long after the first byte the
/// connection ended (`None`: still open).
async fn trickle(
    port_url: &str,
    head: &str,
    body: &[u8],
    every: Duration,
    for_at_most: Duration,
) -> (String, Option<Duration>) {
    let addr = port_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.split();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let bytes: Vec<u8> = head.bytes().chain(body.iter().copied()).collect();
    let mut sent = 0;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => return (String::from_utf8_lossy(&answer).into_owned(), Some(started.elapsed())),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tick.tick() => {
                if started.elapsed() > for_at_most {
                    return (String::from_utf8_lossy(&answer).into_owned(), None);
                }
                // The head goes at once when `head` is complete; else byte by byte.
                let chunk = if sent == 0 && head.ends_with("\r\n\r\n") { head.len() } else { 1 };
                if sent < bytes.len() {
                    let end = (sent + chunk).min(bytes.len());
                    if writer.write_all(&bytes[sent..end]).await.is_err() {
                        return (String::from_utf8_lossy(&answer).into_owned(), Some(started.elapsed()));
                    }
                    sent = end;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_request_trickling_in_is_cut_after_the_read_timeout_on_every_route() {
    let server = ServerProcess::start(&[("READ_TIMEOUT_SECS", "1")]).await;
    let base = server.base_url();
    let body = br#"{"email":"slow@example.com","password":"correct horse battery"}"#;
    for path in [
        "/api/v1/auth/login/",
        "/api/v1/auth/register/",
        "/api/v1/webhooks/kyc/sumsub/",
        "/no/such/route",
    ] {
        // A complete head, then the body a byte every 200 ms: 408 after ~1 s.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let (answer, ended) = trickle(
            &base,
            &head,
            body,
            Duration::from_millis(200),
            Duration::from_secs(8),
        )
        .await;
        let ended = ended.unwrap_or_else(|| panic!("{path}: still open after 8 s: {answer:?}"));
        assert!(
            ended < Duration::from_secs(4),
            "{path}: cut only after {ended:?}"
        );
        // A route that answers before reading the body (404, a provider
        // without a secret) says so at once; every other one times out.
        assert!(
            answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 404"),
            "{path}: {answer:?}"
        );
        if answer.starts_with("HTTP/1.1 408") {
            assert!(
                answer.contains(r#"{"error":"Request timeout"}"#),
                "{answer}"
            );
        }
    }
    // Headers a byte every 200 ms: the connection is closed after ~1 s.
    let (answer, ended) = trickle(
        &base,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        b"",
        Duration::from_millis(200),
        Duration::from_secs(8),
    )
    .await;
    let ended = ended.unwrap_or_else(|| panic!("headers: still open after 8 s: {answer:?}"));
    assert!(
        ended < Duration::from_secs(4),
        "headers cut only after {ended:?}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
    // And the server still serves.
    let live = http().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200);
}

/// Posts signed unique orders until a transport error (the server is gone)
/// or `stop`; answers (order ids answered 201, other answers).
async fn post_orders(
    http: reqwest::Client,
    url: String,
    company: Arc<Company>,
    sender: usize,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> (Vec<String>, Vec<(u16, String)>) {
    let (mut created, mut other) = (Vec::new(), Vec::new());
    let mut seq = 0;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let body = json!({
            "customer_details": {"name": "Ada", "email": format!("c-{sender}-{seq}@example.com"), "phone": "+2348123456789"},
            "item_summary": "iPhone 15 x2",
            "address": "123 Main St, Lagos",
            "external_order_id": format!("term-{sender}-{seq}"),
        })
        .to_string();
        let sent = signed_post(&http, &url, &company.secret_key, body)
            .send()
            .await;
        let Ok(res) = sent else { break };
        let status = res.status().as_u16();
        let Ok(text) = res.text().await else { break };
        if status == 201 {
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            created.push(v["order_id"].as_str().unwrap_or_default().to_string());
            answered.fetch_add(1, Ordering::SeqCst);
        } else {
            other.push((status, text));
        }
    }
    (created, other)
}

#[tokio::test]
async fn sigterm_answers_the_requests_in_flight_and_exits_within_10_s() {
    let mut server = ServerProcess::start(&[("ORDER_RATE_LIMIT_PER_SEC", "0")]).await;
    let http = http();
    let company = given_an_approved_company(&http, &server, &unique_email("sigterm"))
        .await
        .unwrap_or_else(|e| panic!("{e}; server output:\n{}", server.output()));
    let company = Arc::new(company);
    let url = format!("{}/api/v1/webhooks/orders/", server.base_url());
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..8)
        .map(|n| {
            tokio::spawn(post_orders(
                http.clone(),
                url.clone(),
                company.clone(),
                n,
                answered.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < 200 {
        assert!(Instant::now() < deadline, "no load: {}", server.output());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let signalled = Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    stop.store(true, Ordering::SeqCst);
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM"));
    assert!(
        status.success(),
        "exited with {status}: {}",
        server.output()
    );
    let (mut created, mut other) = (Vec::new(), Vec::new());
    for sender in senders {
        let (c, o) = sender.await.unwrap();
        created.extend(c);
        other.extend(o);
    }
    assert!(other.is_empty(), "answers other than 201: {other:?}");

    server.restart().await;
    let stored = stored_orders(&http, &server, &company).await.unwrap();
    assert!(
        stored >= created.len() as u64,
        "{stored} stored, fewer than the {} answered 201",
        created.len()
    );
    println!(
        "SIGTERM under load: exited cleanly {took:?} after the signal; {} orders answered 201, {stored} stored",
        created.len()
    );
}

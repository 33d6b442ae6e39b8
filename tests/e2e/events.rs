//! Outbound events against the real server binary: a `kill -9` while
//! deliveries are in flight loses no event, and the SSRF guard (on, as in
//! development) refuses loopback targets by literal address at creation
//! and by resolved address at connect time.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    company::{call, given_an_approved_company, sign, Company},
    http,
    server::ServerProcess,
    unique_email,
};
use crate::receivers::{self, Capture};

const ORDERS: usize = 20;
/// The restarted worker picks leased deliveries up once their lease
/// (`EVENT_LEASE_SECS=16`) runs out.
const DELIVERED_WITHIN: Duration = Duration::from_secs(90);

async fn post_order(
    http: &reqwest::Client,
    server: &ServerProcess,
    company: &Company,
    n: usize,
) -> String {
    let body = json!({
        "customer_details": {"name": format!("Customer {n}"), "email": format!("c{n}@example.com"), "phone": "+2348123456789"},
        "item_summary": "iPhone 15 x2",
        "address": "123 Main St, Lagos",
        "external_order_id": format!("kill-{n}"),
    })
    .to_string();
    let res = http
        .post(format!("{}/api/v1/webhooks/orders/", server.base_url()))
        .header("X-API-Key", &company.secret_key)
        .header(
            "X-Webhook-Signature",
            sign(&company.secret_key, body.as_bytes()),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    res.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase()
}

async fn create_endpoint(
    http: &reqwest::Client,
    server: &ServerProcess,
    company: &Company,
    url: &str,
) -> (u16, Value) {
    call(
        http,
        Method::POST,
        &format!("{}/api/v1/webhook/endpoints/", server.base_url()),
        Some(&company.token),
        Some(&json!({"url": url, "events": ["order.created"]})),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn every_event_reaches_its_endpoint_after_a_kill_9_mid_delivery() {
    let capture = Capture::start().await;
    let mut server = ServerProcess::start(&[
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ("EVENT_LEASE_SECS", "16"),
        ("EVENT_POLL_MS", "200"),
        ("EVENT_RETRY_SCHEDULE_SECS", "1,1,1,1,1"),
        ("ORDER_RATE_LIMIT_PER_SEC", "0"),
    ])
    .await;
    let http = http();
    let company = given_an_approved_company(&http, &server, &unique_email("events-kill"))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.output()));
    let (status, endpoint) =
        create_endpoint(&http, &server, &company, &capture.url("/orders")).await;
    assert_eq!(status, 201, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_string();

    // The receiver holds its answers, so deliveries are in flight at the kill.
    capture.hold_answers_for(Duration::from_secs(30));
    let mut orders = HashSet::new();
    for n in 0..ORDERS {
        orders.insert(post_order(&http, &server, &company, n).await);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while capture.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no delivery started; output:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill_9();
    // Requests the server sent but never saw answered: leased at the kill.
    let unanswered: Vec<String> = capture.received().iter().map(|r| r.event_id()).collect();
    let in_flight_at_kill = unanswered.len();
    capture.hold_answers_for(Duration::ZERO);
    server.restart().await;

    let got = capture
        .until(
            DELIVERED_WITHIN,
            || async {},
            |got| {
                let seen: HashSet<String> = got
                    .iter()
                    .filter(|r| r.event_type() == "order.created")
                    .filter_map(|r| {
                        r.json()["data"]["order_id"]
                            .as_str()
                            .map(str::to_ascii_lowercase)
                    })
                    .collect();
                // Every order's event arrived, and those cut off by the kill
                // came again once their lease ran out.
                orders.iter().all(|o| seen.contains(o))
                    && unanswered
                        .iter()
                        .all(|id| got.iter().filter(|r| &r.event_id() == id).count() >= 2)
            },
        )
        .await;
    if let Some(verdicts) = receivers::standard_webhooks(&secret, &got).await {
        assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    }
    let distinct: HashSet<String> = got.iter().map(|r| r.event_id()).collect();
    println!(
        "kill -9 with {in_flight_at_kill} deliveries in flight: all {ORDERS} events arrived after the restart \
         ({} requests, {} distinct events)",
        got.len(),
        distinct.len()
    );
}

#[tokio::test]
async fn the_ssrf_guard_refuses_loopback_targets_end_to_end() {
    let capture = Capture::start().await;
    // Development defaults: WEBHOOK_ALLOW_PRIVATE_TARGETS is off.
    let server = ServerProcess::start(&[]).await;
    let http = http();
    let company = given_an_approved_company(&http, &server, &unique_email("ssrf"))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.output()));
    let port = capture.port();

    for literal in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::1]:{port}/"),
    ] {
        let (status, body) = create_endpoint(&http, &server, &company, &literal).await;
        assert_eq!(status, 400, "{literal}: {body}");
        let detail = body["details"]["url"][0].as_str().unwrap_or_default();
        assert!(
            detail.contains("private, loopback or reserved"),
            "{literal}: {body}"
        );
    }

    // A name is checked on the address it resolves to, when connecting.
    let (status, endpoint) = create_endpoint(
        &http,
        &server,
        &company,
        &format!("http://localhost:{port}/"),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap();
    let (status, attempt) = call(
        &http,
        Method::POST,
        &format!("{}/api/v1/webhook/endpoints/{id}/test/", server.base_url()),
        Some(&company.token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{attempt}");
    assert_eq!(attempt["succeeded"], false);
    assert!(attempt["status_code"].is_null());
    assert!(
        attempt["error"]
            .as_str()
            .unwrap_or_default()
            .contains("refused"),
        "{attempt}"
    );
    assert!(
        capture.received().is_empty(),
        "nothing reached the loopback receiver"
    );
}

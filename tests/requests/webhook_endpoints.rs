//! Outbound events through the real router: endpoints, the three signing
//! schemes verified by the receivers' own code, retries, 410, replay,
//! recover, rotation, and every event type. The delivery worker runs one
//! round at a time (`deliver_due`) against a capture server on 127.0.0.1.

use std::time::Duration;

use axum::http::StatusCode;
use loco_rs::{app::AppContext, TestServer};
use order_fellow::{
    models::_entities::{event_endpoints, webhook_secrets},
    workers::deliveries::{deliver_due, scan_expiring},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::{
    receivers::{self, Capture, Received},
    support::*,
};

const WITHIN: Duration = Duration::from_secs(30);

/// One worker round: sends what is due and records the results.
async fn deliver(ctx: &AppContext) {
    deliver_due(ctx).await.unwrap();
}

async fn call(
    server: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> axum_test::TestResponse {
    let (k, v) = bearer(token);
    let req = match method {
        "GET" => server.get(path),
        "POST" => server.post(path),
        "PATCH" => server.patch(path),
        "DELETE" => server.delete(path),
        other => panic!("{other}"),
    }
    .add_header(k, v);
    match body {
        Some(b) => req.json(&b).await,
        None => req.await,
    }
}

/// `POST /webhook/endpoints/` with `body`, expecting 201.
async fn given_an_endpoint(server: &TestServer, token: &str, body: Value) -> Value {
    let res = call(
        server,
        token,
        "POST",
        "/api/v1/webhook/endpoints/",
        Some(body),
    )
    .await;
    res.assert_status(StatusCode::CREATED);
    res.json()
}

/// An approved company (JWT, order key) with one endpoint on `capture` at
/// `path`; `body` gives the rest of the endpoint (`events`, `scheme`).
async fn given_a_subscribed_company(
    server: &TestServer,
    ctx: &AppContext,
    capture: &Capture,
    path: &str,
    mut body: Value,
) -> (String, String, Value) {
    let (token, key) = given_an_approved_company_key(server, ctx, "ada@example.com").await;
    body["url"] = json!(capture.url(path));
    let endpoint = given_an_endpoint(server, &token, body).await;
    (token, key, endpoint)
}

/// Posts `order` (expecting 201) and runs the worker until the receiver has it.
async fn order_delivered(
    server: &TestServer,
    ctx: &AppContext,
    capture: &Capture,
    key: &str,
    order: &Value,
) -> Vec<Received> {
    post_order(server, key, order)
        .await
        .assert_status(StatusCode::CREATED);
    capture
        .until(WITHIN, || deliver(ctx), |r| !r.is_empty())
        .await
}

fn events_of(received: &[Received], kind: &str) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.event_type() == kind)
        .cloned()
        .collect()
}

fn all_ok(verdicts: Option<Vec<Result<(), String>>>) {
    if let Some(verdicts) = verdicts {
        for (i, v) in verdicts.iter().enumerate() {
            assert!(v.is_ok(), "delivery {i} did not verify: {v:?}");
        }
    }
}

#[tokio::test]
async fn without_approved_kyc_the_endpoints_answer_403() {
    with_app(|server, ctx| async move {
        let (token, _) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let expected = json!({
            "error": "KYC approval required",
            "message": "You must complete and have your KYC approved before using webhooks.",
        });
        for (method, body) in [
            ("GET", None),
            (
                "POST",
                Some(json!({"url": "https://example.com", "events": ["*"]})),
            ),
        ] {
            let res = call(&server, &token, method, "/api/v1/webhook/endpoints/", body).await;
            res.assert_status(StatusCode::FORBIDDEN);
            assert_eq!(res.json::<Value>(), expected);
        }
        server
            .get("/api/v1/webhook/endpoints/")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_is_created_with_its_secret_once_then_listed_patched_and_deleted() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let created = given_an_endpoint(
            &server,
            &token,
            json!({"url": "https://hooks.example.com/in", "events": ["order.created", "kyc.approved"], "description": "ERP"}),
        )
        .await;
        let id = created["id"].as_str().unwrap();
        let secret = created["secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_") && secret.len() == 38, "{secret}");
        assert_eq!(created["scheme"], "standard");
        assert_eq!(created["events"], json!(["order.created", "kyc.approved"]));
        assert_eq!(created["enabled"], true);

        let list = call(&server, &token, "GET", "/api/v1/webhook/endpoints/", None).await;
        list.assert_status_ok();
        let list = list.json::<Value>();
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert!(list[0].get("secret").is_none(), "the secret is shown once");

        let path = format!("/api/v1/webhook/endpoints/{id}/");
        let shown = call(&server, &token, "GET", &format!("{path}secret/"), None).await;
        shown.assert_status_ok();
        assert_eq!(shown.json::<Value>()["secret"], secret);

        let patched = call(
            &server,
            &token,
            "PATCH",
            &path,
            Some(json!({"events": ["*"], "enabled": false, "description": null})),
        )
        .await;
        patched.assert_status_ok();
        let patched = patched.json::<Value>();
        assert_eq!(
            (&patched["events"], &patched["enabled"], &patched["description"]),
            (&json!(["*"]), &json!(false), &Value::Null)
        );

        call(&server, &token, "DELETE", &path, None)
            .await
            .assert_status(StatusCode::NO_CONTENT);
        call(&server, &token, "GET", &path, None)
            .await
            .assert_status(StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn bad_endpoint_input_answers_400_naming_each_field() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let res = call(
            &server,
            &token,
            "POST",
            "/api/v1/webhook/endpoints/",
            Some(
                json!({"url": "ftp://example.com/x", "events": ["order.deleted"], "scheme": "rsa"}),
            ),
        )
        .await;
        res.assert_status(StatusCode::BAD_REQUEST);
        let body = res.json::<Value>();
        assert_eq!(body["error"], "Invalid request data");
        for field in ["url", "events", "scheme"] {
            assert!(body["details"][field].is_array(), "{field}: {body}");
        }
        for (url, why) in [
            ("https://user:pw@example.com/", "credentials"),
            ("javascript:alert(1)", "http or https"),
            ("nonsense", "valid URL"),
        ] {
            let res = call(
                &server,
                &token,
                "POST",
                "/api/v1/webhook/endpoints/",
                Some(json!({"url": url, "events": ["*"]})),
            )
            .await;
            res.assert_status(StatusCode::BAD_REQUEST);
            let detail = res.json::<Value>()["details"]["url"][0]
                .as_str()
                .unwrap()
                .to_string();
            assert!(detail.contains(why), "{url}: {detail}");
        }
        let missing = call(
            &server,
            &token,
            "POST",
            "/api/v1/webhook/endpoints/",
            Some(json!({"events": ["*"]})),
        )
        .await;
        missing.assert_status(StatusCode::BAD_REQUEST);
        assert!(missing.json::<Value>()["details"]["url"].is_array());
        let empty = call(
            &server,
            &token,
            "POST",
            "/api/v1/webhook/endpoints/",
            Some(json!({"url": "https://example.com", "events": []})),
        )
        .await;
        empty.assert_status(StatusCode::BAD_REQUEST);

        let ep = given_an_endpoint(
            &server,
            &token,
            json!({"url": "https://example.com", "events": ["*"]}),
        )
        .await;
        let id = ep["id"].as_str().unwrap();
        let bad_since = call(
            &server,
            &token,
            "POST",
            &format!("/api/v1/webhook/endpoints/{id}/recover/"),
            Some(json!({"since": "yesterday"})),
        )
        .await;
        bad_since.assert_status(StatusCode::BAD_REQUEST);
        assert!(bad_since.json::<Value>()["details"]["since"].is_array());
        let bad_status = call(
            &server,
            &token,
            "GET",
            &format!("/api/v1/webhook/endpoints/{id}/deliveries/?status=maybe"),
            None,
        )
        .await;
        bad_status.assert_status(StatusCode::BAD_REQUEST);
        let bad_patch = call(
            &server,
            &token,
            "PATCH",
            &format!("/api/v1/webhook/endpoints/{id}/"),
            Some(json!({"url": "http://"})),
        )
        .await;
        bad_patch.assert_status(StatusCode::BAD_REQUEST);
        call(
            &server,
            &token,
            "GET",
            "/api/v1/webhook/endpoints/not-a-uuid/",
            None,
        )
        .await
        .assert_status(StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn a_company_holds_at_most_20_endpoints() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        for _ in 0..20 {
            given_an_endpoint(
                &server,
                &token,
                json!({"url": "https://example.com", "events": ["*"]}),
            )
            .await;
        }
        let res = call(
            &server,
            &token,
            "POST",
            "/api/v1/webhook/endpoints/",
            Some(json!({"url": "https://example.com", "events": ["*"]})),
        )
        .await;
        res.assert_status(StatusCode::CONFLICT);
        assert_eq!(
            res.json::<Value>()["error"],
            "A company can have at most 20 endpoints"
        );
    })
    .await;
}

#[tokio::test]
async fn standard_deliveries_verify_with_the_standardwebhooks_package() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (_, key, ep) = given_a_subscribed_company(
            &server,
            &ctx,
            &capture,
            "/hooks/standard",
            json!({"events": ["order.created"]}),
        )
        .await;
        let secret = ep["secret"].as_str().unwrap();
        let mut order = order_body(Some("ORD-1"));
        order["customer_details"]["name"] = json!("Zoë \"Q\" Ñandú 😀");
        let res = post_order(&server, &key, &order).await;
        res.assert_status(StatusCode::CREATED);
        let order_id = res.json::<Value>()["order_id"]
            .as_str()
            .unwrap()
            .to_string();

        let got = capture
            .until(WITHIN, || deliver(&ctx), |r| !r.is_empty())
            .await;
        assert_eq!(got.len(), 1);
        let delivery = &got[0];
        let body = delivery.json();
        assert_eq!(delivery.path, "/hooks/standard");
        assert_eq!(body["type"], "order.created");
        assert_eq!(
            delivery.header("webhook-id"),
            body["id"].as_str().unwrap(),
            "receivers deduplicate by it"
        );
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
        assert!(
            body["timestamp"].as_i64().unwrap() > 1_700_000_000_000,
            "milliseconds"
        );
        assert_eq!(body["data"]["order_id"], order_id.as_str());
        assert_eq!(body["data"]["external_order_id"], "ORD-1");
        assert_eq!(body["data"]["customer"]["name"], "Zoë \"Q\" Ñandú 😀");
        assert!(delivery.header("webhook-signature").starts_with("v1,"));

        all_ok(receivers::standard_webhooks(secret, &got).await);
        let wrong =
            receivers::standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &got).await;
        if let Some(wrong) = wrong {
            assert!(wrong[0].is_err(), "another secret must not verify");
        }
    })
    .await;
}

#[tokio::test]
async fn qgen_deliveries_verify_with_the_seeds_javascript() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (_, key, ep) = given_a_subscribed_company(
            &server,
            &ctx,
            &capture,
            "/client/qgen?x=1",
            json!({"events": ["*"], "scheme": "qgen"}),
        )
        .await;
        let secret = ep["secret"].as_str().unwrap();
        let mut order = order_body(Some("QG-\"1\""));
        order["item_summary"] = json!("Café ✓ \\ back\\slash 😀");
        let got = order_delivered(&server, &ctx, &capture, &key, &order).await;
        let delivery = &got[0];
        assert_eq!(delivery.header("SignatureHeaderEndpoint"), "/client/qgen");
        assert!(
            delivery.body_str().starts_with(r#"{"data":{"#),
            "top-level keys sorted"
        );
        assert!(
            delivery.body_str().contains("Café ✓ \\\\ back\\\\slash 😀"),
            "non-ASCII kept"
        );
        all_ok(receivers::qgen(secret, &got).await);
        if let Some(wrong) = receivers::qgen("whsec_other", &got).await {
            assert!(wrong[0].is_err());
        }
    })
    .await;
}

#[tokio::test]
async fn qitech_deliveries_verify_with_the_seeds_python_jose_check() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (token, key, ep) = given_a_subscribed_company(
            &server,
            &ctx,
            &capture,
            "/client_webhook_endpoint",
            json!({"events": ["order.created"], "scheme": "qitech"}),
        )
        .await;
        assert!(
            ep.get("secret").is_none(),
            "qitech endpoints are signed with our key"
        );
        let client_key = ep["client_key"].as_str().unwrap().to_string();
        let mut order = order_body(Some("QI-1"));
        order["customer_details"]["name"] = json!("Zoë 😀 \"quoted\"");
        let got = order_delivered(&server, &ctx, &capture, &key, &order).await;
        let delivery = &got[0];
        assert_eq!(delivery.header("api-client-key"), client_key);
        assert!(
            delivery
                .body_str()
                .contains(r#""name": "Zo\u00eb \ud83d\ude00 \"quoted\"""#),
            "{}",
            delivery.body_str()
        );

        let pem = server.get("/api/v1/webhook/public-key/").await;
        pem.assert_status_ok();
        let pem = pem.text();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        if let Some(verdict) = receivers::qitech(&pem, "/client_webhook_endpoint", delivery).await {
            verdict.unwrap();
            assert!(receivers::qitech(&pem, "/elsewhere", delivery)
                .await
                .unwrap()
                .is_err());
        }

        let id = ep["id"].as_str().unwrap();
        call(
            &server,
            &token,
            "GET",
            &format!("/api/v1/webhook/endpoints/{id}/secret/"),
            None,
        )
        .await
        .assert_status(StatusCode::BAD_REQUEST);
        let jwks = server.get("/.well-known/jwks.json").await;
        jwks.assert_status_ok();
        let jwk = &jwks.json::<Value>()["keys"][0];
        assert_eq!(
            (&jwk["kty"], &jwk["crv"], &jwk["alg"]),
            (&json!("EC"), &json!("P-521"), &json!("ES512"))
        );
    })
    .await;
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt() {
    with_app_settings(
        |s| s["event_retry_schedule_secs"] = json!("1,1,1"),
        |server, ctx| async move {
            let capture = Capture::scripted(&[500, 503], 200).await;
            let (token, key, ep) = given_a_subscribed_company(
                &server,
                &ctx,
                &capture,
                "/in",
                json!({"events": ["order.created"]}),
            )
            .await;
            post_order(&server, &key, &order_body(Some("R-1")))
                .await
                .assert_status(StatusCode::CREATED);
            let got = capture
                .until(WITHIN, || deliver(&ctx), |r| r.len() >= 3)
                .await;
            assert_eq!(got.len(), 3);
            assert!(
                got.iter().all(|r| r.event_id() == got[0].event_id()),
                "the same event each time"
            );
            all_ok(receivers::standard_webhooks(ep["secret"].as_str().unwrap(), &got).await);

            let id = ep["id"].as_str().unwrap();
            let log = call(
                &server,
                &token,
                "GET",
                &format!("/api/v1/webhook/endpoints/{id}/deliveries/"),
                None,
            )
            .await;
            log.assert_status_ok();
            let log = log.json::<Value>();
            assert_eq!(log["count"], 3);
            let attempts = log["results"].as_array().unwrap();
            // Newest first.
            assert_eq!(
                attempts
                    .iter()
                    .map(|a| (
                        a["attempt"].as_i64().unwrap(),
                        a["status_code"].as_i64().unwrap(),
                        a["succeeded"].as_bool().unwrap()
                    ))
                    .collect::<Vec<_>>(),
                vec![(3, 200, true), (2, 503, false), (1, 500, false)]
            );
            assert!(
                attempts[2]["next_retry_at"].is_string() && attempts[0]["next_retry_at"].is_null()
            );
            assert_eq!(attempts[2]["error"], "HTTP 500");
            assert_eq!(attempts[2]["response_body"], "no thanks");
            assert_eq!(attempts[0]["event_type"], "order.created");
            assert_eq!(attempts[0]["event_id"], got[0].event_id().as_str());
            assert!(attempts[0]["latency_ms"].is_i64());

            let failed = call(
                &server,
                &token,
                "GET",
                &format!("/api/v1/webhook/endpoints/{id}/deliveries/?status=failed&page_size=1"),
                None,
            )
            .await;
            let failed = failed.json::<Value>();
            assert_eq!(
                (failed["count"].as_i64(), failed["next"].as_i64()),
                (Some(2), Some(2))
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_410_disables_the_endpoint_at_once_and_mails_the_company() {
    with_app(|server, ctx| async move {
        let capture = Capture::scripted(&[], 410).await;
        let (token, key, ep) = given_a_subscribed_company(
            &server,
            &ctx,
            &capture,
            "/gone",
            json!({"events": ["order.created"]}),
        )
        .await;
        post_order(&server, &key, &order_body(Some("G-1")))
            .await
            .assert_status(StatusCode::CREATED);
        capture
            .until(WITHIN, || deliver(&ctx), |r| !r.is_empty())
            .await;
        let id = ep["id"].as_str().unwrap();
        let shown = call(
            &server,
            &token,
            "GET",
            &format!("/api/v1/webhook/endpoints/{id}/"),
            None,
        )
        .await
        .json::<Value>();
        assert_eq!(shown["enabled"], false);
        assert_eq!(shown["disabled_reason"], "The endpoint answered 410 Gone");
        let mails = mails_to(&ctx, "ada@example.com").await;
        assert!(mails
            .iter()
            .any(|m| m.contains("Your event endpoint was disabled")));

        post_order(&server, &key, &order_body(Some("G-2")))
            .await
            .assert_status(StatusCode::CREATED);
        deliver(&ctx).await;
        assert_eq!(
            capture.received().len(),
            1,
            "nothing more goes to a disabled endpoint"
        );
        call(
            &server,
            &token,
            "POST",
            &format!("/api/v1/webhook/endpoints/{id}/test/"),
            None,
        )
        .await
        .assert_status(StatusCode::CONFLICT);
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_without_success_for_5_days_is_disabled_and_its_company_mailed() {
    with_app_settings(
        |s| s["event_retry_schedule_secs"] = json!(""),
        |server, ctx| async move {
            let capture = Capture::scripted(&[], 500).await;
            let (token, key, ep) = given_a_subscribed_company(
                &server,
                &ctx,
                &capture,
                "/down",
                json!({"events": ["order.created"]}),
            )
            .await;
            let pid: uuid::Uuid = ep["id"].as_str().unwrap().parse().unwrap();
            post_order(&server, &key, &order_body(Some("D-1")))
                .await
                .assert_status(StatusCode::CREATED);
            capture
                .until(WITHIN, || deliver(&ctx), |r| !r.is_empty())
                .await;
            let row = event_endpoints::Entity::find()
                .filter(event_endpoints::Column::Pid.eq(pid))
                .one(&ctx.db)
                .await
                .unwrap()
                .unwrap();
            assert!(
                row.enabled && row.failing_since.is_some(),
                "one failure starts the streak"
            );
            // The streak began six days ago.
            let mut am: event_endpoints::ActiveModel = row.into();
            am.failing_since = Set(Some(
                chrono::Utc::now().fixed_offset() - chrono::Duration::days(6),
            ));
            am.update(&ctx.db).await.unwrap();
            post_order(&server, &key, &order_body(Some("D-2")))
                .await
                .assert_status(StatusCode::CREATED);
            capture
                .until(WITHIN, || deliver(&ctx), |r| r.len() >= 2)
                .await;
            let shown = call(
                &server,
                &token,
                "GET",
                &format!("/api/v1/webhook/endpoints/{pid}/"),
                None,
            )
            .await
            .json::<Value>();
            assert_eq!(
                (&shown["enabled"], &shown["disabled_reason"]),
                (&json!(false), &json!("No successful delivery for 5 days"))
            );
            assert!(mails_to(&ctx, "ada@example.com")
                .await
                .iter()
                .any(|m| m.contains("No successful delivery for 5 days")));
        },
    )
    .await;
}

/// POSTs to `path` (a replay or a recover), expects 202, then runs the
/// worker until the receiver holds `n` requests.
async fn resend(
    server: &TestServer,
    ctx: &AppContext,
    capture: &Capture,
    token: &str,
    path: &str,
    body: Option<Value>,
    n: usize,
) -> (Value, Vec<Received>) {
    let res = call(server, token, "POST", path, body).await;
    res.assert_status(StatusCode::ACCEPTED);
    let got = capture
        .until(WITHIN, || deliver(ctx), |r| r.len() >= n)
        .await;
    (res.json(), got)
}

#[tokio::test]
async fn a_replay_and_a_recover_send_the_event_again() {
    with_app_settings(
        |s| s["event_retry_schedule_secs"] = json!(""),
        |server, ctx| async move {
            let capture = Capture::scripted(&[500], 200).await;
            let (token, key, ep) = given_a_subscribed_company(
                &server,
                &ctx,
                &capture,
                "/in",
                json!({"events": ["order.created"]}),
            )
            .await;
            let id = ep["id"].as_str().unwrap();
            let before = chrono::Utc::now() - chrono::Duration::seconds(5);
            let got =
                order_delivered(&server, &ctx, &capture, &key, &order_body(Some("RR-1"))).await;
            let event_id = got[0].event_id();
            deliver(&ctx).await;
            assert_eq!(
                capture.received().len(),
                1,
                "no retries: the delivery failed"
            );

            let since = json!({"since": before.to_rfc3339()});
            let recover = format!("/api/v1/webhook/endpoints/{id}/recover/");
            let (recovered, got) =
                resend(&server, &ctx, &capture, &token, &recover, Some(since), 2).await;
            assert_eq!(recovered["recovered"], 1);
            assert_eq!(got[1].event_id(), event_id);

            let replay = format!("/api/v1/webhook/events/{event_id}/replay/");
            let (replayed, got) = resend(&server, &ctx, &capture, &token, &replay, None, 3).await;
            assert_eq!(replayed, json!({"event_id": event_id, "queued": 1}));
            assert_eq!(got[2].event_id(), event_id);

            let only = format!("{replay}?endpoint={id}");
            let (_, got) = resend(&server, &ctx, &capture, &token, &only, None, 4).await;
            assert_eq!(got[3].event_id(), event_id);
            all_ok(receivers::standard_webhooks(ep["secret"].as_str().unwrap(), &got).await);

            call(
                &server,
                &token,
                "POST",
                "/api/v1/webhook/events/evt_nope/replay/",
                None,
            )
            .await
            .assert_status(StatusCode::NOT_FOUND);
        },
    )
    .await;
}

#[tokio::test]
async fn during_the_grace_window_receivers_with_the_old_or_the_new_secret_both_verify() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (token, key, ep) = given_a_subscribed_company(
            &server,
            &ctx,
            &capture,
            "/in",
            json!({"events": ["order.created"]}),
        )
        .await;
        let old = ep["secret"].as_str().unwrap().to_string();
        let id = ep["id"].as_str().unwrap();
        let rotated = call(
            &server,
            &token,
            "POST",
            &format!("/api/v1/webhook/endpoints/{id}/rotate-secret/"),
            None,
        )
        .await;
        rotated.assert_status_ok();
        let rotated = rotated.json::<Value>();
        let new = rotated["secret"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        assert!(rotated["previous_secret_valid_until"].is_string());
        let shown = call(
            &server,
            &token,
            "GET",
            &format!("/api/v1/webhook/endpoints/{id}/secret/"),
            None,
        )
        .await;
        assert_eq!(shown.json::<Value>()["secret"], new.as_str());

        let got = order_delivered(&server, &ctx, &capture, &key, &order_body(Some("ROT-1"))).await;
        assert_eq!(
            got[0].header("webhook-signature").split(' ').count(),
            2,
            "both sign"
        );
        all_ok(receivers::standard_webhooks(&old, &got).await);
        all_ok(receivers::standard_webhooks(&new, &got).await);
    })
    .await;
}

#[tokio::test]
async fn status_changes_kyc_decisions_and_key_changes_each_send_their_event() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (token, kyc_id) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let key = current_secret(&server, &token).await;
        given_an_endpoint(
            &server,
            &token,
            json!({"url": capture.url("/all"), "events": ["*"]}),
        )
        .await;

        let order_id = post_order(&server, &key, &order_body(Some("EV-1")))
            .await
            .json::<Value>()["order_id"]
            .as_str()
            .unwrap()
            .to_string();
        call(
            &server,
            &token,
            "PATCH",
            &format!("/api/v1/orders/{order_id}/"),
            Some(json!({"tracking_status": "SHIPPED", "note": "DHL 123"})),
        )
        .await
        .assert_status_ok();
        rotate_secret(&server, &token).await.assert_status_ok();

        // The key expires in three days: warned once, however often the scan runs.
        let secret = webhook_secrets::Entity::find()
            .filter(webhook_secrets::Column::IsActive.eq(true))
            .one(&ctx.db)
            .await
            .unwrap()
            .unwrap();
        let mut am: webhook_secrets::ActiveModel = secret.into();
        am.expires_at = Set(chrono::Utc::now().fixed_offset() + chrono::Duration::days(3));
        am.update(&ctx.db).await.unwrap();
        assert_eq!(scan_expiring(&ctx).await.unwrap(), 1);
        assert_eq!(scan_expiring(&ctx).await.unwrap(), 0);

        let admin = given_an_admin(&server, &ctx).await;
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{kyc_id}/suspend/"),
            Some(json!({"reason": "Documents expired"})),
        )
        .await
        .assert_status_ok();
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{kyc_id}/approve/"),
            None,
        )
        .await
        .assert_status_ok();

        let got = capture
            .until(WITHIN, || deliver(&ctx), |r| r.len() >= 6)
            .await;
        let changed = &events_of(&got, "order.status_changed")[0].json()["data"];
        assert_eq!(
            (
                &changed["order_id"],
                &changed["old_status"],
                &changed["new_status"],
                &changed["note"],
                &changed["changed_by"]
            ),
            (
                &json!(order_id),
                &json!("PENDING"),
                &json!("SHIPPED"),
                &json!("DHL 123"),
                &json!("api")
            )
        );
        let regenerated = &events_of(&got, "webhook_secret.regenerated")[0].json()["data"];
        assert_eq!(regenerated["reason"], "rotated");
        assert!(
            regenerated["fingerprint"].is_string()
                && !got.iter().any(|r| r.body_str().contains("whsk_"))
        );
        assert_eq!(events_of(&got, "webhook_secret.expiring").len(), 1);
        let suspended = &events_of(&got, "kyc.suspended")[0].json()["data"];
        assert_eq!(
            (&suspended["reason"], &suspended["decided_by"]),
            (&json!("Documents expired"), &json!("admin"))
        );
        assert_eq!(events_of(&got, "kyc.approved").len(), 1);
        assert_eq!(events_of(&got, "order.created").len(), 1);
        // Event ids are unique and grow with time.
        let ids: Vec<String> = got.iter().map(Received::event_id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    })
    .await;
}

#[tokio::test]
async fn a_rejection_sends_kyc_rejected_with_its_reason() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (token, kyc_id) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        given_an_endpoint(
            &server,
            &token,
            json!({"url": capture.url("/kyc"), "events": ["kyc.rejected", "kyc.suspended"]}),
        )
        .await;
        let admin = given_an_admin(&server, &ctx).await;
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{kyc_id}/suspend/"),
            Some(json!({"reason": "Audit"})),
        )
        .await
        .assert_status_ok();
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{kyc_id}/reject/"),
            Some(json!({"reason": "Fake registry", "resubmit_allowed": false})),
        )
        .await
        .assert_status_ok();
        let got = capture
            .until(WITHIN, || deliver(&ctx), |r| r.len() >= 2)
            .await;
        let rejected = &events_of(&got, "kyc.rejected")[0].json()["data"];
        assert_eq!(
            (&rejected["reason"], &rejected["resubmit_allowed"]),
            (&json!("Fake registry"), &json!(false))
        );
    })
    .await;
}

#[tokio::test]
async fn the_test_button_sends_a_ping_and_answers_with_the_attempt() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let ep = given_an_endpoint(
            &server,
            &token,
            json!({"url": capture.url("/ping"), "events": ["order.created"]}),
        )
        .await;
        let id = ep["id"].as_str().unwrap();
        let res = call(
            &server,
            &token,
            "POST",
            &format!("/api/v1/webhook/endpoints/{id}/test/"),
            None,
        )
        .await;
        res.assert_status_ok();
        let attempt = res.json::<Value>();
        assert_eq!(
            (
                &attempt["event_type"],
                &attempt["succeeded"],
                &attempt["status_code"],
                &attempt["attempt"],
                &attempt["response_body"]
            ),
            (
                &json!("ping"),
                &json!(true),
                &json!(200),
                &json!(1),
                &json!("thanks")
            )
        );
        let got = capture.received();
        assert_eq!((got.len(), got[0].event_type()), (1, "ping".to_string()));
        assert_eq!(got[0].event_id(), attempt["event_id"].as_str().unwrap());
        all_ok(receivers::standard_webhooks(ep["secret"].as_str().unwrap(), &got).await);
        deliver(&ctx).await;
        assert_eq!(
            capture.received().len(),
            1,
            "the worker does not send it again"
        );
    })
    .await;
}

#[tokio::test]
async fn another_companys_endpoint_event_and_deliveries_are_not_found() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (ada, ada_key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        let (bob, _) = given_an_approved_business(&server, &ctx, "bob@example.com").await;
        let ep = given_an_endpoint(
            &server,
            &ada,
            json!({"url": capture.url("/ada"), "events": ["*"]}),
        )
        .await;
        post_order(&server, &ada_key, &order_body(Some("X-1")))
            .await
            .assert_status(StatusCode::CREATED);
        let got = capture
            .until(WITHIN, || deliver(&ctx), |r| !r.is_empty())
            .await;
        let event_id = got[0].event_id();
        let id = ep["id"].as_str().unwrap();
        for (method, path, body) in [
            ("GET", format!("/api/v1/webhook/endpoints/{id}/"), None),
            (
                "PATCH",
                format!("/api/v1/webhook/endpoints/{id}/"),
                Some(json!({"enabled": false})),
            ),
            ("DELETE", format!("/api/v1/webhook/endpoints/{id}/"), None),
            (
                "GET",
                format!("/api/v1/webhook/endpoints/{id}/secret/"),
                None,
            ),
            (
                "POST",
                format!("/api/v1/webhook/endpoints/{id}/rotate-secret/"),
                None,
            ),
            (
                "POST",
                format!("/api/v1/webhook/endpoints/{id}/test/"),
                None,
            ),
            (
                "GET",
                format!("/api/v1/webhook/endpoints/{id}/deliveries/"),
                None,
            ),
            (
                "POST",
                format!("/api/v1/webhook/endpoints/{id}/recover/"),
                Some(json!({"since": "2026-01-01T00:00:00Z"})),
            ),
            (
                "POST",
                format!("/api/v1/webhook/events/{event_id}/replay/"),
                None,
            ),
        ] {
            let res = call(&server, &bob, method, &path, body).await;
            res.assert_status(StatusCode::NOT_FOUND);
            assert_eq!(
                res.json::<Value>(),
                json!({"error": "Not found"}),
                "{method} {path}"
            );
        }
        let list = call(&server, &bob, "GET", "/api/v1/webhook/endpoints/", None).await;
        assert_eq!(list.json::<Value>(), json!([]));
        assert_eq!(capture.received().len(), 1, "bob's calls sent nothing");
    })
    .await;
}

#[tokio::test]
async fn metrics_count_events_and_deliveries() {
    with_app(|server, ctx| async move {
        let capture = Capture::start().await;
        let (token, key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        given_an_endpoint(
            &server,
            &token,
            json!({"url": capture.url("/m"), "events": ["order.created"]}),
        )
        .await;
        post_order(&server, &key, &order_body(Some("M-1")))
            .await
            .assert_status(StatusCode::CREATED);
        capture
            .until(WITHIN, || deliver(&ctx), |r| !r.is_empty())
            .await;
        let text = server.get("/metrics").await.text();
        for name in [
            "events_created_total{type=\"order.created\"}",
            "event_deliveries_total{result=\"succeeded\"}",
            "event_delivery_duration_seconds",
            "event_deliveries_pending 0",
        ] {
            assert!(text.contains(name), "{name} missing from /metrics");
        }
    })
    .await;
}

//! The signed order intake, answer by answer.
use axum::http::StatusCode;
use chrono::Duration;
use order_fellow::models::{
    _entities::{orders, outbox_messages, webhook_secrets as rows},
    webhook_secrets,
};
use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::support::*;

async fn order_count(ctx: &loco_rs::app::AppContext) -> u64 {
    orders::Entity::find().count(&ctx.db).await.unwrap()
}

async fn expire_all_secrets(ctx: &loco_rs::app::AppContext) {
    rows::Entity::update_many()
        .col_expr(
            rows::Column::ExpiresAt,
            Expr::value(order_fellow::domain::now() - Duration::seconds(1)),
        )
        .exec(&ctx.db)
        .await
        .unwrap();
    webhook_secrets::changed();
}

#[tokio::test]
async fn a_signed_order_is_stored_and_its_customer_mailed() {
    with_app(|server, ctx| async move {
        let (token, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let res = post_order(&server, &key, &order_body(None)).await;
        res.assert_status(StatusCode::CREATED);
        let body = res.json::<Value>();
        assert_eq!(body["status"], "success");
        let id = body["order_id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok());
        assert_eq!(order_count(&ctx).await, 1);

        let mails = mails_to(&ctx, "john@example.com").await;
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains(id));
        assert!(mails[0].contains("iPhone 15 x2"));

        let (k, v) = bearer(&token);
        let detail = server
            .get(&format!("/api/v1/orders/{id}/"))
            .add_header(k, v)
            .await;
        detail.assert_status_ok();
        let d = detail.json::<Value>();
        assert_eq!(d["customer_details"]["email"], "john@example.com");
        assert_eq!(d["tracking_status"], "PENDING");
        assert_eq!(d["history"][0]["to_status"], "PENDING");
    })
    .await;
}

#[tokio::test]
async fn a_missing_or_unknown_key_is_refused() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let raw = serde_json::to_vec(&order_body(None)).unwrap();
        let no_key = server
            .post("/api/v1/webhooks/orders/")
            .add_header("x-webhook-signature", sign(&key, &raw))
            .bytes(raw.clone().into())
            .await;
        no_key.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(no_key.json::<Value>(), json!({"error": "Invalid API key"}));
        for bogus in ["whsk_doesnotexist", "sk_live_123", "whsk_ with space"] {
            let res = post_signed(&server, "/api/v1/webhooks/orders/", bogus, &raw).await;
            res.assert_status(StatusCode::UNAUTHORIZED);
            assert_eq!(res.json::<Value>(), json!({"error": "Invalid API key"}));
        }
        assert_eq!(order_count(&ctx).await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_suspended_companys_key_is_refused() {
    with_app(|server, ctx| async move {
        let (token, id) = given_an_approved_business(&server, &ctx, "shop@example.com").await;
        let key = current_secret(&server, &token).await;
        post_order(&server, &key, &order_body(None))
            .await
            .assert_status(StatusCode::CREATED);
        let admin = given_an_admin(&server, &ctx).await;
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/suspend/"),
            Some(json!({"reason": "fraud"})),
        )
        .await
        .assert_status_ok();
        let res = post_order(&server, &key, &order_body(None)).await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(res.json::<Value>(), json!({"error": "Invalid API key"}));
    })
    .await;
}

#[tokio::test]
async fn an_expired_key_is_regenerated_and_the_order_refused() {
    with_app(|server, ctx| async move {
        let (token, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        expire_all_secrets(&ctx).await;
        let res = post_order(&server, &key, &order_body(None)).await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.json::<Value>()["error"],
            "Webhook secret expired. A new secret has been generated; fetch it from GET /api/v1/webhook/secret/."
        );
        assert_eq!(order_count(&ctx).await, 0);
        let fresh = current_secret(&server, &token).await;
        assert_ne!(fresh, key);
        // The expired key is never accepted again, not even as a grace key.
        let again = post_order(&server, &key, &order_body(None)).await;
        again.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(again.json::<Value>()["error"], "Invalid API key");
        post_order(&server, &fresh, &order_body(None)).await.assert_status(StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn concurrent_calls_with_an_expired_key_regenerate_it_once() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        expire_all_secrets(&ctx).await;
        let body = order_body(None);
        let calls = (0..10).map(|_| post_order(&server, &key, &body));
        for res in futures::future::join_all(calls).await {
            res.assert_status(StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            rows::Entity::find().count(&ctx.db).await.unwrap(),
            2,
            "one successor only"
        );
        let active = rows::Entity::find()
            .filter(rows::Column::IsActive.eq(true))
            .count(&ctx.db)
            .await
            .unwrap();
        assert_eq!(active, 1);
        assert_eq!(order_count(&ctx).await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_rotated_key_keeps_working_through_its_grace_window() {
    with_app(|server, ctx| async move {
        let (token, old) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        rotate_secret(&server, &token).await.assert_status_ok();
        let new = current_secret(&server, &token).await;
        post_order(&server, &old, &order_body(None))
            .await
            .assert_status(StatusCode::CREATED);
        post_order(&server, &new, &order_body(None))
            .await
            .assert_status(StatusCode::CREATED);

        // Once the window closes, the old key is just unknown.
        rows::Entity::update_many()
            .col_expr(
                rows::Column::GraceUntil,
                Expr::value(order_fellow::domain::now() - Duration::seconds(1)),
            )
            .filter(rows::Column::IsActive.eq(false))
            .exec(&ctx.db)
            .await
            .unwrap();
        webhook_secrets::changed();
        let res = post_order(&server, &old, &order_body(None)).await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(res.json::<Value>()["error"], "Invalid API key");
    })
    .await;
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_refused() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let raw = serde_json::to_vec(&order_body(None)).unwrap();
        let missing = server
            .post("/api/v1/webhooks/orders/")
            .add_header("x-api-key", key.clone())
            .bytes(raw.clone().into())
            .await;
        missing.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(
            missing.json::<Value>(),
            json!({"error": "Invalid signature"})
        );

        let mut tampered = raw.clone();
        tampered.push(b' ');
        for (sig, body) in [
            (sign(&key, &raw), tampered.clone()),
            ("zz".to_string(), raw.clone()),
            (sign("whsk_other", &raw), raw.clone()),
        ] {
            let res = server
                .post("/api/v1/webhooks/orders/")
                .add_header("x-api-key", key.clone())
                .add_header("x-webhook-signature", sig)
                .bytes(body.into())
                .await;
            res.assert_status(StatusCode::UNAUTHORIZED);
            assert_eq!(res.json::<Value>(), json!({"error": "Invalid signature"}));
        }
        assert_eq!(order_count(&ctx).await, 0);
    })
    .await;
}

#[tokio::test]
async fn the_signature_may_be_prefixed_and_upper_case() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let raw = serde_json::to_vec(&order_body(None)).unwrap();
        for sig in [
            format!("sha256={}", sign(&key, &raw)),
            sign(&key, &raw).to_uppercase(),
            format!("SHA256={}", sign(&key, &raw)),
        ] {
            server
                .post("/api/v1/webhooks/orders/")
                .add_header("x-api-key", key.clone())
                .add_header("x-webhook-signature", sig)
                .bytes(raw.clone().into())
                .await
                .assert_status(StatusCode::CREATED);
        }
    })
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let mut body = order_body(None);
        body["item_summary"] = json!("x".repeat(65 * 1024));
        let res = post_order(&server, &key, &body).await;
        res.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
        assert!(res.json::<Value>()["error"].is_string());
    })
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let res = post_signed(&server, "/api/v1/webhooks/orders/", &key, b"customer=John").await;
        res.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>(), json!({"error": "Invalid JSON"}));
    })
    .await;
}

#[tokio::test]
async fn field_errors_are_reported_by_field_and_unknown_fields_ignored() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let bad = json!({
            "customer_details": {"name": " ", "email": "not-an-email", "phone": "call me"},
            "item_summary": "",
            "address": "123 Main St",
            "tracking_status": "LOST",
        });
        let res = post_order(&server, &key, &bad).await;
        res.assert_status(StatusCode::BAD_REQUEST);
        let d = &res.json::<Value>()["details"];
        for f in ["customer_details.name", "customer_details.email", "customer_details.phone", "item_summary", "tracking_status"] {
            assert!(d[f].is_array(), "{f}: {d}");
        }
        let missing = post_order(&server, &key, &json!({"item_summary": "x", "address": "y"})).await;
        missing.assert_status(StatusCode::BAD_REQUEST);
        assert!(missing.json::<Value>()["details"]["customer_details"].is_array());

        let wrong_type = post_order(&server, &key, &json!({"customer_details": {"name": 1, "email": "a@b.co", "phone": "+2348123456789"}, "item_summary": "x", "address": "y"})).await;
        wrong_type.assert_status(StatusCode::BAD_REQUEST);
        assert!(wrong_type.json::<Value>()["details"]["customer_details.name"].is_array());

        let mut extra = order_body(None);
        extra["loyalty_tier"] = json!("gold");
        extra["tracking_status"] = json!("shipped");
        post_order(&server, &key, &extra).await.assert_status(StatusCode::CREATED);
        assert_eq!(order_count(&ctx).await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_repeated_external_id_is_a_duplicate() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let first = post_order(&server, &key, &order_body(Some("ORD-1"))).await;
        first.assert_status(StatusCode::CREATED);
        let id = first.json::<Value>()["order_id"].clone();
        let again = post_order(&server, &key, &order_body(Some("ORD-1"))).await;
        again.assert_status_ok();
        assert_eq!(
            again.json::<Value>(),
            json!({"status": "duplicate", "order_id": id})
        );
        assert_eq!(order_count(&ctx).await, 1);
        assert_eq!(
            mails_to(&ctx, "john@example.com").await.len(),
            1,
            "one confirmation"
        );

        // Another company may use the same external id.
        let (_, other) = given_an_approved_company_key(&server, &ctx, "other@example.com").await;
        post_order(&server, &other, &order_body(Some("ORD-1")))
            .await
            .assert_status(StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_key_header_deduplicates_too() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let raw = serde_json::to_vec(&order_body(None)).unwrap();
        let send = || {
            server
                .post("/api/v1/webhooks/orders/")
                .add_header("x-api-key", key.clone())
                .add_header("x-webhook-signature", sign(&key, &raw))
                .add_header("idempotency-key", "req-42")
                .bytes(raw.clone().into())
        };
        send().await.assert_status(StatusCode::CREATED);
        let again = send().await;
        again.assert_status_ok();
        assert_eq!(again.json::<Value>()["status"], "duplicate");
        assert_eq!(order_count(&ctx).await, 1);
    })
    .await;
}

/// How many of `results` created an order (201) and how many were
/// recognised as repeats (200).
/// Any other answer fails the test, naming itself.
fn created_and_duplicates(results: &[axum_test::TestResponse]) -> (usize, usize) {
    let count = |status| results.iter().filter(|r| r.status_code() == status).count();
    let others: Vec<String> = results
        .iter()
        .filter(|r| ![StatusCode::CREATED, StatusCode::OK].contains(&r.status_code()))
        .map(|r| format!("{} {}", r.status_code(), r.text()))
        .collect();
    assert!(
        others.is_empty(),
        "answers other than 201 and 200: {others:?}"
    );
    (count(StatusCode::CREATED), count(StatusCode::OK))
}

#[tokio::test]
async fn twenty_identical_requests_at_once_create_one_order() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let body = order_body(Some("ORD-RACE"));
        let results =
            futures::future::join_all((0..20).map(|_| post_order(&server, &key, &body))).await;
        assert_eq!(created_and_duplicates(&results), (1, 19));
        let ids: std::collections::HashSet<String> = results
            .iter()
            .map(|r| r.json::<Value>()["order_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(order_count(&ctx).await, 1);
        assert_eq!(
            outbox_messages::Entity::find()
                .filter(outbox_messages::Column::Recipient.eq("john@example.com"))
                .count(&ctx.db)
                .await
                .unwrap(),
            1
        );
    })
    .await;
}

/// On PostgreSQL batches are written side by side: repeats of the same few
/// orders, sent at once in mixed order, land in concurrent batches that
/// collide on the unique keys (or deadlock on them) and are retried.
#[tokio::test]
async fn repeats_of_a_few_orders_sent_at_once_in_mixed_order_create_each_once() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let ids = ["ORD-A", "ORD-B", "ORD-C", "ORD-D"];
        let bodies: Vec<Value> = (0..48)
            .map(|i| order_body(Some(ids[(i * 7 + i / 4) % ids.len()])))
            .collect();
        let results =
            futures::future::join_all(bodies.iter().map(|b| post_order(&server, &key, b))).await;
        assert_eq!(
            created_and_duplicates(&results),
            (ids.len(), 48 - ids.len())
        );
        assert_eq!(order_count(&ctx).await, ids.len() as u64);
    })
    .await;
}

#[tokio::test]
async fn a_timestamped_signature_covers_the_timestamp_and_must_be_fresh() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let raw = serde_json::to_vec(&order_body(None)).unwrap();
        let send = |ts: i64, signed: Vec<u8>| {
            server
                .post("/api/v1/webhooks/orders/")
                .add_header("x-api-key", key.clone())
                .add_header("x-webhook-timestamp", ts.to_string())
                .add_header("x-webhook-signature", sign(&key, &signed))
                .bytes(raw.clone().into())
        };
        let now = chrono::Utc::now().timestamp();
        let with_ts = |ts: i64| [ts.to_string().as_bytes(), b".", &raw].concat();
        send(now, with_ts(now))
            .await
            .assert_status(StatusCode::CREATED);

        let stale = send(now - 301, with_ts(now - 301)).await;
        stale.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(
            stale.json::<Value>(),
            json!({"error": "Timestamp outside tolerance"})
        );

        let body_only = send(now, raw.clone()).await;
        body_only.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(
            body_only.json::<Value>(),
            json!({"error": "Invalid signature"})
        );
        assert_eq!(order_count(&ctx).await, 1);
    })
    .await;
}

#[tokio::test]
async fn each_key_is_rate_limited() {
    with_app_settings(
        |s| {
            s["order_rate_limit_per_sec"] = json!(1);
            s["order_rate_limit_burst"] = json!(2);
        },
        |server, ctx| async move {
            let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
            post_order(&server, &key, &order_body(None))
                .await
                .assert_status(StatusCode::CREATED);
            post_order(&server, &key, &order_body(None))
                .await
                .assert_status(StatusCode::CREATED);
            let res = post_order(&server, &key, &order_body(None)).await;
            res.assert_status(StatusCode::TOO_MANY_REQUESTS);
            assert!(res.headers().contains_key("retry-after"));
            assert!(res.json::<Value>()["error"].is_string());
        },
    )
    .await;
}

async fn post_status(
    server: &loco_rs::TestServer,
    key: &str,
    body: Value,
) -> axum_test::TestResponse {
    let raw = serde_json::to_vec(&body).unwrap();
    post_signed(server, "/api/v1/webhooks/orders/status/", key, &raw).await
}

#[tokio::test]
async fn the_sender_moves_an_order_forward_and_the_customer_hears_of_each_change_once() {
    with_app(|server, ctx| async move {
        let (token, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let id = post_order(&server, &key, &order_body(Some("ORD-7")))
            .await
            .json::<Value>()["order_id"]
            .clone();

        let shipped = post_status(
            &server,
            &key,
            json!({"order_id": id, "tracking_status": "SHIPPED", "note": "DHL 123"}),
        )
        .await;
        shipped.assert_status_ok();
        assert_eq!(shipped.json::<Value>()["tracking_status"], "SHIPPED");
        // A retry of the same change is accepted and mails nothing new.
        post_status(
            &server,
            &key,
            json!({"external_order_id": "ORD-7", "tracking_status": "shipped"}),
        )
        .await
        .assert_status_ok();
        let mails = mails_to(&ctx, "john@example.com").await;
        assert_eq!(mails.len(), 2, "confirmation + shipped");
        assert!(mails[1].contains("Shipped") && mails[1].contains("DHL 123"));

        let back = post_status(
            &server,
            &key,
            json!({"order_id": id, "tracking_status": "CONFIRMED"}),
        )
        .await;
        back.assert_status(StatusCode::CONFLICT);
        assert_eq!(back.json::<Value>()["current_status"], "SHIPPED");

        post_status(
            &server,
            &key,
            json!({"order_id": id, "tracking_status": "DELIVERED"}),
        )
        .await
        .assert_status_ok();
        let after = post_status(
            &server,
            &key,
            json!({"order_id": id, "tracking_status": "RETURNED"}),
        )
        .await;
        after.assert_status(StatusCode::CONFLICT);

        let (k, v) = bearer(&token);
        let history = server
            .get(&format!("/api/v1/orders/{}/", id.as_str().unwrap()))
            .add_header(k, v)
            .await
            .json::<Value>()["history"]
            .clone();
        let steps: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["to_status"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["PENDING", "SHIPPED", "DELIVERED"]);
    })
    .await;
}

#[tokio::test]
async fn status_updates_only_reach_the_senders_own_orders() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let (_, other) = given_an_approved_company_key(&server, &ctx, "other@example.com").await;
        let id = post_order(&server, &key, &order_body(Some("ORD-9")))
            .await
            .json::<Value>()["order_id"]
            .clone();
        for body in [
            json!({"order_id": id, "tracking_status": "SHIPPED"}),
            json!({"external_order_id": "ORD-9", "tracking_status": "SHIPPED"}),
            json!({"order_id": uuid::Uuid::new_v4(), "tracking_status": "SHIPPED"}),
            json!({"order_id": "nope", "tracking_status": "SHIPPED"}),
        ] {
            let res = post_status(&server, &other, body).await;
            res.assert_status(StatusCode::NOT_FOUND);
            assert!(res.json::<Value>()["error"].is_string());
        }
        let bad = post_status(
            &server,
            &key,
            json!({"order_id": id, "tracking_status": "TELEPORTED"}),
        )
        .await;
        bad.assert_status(StatusCode::BAD_REQUEST);
        let neither = post_status(&server, &key, json!({"tracking_status": "SHIPPED"})).await;
        neither.assert_status(StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn metrics_count_accepted_and_refused_orders() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        post_order(&server, &key, &order_body(None))
            .await
            .assert_status(StatusCode::CREATED);
        let raw = serde_json::to_vec(&order_body(None)).unwrap();
        server
            .post("/api/v1/webhooks/orders/")
            .add_header("x-api-key", key.clone())
            .add_header("x-webhook-signature", "00")
            .bytes(raw.into())
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let res = server.get("/metrics").await;
        res.assert_status_ok();
        let text = res.text();
        assert!(text.contains("orders_accepted_total"), "{text}");
        assert!(
            text.contains("orders_rejected_total{reason=\"bad_signature\"}"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains("outbox_pending"), "{text}");
        assert!(!text.contains(&key));
    })
    .await;
}

#[tokio::test]
async fn control_characters_in_fields_are_a_400_not_a_500() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let mut body = order_body(None);
        body["customer_details"]["name"] = json!("John\u{0}Doe");
        body["item_summary"] = json!("Tea\u{7}");
        let res = post_order(&server, &key, &body).await;
        res.assert_status(StatusCode::BAD_REQUEST);
        let d = &res.json::<Value>()["details"];
        assert!(
            d["customer_details.name"].is_array() && d["item_summary"].is_array(),
            "{d}"
        );
        // A multi-line address is fine.
        let mut ok = order_body(None);
        ok["address"] = json!("123 Main St\nLagos");
        post_order(&server, &key, &ok)
            .await
            .assert_status(StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn a_malformed_or_extreme_timestamp_is_refused_cleanly() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let raw = serde_json::to_vec(&order_body(None)).unwrap();
        for ts in [
            "yesterday",
            "-9223372036854775808",
            "9223372036854775807",
            "1.5",
        ] {
            let res = server
                .post("/api/v1/webhooks/orders/")
                .add_header("x-api-key", key.clone())
                .add_header("x-webhook-timestamp", ts)
                .add_header("x-webhook-signature", sign(&key, &raw))
                .bytes(raw.clone().into())
                .await;
            res.assert_status(StatusCode::UNAUTHORIZED);
            assert_eq!(
                res.json::<Value>(),
                json!({"error": "Timestamp outside tolerance"}),
                "{ts}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn without_a_grace_window_a_rotated_key_stops_at_once() {
    with_app_settings(
        |s| s["webhook_secret_grace_secs"] = json!(0),
        |server, ctx| async move {
            let (token, old) =
                given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
            rotate_secret(&server, &token).await.assert_status_ok();
            let res = post_order(&server, &old, &order_body(None)).await;
            res.assert_status(StatusCode::UNAUTHORIZED);
            assert_eq!(res.json::<Value>()["error"], "Invalid API key");
        },
    )
    .await;
}

#[tokio::test]
async fn the_grace_window_never_outlives_the_old_keys_expiry() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let soon = order_fellow::domain::now() + Duration::seconds(30);
        rows::Entity::update_many()
            .col_expr(rows::Column::ExpiresAt, Expr::value(soon))
            .exec(&ctx.db)
            .await
            .unwrap();
        webhook_secrets::changed();
        rotate_secret(&server, &token).await.assert_status_ok();
        let old = rows::Entity::find()
            .filter(rows::Column::IsActive.eq(false))
            .one(&ctx.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.grace_until.unwrap().timestamp(), soon.timestamp());
    })
    .await;
}

#[tokio::test]
async fn the_status_webhook_checks_key_and_signature_too() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let raw =
            serde_json::to_vec(&json!({"external_order_id": "X", "tracking_status": "SHIPPED"}))
                .unwrap();
        let res = post_signed(
            &server,
            "/api/v1/webhooks/orders/status/",
            "whsk_unknown",
            &raw,
        )
        .await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(res.json::<Value>()["error"], "Invalid API key");
        let bad = server
            .post("/api/v1/webhooks/orders/status/")
            .add_header("x-api-key", key.clone())
            .add_header("x-webhook-signature", "00")
            .bytes(raw.into())
            .await;
        bad.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(bad.json::<Value>()["error"], "Invalid signature");
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_key_matches_even_with_a_different_external_id() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let send = |ext: &'static str| {
            let raw = serde_json::to_vec(&order_body(Some(ext))).unwrap();
            server
                .post("/api/v1/webhooks/orders/")
                .add_header("x-api-key", key.clone())
                .add_header("x-webhook-signature", sign(&key, &raw))
                .add_header("idempotency-key", "req-7")
                .bytes(raw.into())
        };
        let first = send("A-1").await;
        first.assert_status(StatusCode::CREATED);
        let second = send("A-2").await;
        second.assert_status_ok();
        assert_eq!(
            second.json::<Value>()["order_id"],
            first.json::<Value>()["order_id"]
        );
        assert_eq!(order_count(&ctx).await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_suspension_racing_a_rotation_leaves_no_working_key() {
    with_app(|server, ctx| async move {
        let (token, id) = given_an_approved_business(&server, &ctx, "shop@example.com").await;
        let admin = given_an_admin(&server, &ctx).await;
        let (k, v) = bearer(&token);
        let path = format!("/api/v1/admin/kyc/{id}/suspend/");
        let (_, suspended) = tokio::join!(
            server.post("/api/v1/webhook/secret/").add_header(k, v),
            admin_post(&server, &admin, &path, Some(json!({"reason": "fraud"}))),
        );
        suspended.assert_status_ok();
        let working = rows::Entity::find()
            .filter(rows::Column::IsActive.eq(true))
            .count(&ctx.db)
            .await
            .unwrap();
        assert_eq!(working, 0);
    })
    .await;
}

#[tokio::test]
async fn the_order_webhook_runs_under_the_apps_request_middleware() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let raw = serde_json::to_vec(&order_body(Some("MW-1"))).unwrap();
        let accepted = server
            .post("/api/v1/webhooks/orders/")
            .add_header("x-request-id", "intake-req-42")
            .add_header("x-api-key", key.clone())
            .add_header("x-webhook-signature", sign(&key, &raw))
            .content_type("application/json")
            .bytes(raw.into())
            .await;
        accepted.assert_status(StatusCode::CREATED);
        assert_eq!(accepted.headers()["x-request-id"], "intake-req-42");
        assert!(
            !accepted.headers().contains_key("x-powered-by"),
            "no framework banner"
        );
        let refused = server
            .post("/api/v1/webhooks/orders/status/")
            .add_header("x-request-id", "intake-req-43")
            .content_type("application/json")
            .bytes(b"{}".to_vec().into())
            .await;
        refused.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(refused.headers()["x-request-id"], "intake-req-43");
    })
    .await;
}

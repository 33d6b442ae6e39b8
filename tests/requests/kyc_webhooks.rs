//! Identity providers report results; each delivery is verified, mapped and
//! applied through the same state machine as an admin decision.
use axum::http::StatusCode;
use order_fellow::{
    domain::crypto::hmac_sha256_hex,
    models::_entities::{kyc_applications, kyc_audit_logs, webhook_secrets},
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::support::*;

const SUMSUB: &str = "test-sumsub-secret";
const ONFIDO: &str = "test-onfido-token";
const JUMIO: &str = "test-jumio-secret";

fn sumsub(reference: &str, answer: &str, extra: Value) -> Vec<u8> {
    let mut result = json!({"reviewAnswer": answer});
    if let (Some(r), Some(e)) = (result.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    serde_json::to_vec(&json!({
        "applicantId": "5cb56e8e0a975a35f333cb83",
        "inspectionId": "5cb56e8e0a975a35f333cb84",
        "correlationId": "req-a1b2c3",
        "externalUserId": reference,
        "type": "applicantReviewed",
        "reviewStatus": "completed",
        "reviewResult": result,
        "createdAt": "2025-12-06 12:00:00+0000",
    }))
    .unwrap()
}

async fn post_sumsub(server: &loco_rs::TestServer, body: &[u8]) -> axum_test::TestResponse {
    server
        .post("/api/v1/webhooks/kyc/sumsub/")
        .add_header("x-payload-digest", hmac_sha256_hex(SUMSUB.as_bytes(), body))
        .add_header("x-payload-digest-alg", "HMAC_SHA256_HEX")
        .bytes(body.to_vec().into())
        .content_type("application/json")
        .await
}

async fn application(ctx: &loco_rs::app::AppContext, id: &str) -> kyc_applications::Model {
    kyc_applications::Entity::find()
        .filter(kyc_applications::Column::Pid.eq(uuid::Uuid::parse_str(id).unwrap()))
        .one(&ctx.db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn sumsub_green_approves_and_issues_the_secret() {
    with_app(|server, ctx| async move {
        let (token, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let res = post_sumsub(&server, &sumsub(&id, "GREEN", json!({}))).await;
        res.assert_status_ok();
        assert_eq!(res.json::<Value>(), json!({"status": "processed"}));
        let app = application(&ctx, &id).await;
        assert_eq!(app.status, "approved");
        assert_eq!(app.provider.as_deref(), Some("sumsub"));
        assert_eq!(app.provider_status.as_deref(), Some("complete"));
        assert!(current_secret(&server, &token).await.starts_with("whsk_"));
        let audit = kyc_audit_logs::Entity::find()
            .one(&ctx.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(audit.actor, "provider:sumsub");
        assert!(mails_to(&ctx, "ada@example.com")
            .await
            .last()
            .unwrap()
            .contains("approved"));
    })
    .await;
}

#[tokio::test]
async fn sumsub_red_rejects_with_the_providers_reason() {
    with_app(|server, ctx| async move {
        let (token, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let body = sumsub(
            &id,
            "RED",
            json!({
                "moderationComment": "Document is expired.",
                "rejectLabels": ["DOCUMENT_EXPIRED"],
                "reviewRejectType": "RETRY",
            }),
        );
        post_sumsub(&server, &body).await.assert_status_ok();
        let app = application(&ctx, &id).await;
        assert_eq!(app.status, "rejected");
        assert!(app
            .rejection_reason
            .unwrap()
            .contains("Document is expired."));
        assert!(app.resubmit_allowed);
        submit_kyc(&server, &token)
            .await
            .assert_status(StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn sumsub_final_rejection_closes_resubmission() {
    with_app(|server, ctx| async move {
        let (token, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let body = sumsub(
            &id,
            "RED",
            json!({"rejectLabels": ["FORGERY"], "reviewRejectType": "FINAL"}),
        );
        post_sumsub(&server, &body).await.assert_status_ok();
        assert!(!application(&ctx, &id).await.resubmit_allowed);
        submit_kyc(&server, &token)
            .await
            .assert_status(StatusCode::CONFLICT);
    })
    .await;
}

#[tokio::test]
async fn yellow_keeps_the_application_pending_for_manual_review() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        post_sumsub(&server, &sumsub(&id, "YELLOW", json!({})))
            .await
            .assert_status_ok();
        let app = application(&ctx, &id).await;
        assert_eq!(app.status, "pending");
        assert!(app.needs_manual_review);
        assert!(mails_to(&ctx, "ada@example.com")
            .await
            .last()
            .unwrap()
            .contains("manual review"));
    })
    .await;
}

#[tokio::test]
async fn the_same_delivery_twice_changes_nothing_twice() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let body = sumsub(&id, "GREEN", json!({}));
        post_sumsub(&server, &body).await.assert_status_ok();
        let again = post_sumsub(&server, &body).await;
        again.assert_status_ok();
        assert_eq!(again.json::<Value>(), json!({"status": "duplicate"}));
        assert_eq!(
            kyc_audit_logs::Entity::find().count(&ctx.db).await.unwrap(),
            1
        );
        let secrets = webhook_secrets::Entity::find()
            .count(&ctx.db)
            .await
            .unwrap();
        assert_eq!(secrets, 1);
    })
    .await;
}

#[tokio::test]
async fn an_unknown_reference_is_acknowledged_and_ignored() {
    with_app(|server, _ctx| async move {
        let res = post_sumsub(
            &server,
            &sumsub(&uuid::Uuid::new_v4().to_string(), "GREEN", json!({})),
        )
        .await;
        res.assert_status_ok();
        assert_eq!(res.json::<Value>(), json!({"status": "ignored"}));
    })
    .await;
}

#[tokio::test]
async fn onfido_clear_with_our_tag_approves() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let body = serde_json::to_vec(&json!({"payload": {
            "resource_type": "check", "action": "check.completed",
            "object": {"id": "check_123", "status": "complete", "result": "clear",
                       "applicant_id": "applicant_123", "tags": [id],
                       "completed_at_iso8601": "2025-12-06T12:00:00Z"}
        }}))
        .unwrap();
        let res = server
            .post("/api/v1/webhooks/kyc/onfido/")
            .add_header(
                "x-sha2-signature",
                hmac_sha256_hex(ONFIDO.as_bytes(), &body).to_uppercase(),
            )
            .bytes(body.into())
            .content_type("application/json")
            .await;
        res.assert_status_ok();
        let app = application(&ctx, &id).await;
        assert_eq!(app.status, "approved");
        assert_eq!(app.provider_applicant_id.as_deref(), Some("applicant_123"));
    })
    .await;
}

#[tokio::test]
async fn jumio_rejected_rejects() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let body = serde_json::to_vec(&json!({
            "workflowExecution": {"id": "wf_1", "status": "PROCESSED", "customerInternalReference": id},
            "decision": {"type": "REJECTED", "details": {"label": "ID_DOCUMENT_EXPIRED"}}
        }))
        .unwrap();
        let res = server
            .post("/api/v1/webhooks/kyc/jumio/")
            .add_header("x-jumio-signature", format!("sha256={}", hmac_sha256_hex(JUMIO.as_bytes(), &body)))
            .bytes(body.into())
            .content_type("application/json")
            .await;
        res.assert_status_ok();
        let app = application(&ctx, &id).await;
        assert_eq!(app.status, "rejected");
        assert!(app.rejection_reason.unwrap().contains("ID_DOCUMENT_EXPIRED"));
    })
    .await;
}

#[tokio::test]
async fn signatures_are_checked_before_anything_else() {
    with_app(|server, _ctx| async move {
        for provider in ["onfido", "jumio", "sumsub"] {
            let path = format!("/api/v1/webhooks/kyc/{provider}/");
            let missing = server.post(&path).json(&json!({"x": 1})).await;
            missing.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(
                missing.json::<Value>(),
                json!({"error": "Missing webhook signature"})
            );
            let header = match provider {
                "onfido" => "x-sha2-signature",
                "jumio" => "x-jumio-signature",
                _ => "x-payload-digest",
            };
            let wrong = server
                .post(&path)
                .add_header(header, "deadbeef")
                .json(&json!({"x": 1}))
                .await;
            wrong.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(
                wrong.json::<Value>(),
                json!({"error": "Invalid webhook signature"})
            );
        }
        server
            .post("/api/v1/webhooks/kyc/acme/")
            .json(&json!({}))
            .await
            .assert_status(StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_provider_payload_is_a_400() {
    with_app(|server, _ctx| async move {
        let body = b"not json".to_vec();
        let res = post_sumsub(&server, &body).await;
        res.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(
            res.json::<Value>(),
            json!({"error": "Invalid webhook payload"})
        );
    })
    .await;
}

#[tokio::test]
async fn a_provider_without_a_configured_secret_is_not_found() {
    with_app_settings(
        |s| s["jumio_webhook_secret"] = json!(""),
        |server, _ctx| async move {
            let res = server
                .post("/api/v1/webhooks/kyc/jumio/")
                .add_header("x-jumio-signature", "sha256=00")
                .json(&json!({}))
                .await;
            res.assert_status(StatusCode::NOT_FOUND);
            assert!(res.json::<Value>()["error"].is_string());
        },
    )
    .await;
}

/// The limit is `PROVIDER_RATE_LIMIT_PER_MIN` (100 by default, checked in
/// the settings tests); at 3 a minute a token comes back only every 20 s, so
/// the fourth delivery is refused however slow the machine is.
#[tokio::test]
async fn each_provider_is_limited_to_its_verified_deliveries_a_minute() {
    with_app_settings(
        |s| s["provider_rate_limit_per_min"] = json!(3),
        |server, _ctx| async move {
            // Forged traffic does not use up the provider's budget.
            for _ in 0..20 {
                server
                    .post("/api/v1/webhooks/kyc/sumsub/")
                    .json(&json!({}))
                    .await
                    .assert_status(StatusCode::BAD_REQUEST);
            }
            let unknown = sumsub(&uuid::Uuid::new_v4().to_string(), "GREEN", json!({}));
            for _ in 0..3 {
                post_sumsub(&server, &unknown).await.assert_status_ok();
            }
            let res = post_sumsub(&server, &unknown).await;
            res.assert_status(StatusCode::TOO_MANY_REQUESTS);
            assert!(res.headers().contains_key("retry-after"));
            assert!(res.json::<Value>()["error"].is_string());
        },
    )
    .await;
}

#[tokio::test]
async fn a_verdict_by_applicant_id_reaches_the_resubmitted_application() {
    with_app(|server, ctx| async move {
        let (token, first) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let onfido = |body: Value| {
            let raw = serde_json::to_vec(&body).unwrap();
            server
                .post("/api/v1/webhooks/kyc/onfido/")
                .add_header("x-sha2-signature", hmac_sha256_hex(ONFIDO.as_bytes(), &raw))
                .bytes(raw.into())
                .content_type("application/json")
        };
        onfido(json!({"payload": {"resource_type": "check", "action": "check.completed",
            "object": {"id": "chk_1", "status": "complete", "result": "unidentified", "applicant_id": "appl_9", "tags": [first]}}}))
            .await
            .assert_status_ok();
        assert_eq!(application(&ctx, &first).await.status, "rejected");
        let second = submit_kyc(&server, &token).await.json::<Value>()["id"].as_str().unwrap().to_string();
        let res = onfido(json!({"payload": {"resource_type": "check", "action": "check.completed",
            "object": {"id": "chk_2", "status": "complete", "result": "clear", "applicant_id": "appl_9"}}}))
            .await;
        res.assert_status_ok();
        assert_eq!(res.json::<Value>()["status"], "processed");
        assert_eq!(application(&ctx, &second).await.status, "approved");
    })
    .await;
}

#[tokio::test]
async fn a_provider_verdict_cannot_lift_or_move_a_suspension() {
    with_app(|server, ctx| async move {
        let (token, id) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let admin = given_an_admin(&server, &ctx).await;
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/suspend/"),
            Some(json!({"reason": "chargeback fraud"})),
        )
        .await
        .assert_status_ok();

        let green = post_sumsub(&server, &sumsub(&id, "GREEN", json!({}))).await;
        green.assert_status_ok();
        assert_eq!(green.json::<Value>(), json!({"status": "ignored"}));
        let red = sumsub(
            &id,
            "RED",
            json!({"moderationComment": "Document is expired.", "reviewRejectType": "RETRY"}),
        );
        let red = post_sumsub(&server, &red).await;
        red.assert_status_ok();
        assert_eq!(red.json::<Value>(), json!({"status": "ignored"}));

        let app = application(&ctx, &id).await;
        assert_eq!(app.status, "suspended");
        assert_eq!(app.provider_status, None, "the delivery changed nothing");
        let active = webhook_secrets::Entity::find()
            .filter(webhook_secrets::Column::IsActive.eq(true))
            .count(&ctx.db)
            .await
            .unwrap();
        assert_eq!(active, 0, "no key handed out");
        let (k, v) = bearer(&token);
        server
            .get("/api/v1/webhook/secret/")
            .add_header(k, v)
            .await
            .assert_status(StatusCode::FORBIDDEN);
        submit_kyc(&server, &token)
            .await
            .assert_status(StatusCode::CONFLICT);

        let (k, v) = bearer(&admin);
        let trail = server
            .get(&format!("/api/v1/admin/kyc/{id}/audit/"))
            .add_header(k, v)
            .await
            .json::<Value>();
        let ignored: Vec<&Value> = trail
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["actor"] == "provider:sumsub")
            .collect();
        assert_eq!(ignored.len(), 2, "{trail}");
        for (row, verdict) in ignored.iter().zip(["approve", "reject"]) {
            assert_eq!(row["from_status"], "suspended");
            assert_eq!(row["to_status"], "suspended");
            let reason = row["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("ignored") && reason.contains(verdict),
                "{reason}"
            );
        }

        // Only an admin lifts it.
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/approve/"),
            None,
        )
        .await
        .assert_status_ok();
        assert_eq!(application(&ctx, &id).await.status, "approved");
        assert!(current_secret(&server, &token).await.starts_with("whsk_"));
    })
    .await;
}

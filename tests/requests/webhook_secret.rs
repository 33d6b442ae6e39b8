use axum::http::StatusCode;
use order_fellow::{
    domain::api_key::ApiKey,
    models::{
        _entities::webhook_secrets as rows,
        webhook_secrets::{self, KeyCheck},
    },
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn without_approved_kyc_the_secret_endpoints_answer_403() {
    with_app(|server, ctx| async move {
        let (token, _) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        let expected = json!({
            "error": "KYC approval required",
            "message": "You must complete and have your KYC approved before using webhooks.",
        });
        let get = server
            .get("/api/v1/webhook/secret/")
            .add_header(k.clone(), v.clone())
            .await;
        get.assert_status(StatusCode::FORBIDDEN);
        assert_eq!(get.json::<Value>(), expected);
        let post = server
            .post("/api/v1/webhook/secret/")
            .add_header(k, v)
            .await;
        post.assert_status(StatusCode::FORBIDDEN);
        assert_eq!(post.json::<Value>(), expected);
        server
            .get("/api/v1/webhook/secret/")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn an_approved_business_reads_its_secret() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        let res = server.get("/api/v1/webhook/secret/").add_header(k, v).await;
        res.assert_status_ok();
        let body = res.json::<Value>();
        let key = body["secret_key"].as_str().unwrap();
        assert!(key.starts_with("whsk_") && key.len() == 48, "{key}");
        assert_eq!(body["is_active"], true);
        let expires: chrono::DateTime<chrono::FixedOffset> =
            body["expires_at"].as_str().unwrap().parse().unwrap();
        let days = (expires - chrono::Utc::now().fixed_offset()).num_days();
        assert!((89..=90).contains(&days), "{days}");
    })
    .await;
}

#[tokio::test]
async fn the_database_never_holds_the_plaintext_secret() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let key = current_secret(&server, &token).await;
        for row in rows::Entity::find().all(&ctx.db).await.unwrap() {
            let dump = format!(
                "{} {} {} {}",
                row.secret_encrypted, row.secret_hash, row.fingerprint, row.user_id
            );
            assert!(!dump.contains(&key));
            assert!(!dump.contains(&key[5..]));
            assert!(
                !dump.contains("whsk_"),
                "no column holds any part of the key"
            );
            assert_eq!(
                row.secret_hash,
                order_fellow::domain::crypto::sha256_hex(key.as_bytes())
            );
            let (iv, ct) = row.secret_encrypted.split_once('.').unwrap();
            assert_eq!(iv.len(), 24);
            assert!(hex::decode(ct).is_ok());
            assert!(!format!("{row:?}").contains(&row.secret_encrypted));
        }
    })
    .await;
}

#[tokio::test]
async fn rotating_issues_a_new_key_and_the_old_one_keeps_a_grace_window() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let old = current_secret(&server, &token).await;
        let res = rotate_secret(&server, &token).await;
        res.assert_status_ok();
        let body = res.json::<Value>();
        assert_eq!(body["status"], "regenerated");
        assert_eq!(
            body["message"],
            "Store this secret safely. Do not share it."
        );
        let new = body["secret_key"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        assert_eq!(current_secret(&server, &token).await, new);

        let known = order_fellow::models::known_keys::KnownKeys::get(&ctx);
        let check = |raw: String| {
            let (db, known) = (ctx.db.clone(), known.clone());
            async move {
                webhook_secrets::lookup(&db, &known, &ApiKey::parse(&raw).unwrap())
                    .await
                    .unwrap()
            }
        };
        assert!(matches!(check(old).await, KeyCheck::Grace(_)));
        assert!(matches!(check(new).await, KeyCheck::Active(_)));
    })
    .await;
}

#[tokio::test]
async fn the_first_key_is_created_with_201() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        // An approved company whose key was revoked by hand (as after a data fix).
        rows::Entity::delete_many().exec(&ctx.db).await.unwrap();
        webhook_secrets::changed();
        let res = rotate_secret(&server, &token).await;
        res.assert_status(StatusCode::CREATED);
        assert_eq!(res.json::<Value>()["status"], "created");
    })
    .await;
}

#[tokio::test]
async fn two_rotations_at_once_leave_exactly_one_active_key() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        let (a, b) = tokio::join!(
            server
                .post("/api/v1/webhook/secret/")
                .add_header(k.clone(), v.clone()),
            server
                .post("/api/v1/webhook/secret/")
                .add_header(k.clone(), v.clone()),
        );
        a.assert_status_ok();
        b.assert_status_ok();
        let active = rows::Entity::find()
            .filter(rows::Column::IsActive.eq(true))
            .count(&ctx.db)
            .await
            .unwrap();
        assert_eq!(active, 1);
    })
    .await;
}

async fn rotate_with(
    server: &loco_rs::TestServer,
    token: &str,
    body: Value,
) -> axum_test::TestResponse {
    let (k, v) = bearer(token);
    server
        .post("/api/v1/webhook/secret/")
        .add_header(k, v)
        .json(&body)
        .await
}

/// Rotates (no body); the new key.
async fn rotated_key(server: &loco_rs::TestServer, token: &str) -> String {
    let res = rotate_secret(server, token).await;
    res.assert_status_ok();
    res.json::<Value>()["secret_key"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn rotating_twice_ends_the_first_keys_grace_at_once() {
    with_app(|server, ctx| async move {
        let (token, first) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        post_order(&server, &first, &order_body(Some("A-1")))
            .await
            .assert_status(StatusCode::CREATED);
        let second = rotated_key(&server, &token).await;
        post_order(&server, &first, &order_body(Some("A-2")))
            .await
            .assert_status(StatusCode::CREATED);
        let third = rotated_key(&server, &token).await;

        let res = post_order(&server, &first, &order_body(Some("A-3"))).await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(res.json::<Value>()["error"], "Invalid API key");
        post_order(&server, &second, &order_body(Some("A-4")))
            .await
            .assert_status(StatusCode::CREATED);
        post_order(&server, &third, &order_body(Some("A-5")))
            .await
            .assert_status(StatusCode::CREATED);
        let in_grace = rows::Entity::find()
            .filter(rows::Column::GraceUntil.is_not_null())
            .count(&ctx.db)
            .await
            .unwrap();
        assert_eq!(in_grace, 1);
    })
    .await;
}

#[tokio::test]
async fn revoke_previous_ends_the_old_keys_grace_immediately() {
    with_app(|server, ctx| async move {
        let (token, leaked) =
            given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        // The leaked key is in the intake's cache: revoking must reach it.
        post_order(&server, &leaked, &order_body(Some("B-1")))
            .await
            .assert_status(StatusCode::CREATED);
        let res = rotate_with(&server, &token, json!({"revoke_previous": true})).await;
        res.assert_status_ok();
        let body = res.json::<Value>();
        assert_eq!(body["status"], "regenerated");
        let fresh = body["secret_key"].as_str().unwrap().to_string();

        let refused = post_order(&server, &leaked, &order_body(Some("B-2"))).await;
        refused.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(refused.json::<Value>()["error"], "Invalid API key");
        post_order(&server, &fresh, &order_body(Some("B-3")))
            .await
            .assert_status(StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn a_rotation_body_is_optional_but_must_make_sense() {
    with_app(|server, ctx| async move {
        let (token, old) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        rotate_with(&server, &token, json!({"revoke_previous": false}))
            .await
            .assert_status_ok();
        post_order(&server, &old, &order_body(Some("C-1")))
            .await
            .assert_status(StatusCode::CREATED);
        for bad in [
            json!({"revoke_previous": "yes"}),
            json!({"revoke_previus": true}),
        ] {
            let res = rotate_with(&server, &token, bad).await;
            res.assert_status(StatusCode::BAD_REQUEST);
            assert!(res.json::<Value>()["error"].is_string());
        }
    })
    .await;
}

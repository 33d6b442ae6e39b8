use axum::http::StatusCode;
use chrono::Duration;
use order_fellow::models::_entities::{one_time_codes, users};
use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::support::*;

async fn verify(server: &loco_rs::TestServer, email: &str, otp: &str) -> axum_test::TestResponse {
    server
        .post("/api/v1/auth/verify-email/")
        .json(&json!({"email": email, "otp": otp}))
        .await
}

async fn shift_code_times(ctx: &loco_rs::app::AppContext, by: Duration) {
    let now = order_fellow::domain::now();
    one_time_codes::Entity::update_many()
        .col_expr(
            one_time_codes::Column::ExpiresAt,
            Expr::value(now + Duration::minutes(10) + by),
        )
        .col_expr(one_time_codes::Column::SentAt, Expr::value(now + by))
        .exec(&ctx.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn registering_mails_a_six_digit_code_and_stores_only_its_hash() {
    with_app(|server, ctx| async move {
        let res = register(&server, "Ada@Example.com ").await;
        res.assert_status(StatusCode::CREATED);
        assert!(res.json::<Value>()["message"]
            .as_str()
            .unwrap()
            .contains("e-mail"));

        let code = latest_code(&ctx, "ada@example.com").await;
        let row = one_time_codes::Entity::find()
            .one(&ctx.db)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(row.code_hash, code);
        assert!(!row.code_hash.contains(&code));
        let user = users::Entity::find().one(&ctx.db).await.unwrap().unwrap();
        assert!(user.password.starts_with("$argon2id$"));
        assert_eq!(user.email, "ada@example.com");
    })
    .await;
}

#[tokio::test]
async fn registering_an_existing_address_looks_the_same_but_sends_a_notice() {
    with_app(|server, ctx| async move {
        let first = register(&server, "ada@example.com").await;
        let second = register(&server, "ada@example.com").await;
        second.assert_status(StatusCode::CREATED);
        assert_eq!(first.json::<Value>(), second.json::<Value>());
        let mails = mails_to(&ctx, "ada@example.com").await;
        assert_eq!(mails.len(), 2);
        assert!(code_in(&mails[1]).is_none(), "the notice carries no code");
        assert!(mails[1].contains("already have an account"));
        assert_eq!(users::Entity::find().all(&ctx.db).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn registration_fields_are_validated_one_by_one() {
    with_app(|server, _ctx| async move {
        let res = server
            .post("/api/v1/auth/register/")
            .json(&json!({"email": "not-an-email", "password": "short", "full_name": " ", "company_name": "X"}))
            .await;
        res.assert_status(StatusCode::BAD_REQUEST);
        let body = res.json::<Value>();
        assert!(body["error"].is_string());
        for field in ["email", "password", "full_name"] {
            assert!(body["details"][field].is_array(), "{field}: {body}");
        }
        assert!(body["details"].get("company_name").is_none());
    })
    .await;
}

#[tokio::test]
async fn the_right_code_verifies_once_and_only_once() {
    with_app(|server, ctx| async move {
        register(&server, "ada@example.com").await;
        let code = latest_code(&ctx, "ada@example.com").await;
        let res = verify(&server, "ada@example.com", &code).await;
        res.assert_status_ok();
        assert_eq!(res.json::<Value>(), json!({"message": "Email verified"}));

        let again = verify(&server, "ada@example.com", &code).await;
        again.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(
            again.json::<Value>(),
            json!({"error": "Invalid or expired code"})
        );
    })
    .await;
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    with_app(|server, ctx| async move {
        register(&server, "ada@example.com").await;
        let code = latest_code(&ctx, "ada@example.com").await;
        shift_code_times(&ctx, Duration::minutes(-11)).await;
        let res = verify(&server, "ada@example.com", &code).await;
        res.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>()["error"], "Invalid or expired code");
    })
    .await;
}

#[tokio::test]
async fn five_wrong_attempts_kill_the_code() {
    with_app(|server, ctx| async move {
        register(&server, "ada@example.com").await;
        let code = latest_code(&ctx, "ada@example.com").await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..4 {
            let res = verify(&server, "ada@example.com", wrong).await;
            res.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(res.json::<Value>()["error"], "Invalid or expired code");
        }
        let fifth = verify(&server, "ada@example.com", wrong).await;
        fifth.assert_status(StatusCode::BAD_REQUEST);
        assert!(fifth.json::<Value>()["error"]
            .as_str()
            .unwrap()
            .contains("Request a new code"));

        let right = verify(&server, "ada@example.com", &code).await;
        right.assert_status(StatusCode::BAD_REQUEST);
        assert!(right.json::<Value>()["error"]
            .as_str()
            .unwrap()
            .contains("Request a new code"));
    })
    .await;
}

#[tokio::test]
async fn malformed_codes_and_unknown_addresses_are_just_invalid() {
    with_app(|server, _ctx| async move {
        for (email, otp) in [
            ("nobody@example.com", "123456"),
            ("ada@example.com", "12ab56"),
            ("bad", "123456"),
        ] {
            let res = verify(&server, email, otp).await;
            res.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(res.json::<Value>()["error"], "Invalid or expired code");
        }
    })
    .await;
}

#[tokio::test]
async fn resend_is_throttled_and_a_new_code_replaces_the_old() {
    with_app(|server, ctx| async move {
        register(&server, "ada@example.com").await;
        let first = latest_code(&ctx, "ada@example.com").await;

        let res = server
            .post("/api/v1/auth/resend-otp/")
            .json(&json!({"email": "ada@example.com"}))
            .await;
        res.assert_status(StatusCode::ACCEPTED);
        assert_eq!(
            mails_to(&ctx, "ada@example.com").await.len(),
            1,
            "throttled: nothing sent"
        );

        shift_code_times(&ctx, Duration::seconds(-61)).await;
        server
            .post("/api/v1/auth/resend-otp/")
            .json(&json!({"email": "ada@example.com"}))
            .await
            .assert_status(StatusCode::ACCEPTED);
        let mails = mails_to(&ctx, "ada@example.com").await;
        assert_eq!(mails.len(), 2);
        let second = code_in(&mails[1]).unwrap();

        if first != second {
            verify(&server, "ada@example.com", &first)
                .await
                .assert_status(StatusCode::BAD_REQUEST);
        }
        verify(&server, "ada@example.com", &second)
            .await
            .assert_status_ok();
    })
    .await;
}

#[tokio::test]
async fn resend_answers_the_same_for_unknown_addresses() {
    with_app(|server, ctx| async move {
        let res = server
            .post("/api/v1/auth/resend-otp/")
            .json(&json!({"email": "ghost@example.com"}))
            .await;
        res.assert_status(StatusCode::ACCEPTED);
        assert!(mails_to(&ctx, "ghost@example.com").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn login_is_refused_until_the_email_is_verified() {
    with_app(|server, _ctx| async move {
        register(&server, "ada@example.com").await;
        let res = login(&server, "ada@example.com", PASSWORD).await;
        res.assert_status(StatusCode::FORBIDDEN);
        assert_eq!(res.json::<Value>(), json!({"error": "Email not verified"}));
    })
    .await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_alike() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let wrong = login(&server, "ada@example.com", "not the password").await;
        let unknown = login(&server, "ghost@example.com", PASSWORD).await;
        wrong.assert_status(StatusCode::UNAUTHORIZED);
        unknown.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(
            wrong.json::<Value>(),
            json!({"error": "Invalid email or password"})
        );
        assert_eq!(wrong.json::<Value>(), unknown.json::<Value>());
    })
    .await;
}

#[tokio::test]
async fn ten_failed_logins_lock_the_account_for_the_window() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        for _ in 0..10 {
            login(&server, "ada@example.com", "not the password")
                .await
                .assert_status(StatusCode::UNAUTHORIZED);
        }
        let res = login(&server, "ada@example.com", PASSWORD).await;
        res.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        assert!(res.json::<Value>()["error"].is_string());
    })
    .await;
}

#[tokio::test]
async fn me_shows_the_account_behind_the_token() {
    with_app(|server, ctx| async move {
        let token = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        let res = server.get("/api/v1/auth/me/").add_header(k, v).await;
        res.assert_status_ok();
        let me = res.json::<Value>();
        assert_eq!(me["email"], "ada@example.com");
        assert_eq!(me["full_name"], "Ada Lovelace");
        assert_eq!(me["company_name"], "Analytical Engines Ltd");
        assert_eq!(me["email_verified"], true);
        assert_eq!(me["role"], "business");
        assert!(uuid::Uuid::parse_str(me["id"].as_str().unwrap()).is_ok());
        assert!(me["created_at"].is_string());
        assert!(me.get("password").is_none());
    })
    .await;
}

#[tokio::test]
async fn me_refuses_missing_garbage_and_tampered_tokens() {
    with_app(|server, ctx| async move {
        let token = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        server
            .get("/api/v1/auth/me/")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let mut tampered = token.clone();
        let mid = tampered.len() / 2;
        tampered.replace_range(mid..=mid, if &token[mid..=mid] == "A" { "B" } else { "A" });
        for bad in ["garbage", tampered.as_str()] {
            let (k, v) = bearer(bad);
            let res = server.get("/api/v1/auth/me/").add_header(k, v).await;
            res.assert_status(StatusCode::UNAUTHORIZED);
            assert!(res.json::<Value>()["error"].is_string());
        }
    })
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let user = users::Entity::find().one(&ctx.db).await.unwrap().unwrap();
        let app = order_fellow::settings::AppSettings::get(&ctx);
        // Issued an hour ago for ten minutes: expired, with no waiting.
        let an_hour_ago = chrono::Utc::now().timestamp() - 3600;
        let token = order_fellow::domain::token::issue_at(
            &app.token_key(),
            an_hour_ago,
            600,
            user.pid,
            "business",
            0,
        )
        .unwrap();
        let (k, v) = bearer(&token);
        server
            .get("/api/v1/auth/me/")
            .add_header(k, v)
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn password_reset_sets_a_new_password_and_revokes_old_tokens() {
    with_app(|server, ctx| async move {
        let old_token = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let res = server.post("/api/v1/auth/forgot-password/").json(&json!({"email": "ada@example.com"})).await;
        res.assert_status(StatusCode::ACCEPTED);
        let code = latest_code(&ctx, "ada@example.com").await;

        let short = server
            .post("/api/v1/auth/reset-password/")
            .json(&json!({"email": "ada@example.com", "otp": code, "new_password": "short"}))
            .await;
        short.assert_status(StatusCode::BAD_REQUEST);
        assert!(short.json::<Value>()["details"]["new_password"].is_array());

        server
            .post("/api/v1/auth/reset-password/")
            .json(&json!({"email": "ada@example.com", "otp": code, "new_password": "a brand new passphrase"}))
            .await
            .assert_status_ok();

        let (k, v) = bearer(&old_token);
        server.get("/api/v1/auth/me/").add_header(k, v).await.assert_status(StatusCode::UNAUTHORIZED);
        login(&server, "ada@example.com", PASSWORD).await.assert_status(StatusCode::UNAUTHORIZED);
        login(&server, "ada@example.com", "a brand new passphrase").await.assert_status_ok();
    })
    .await;
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_unknown_addresses() {
    with_app(|server, ctx| async move {
        let res = server.post("/api/v1/auth/forgot-password/").json(&json!({"email": "ghost@example.com"})).await;
        res.assert_status(StatusCode::ACCEPTED);
        assert!(mails_to(&ctx, "ghost@example.com").await.is_empty());
        let wrong = server
            .post("/api/v1/auth/reset-password/")
            .json(&json!({"email": "ghost@example.com", "otp": "123456", "new_password": "a brand new passphrase"}))
            .await;
        wrong.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(wrong.json::<Value>()["error"], "Invalid or expired code");
    })
    .await;
}

#[tokio::test]
async fn admins_log_in_through_the_same_endpoint() {
    with_app(|server, ctx| async move {
        let token = given_an_admin(&server, &ctx).await;
        let (k, v) = bearer(&token);
        let me = server
            .get("/api/v1/auth/me")
            .add_header(k, v)
            .await
            .json::<Value>();
        assert_eq!(me["role"], "admin");
        let n = users::Entity::find()
            .filter(users::Column::Role.eq("admin"))
            .all(&ctx.db)
            .await
            .unwrap()
            .len();
        assert_eq!(n, 1);
    })
    .await;
}

#[tokio::test]
async fn parallel_wrong_passwords_cannot_overrun_the_budget() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let attempts = (0..16).map(|_| login(&server, "ada@example.com", "not the password"));
        let results = futures::future::join_all(attempts).await;
        let unauthorized = results
            .iter()
            .filter(|r| r.status_code() == StatusCode::UNAUTHORIZED)
            .count();
        let throttled = results
            .iter()
            .filter(|r| r.status_code() == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((unauthorized, throttled), (10, 6));
        login(&server, "ada@example.com", PASSWORD)
            .await
            .assert_status(StatusCode::TOO_MANY_REQUESTS);
    })
    .await;
}

#[tokio::test]
async fn unknown_addresses_are_throttled_like_accounts() {
    with_app(|server, _ctx| async move {
        for _ in 0..10 {
            login(&server, "ghost@example.com", "whatever it is")
                .await
                .assert_status(StatusCode::UNAUTHORIZED);
        }
        let res = login(&server, "ghost@example.com", "whatever it is").await;
        res.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
    })
    .await;
}

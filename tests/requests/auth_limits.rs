//! Nobody can lock the owner out, reset codes cannot be ground down, and
//! unauthenticated requests cannot exhaust the hasher: the throttles of
//! login, password reset and sign-up, seen from the outside.
use axum::http::StatusCode;
use chrono::Duration;
use loco_rs::TestServer;
use order_fellow::models::_entities::users;
use sea_orm::{sea_query::Expr, EntityTrait};
use serde_json::{json, Value};

use crate::support::*;

const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.23";

/// The test server's requests come from 127.0.0.1 (or ::1): a trusted proxy
/// here, so `X-Forwarded-For` names the client.
fn behind_a_proxy(settings: &mut Value) {
    settings["trusted_proxies"] = json!("127.0.0.1, ::1");
}

/// Behind a proxy, with `n` failed logins per client address.
fn address_budget(n: u32) -> impl FnOnce(&mut Value) {
    move |s| {
        behind_a_proxy(s);
        s["login_address_failure_limit"] = json!(n);
    }
}

async fn login_from(
    server: &TestServer,
    client: &str,
    email: &str,
    password: &str,
) -> axum_test::TestResponse {
    server
        .post("/api/v1/auth/login/")
        .add_header("x-forwarded-for", client.to_string())
        .json(&json!({"email": email, "password": password}))
        .await
}

async fn post_from(
    server: &TestServer,
    client: &str,
    path: &str,
    body: Value,
) -> axum_test::TestResponse {
    server
        .post(path)
        .add_header("x-forwarded-for", client.to_string())
        .json(&body)
        .await
}

fn retry_after(res: &axum_test::TestResponse) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_attacker_locks_only_themselves_out_and_the_owner_still_signs_in() {
    with_app_settings(behind_a_proxy, |server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let admin = "admin@myorderfellow.test";
        given_an_admin(&server, &ctx).await;
        for account in ["ada@example.com", admin] {
            for _ in 0..10 {
                login_from(&server, ATTACKER, account, "not the password")
                    .await
                    .assert_status(StatusCode::UNAUTHORIZED);
            }
            let locked = login_from(&server, ATTACKER, account, PASSWORD).await;
            locked.assert_status(StatusCode::TOO_MANY_REQUESTS);
            assert!(retry_after(&locked) > 0);

            login_from(&server, OWNER, account, PASSWORD)
                .await
                .assert_status_ok();
        }
    })
    .await;
}

#[tokio::test]
async fn without_a_trusted_proxy_x_forwarded_for_is_ignored() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        for i in 0..10 {
            login_from(
                &server,
                &format!("192.0.2.{i}"),
                "ada@example.com",
                "wrong password",
            )
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        }
        login_from(&server, OWNER, "ada@example.com", PASSWORD)
            .await
            .assert_status(StatusCode::TOO_MANY_REQUESTS);
    })
    .await;
}

#[tokio::test]
async fn one_address_failing_across_accounts_is_throttled_everywhere() {
    with_app_settings(address_budget(5), |server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        for i in 0..5 {
            login_from(
                &server,
                ATTACKER,
                &format!("guess{i}@example.com"),
                "whatever it is",
            )
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        }
        let res = login_from(&server, ATTACKER, "ada@example.com", PASSWORD).await;
        res.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&res) > 0);
        login_from(&server, OWNER, "ada@example.com", PASSWORD)
            .await
            .assert_status_ok();
    })
    .await;
}

#[tokio::test]
async fn successful_logins_do_not_use_up_an_addresss_budget() {
    with_app_settings(address_budget(3), |server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        for _ in 0..6 {
            login_from(&server, OWNER, "ada@example.com", PASSWORD)
                .await
                .assert_status_ok();
        }
    })
    .await;
}

#[tokio::test]
async fn login_throttling_reads_the_same_for_known_and_unknown_addresses() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let mut locked = Vec::new();
        for email in ["ada@example.com", "ghost@example.com"] {
            for _ in 0..10 {
                login(&server, email, "not the password")
                    .await
                    .assert_status(StatusCode::UNAUTHORIZED);
            }
            locked.push(login(&server, email, "not the password").await);
        }
        let (known, unknown) = (&locked[0], &locked[1]);
        known.assert_status(StatusCode::TOO_MANY_REQUESTS);
        unknown.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(known.json::<Value>(), unknown.json::<Value>());
        // Both are the rest of the same 15-minute window.
        let (a, b) = (retry_after(known), retry_after(unknown));
        assert!(a.abs_diff(b) <= 5 && a > 800, "{a} vs {b}");
    })
    .await;
}

#[tokio::test]
async fn an_over_long_email_is_a_400_before_any_limiter_hash_or_query() {
    let tweak = |s: &mut Value| s["login_address_failure_limit"] = json!(1);
    with_app_settings(tweak, |server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let long = format!("{}@example.com", "a".repeat(250));
        for _ in 0..3 {
            let res = login(&server, &long, PASSWORD).await;
            res.assert_status(StatusCode::BAD_REQUEST);
            assert!(res.json::<Value>()["details"]["email"].is_array());
        }
        for path in ["resend-otp", "forgot-password"] {
            let res = server
                .post(&format!("/api/v1/auth/{path}/"))
                .json(&json!({"email": long}))
                .await;
            res.assert_status(StatusCode::BAD_REQUEST);
            assert!(res.json::<Value>()["error"].is_string());
        }
        let res = register(&server, &long).await;
        res.assert_status(StatusCode::BAD_REQUEST);
        for (path, body) in [
            ("verify-email", json!({"email": long, "otp": "123456"})),
            (
                "reset-password",
                json!({"email": long, "otp": "123456", "new_password": "a brand new passphrase"}),
            ),
        ] {
            server
                .post(&format!("/api/v1/auth/{path}/"))
                .json(&body)
                .await
                .assert_status(StatusCode::BAD_REQUEST);
        }
        // None of it reached the limiter: the address still has its one failure.
        login(&server, "ada@example.com", PASSWORD)
            .await
            .assert_status_ok();
    })
    .await;
}

#[tokio::test]
async fn when_every_hashing_slot_stays_busy_a_login_is_a_503_with_retry_after() {
    let tweak = |s: &mut Value| {
        s["argon2_max_concurrent"] = json!(1);
        s["argon2_queue_timeout_ms"] = json!(0);
    };
    with_app_settings(tweak, |server, _ctx| async move {
        let attempts = (0..12).map(|i| {
            let server = &server;
            async move { login(server, &format!("nobody{i}@example.com"), PASSWORD).await }
        });
        let answers = futures::future::join_all(attempts).await;
        let busy: Vec<_> = answers
            .iter()
            .filter(|r| r.status_code() == StatusCode::SERVICE_UNAVAILABLE)
            .collect();
        assert!(
            !busy.is_empty(),
            "one slot cannot take twelve logins at once"
        );
        for res in &answers {
            assert!(
                matches!(res.status_code().as_u16(), 401 | 503),
                "{}",
                res.status_code()
            );
        }
        assert_eq!(busy[0].json::<Value>(), json!({"error": "Service busy"}));
        assert!(retry_after(busy[0]) >= 1);
    })
    .await;
}

async fn forgot(server: &TestServer, email: &str) {
    server
        .post("/api/v1/auth/forgot-password/")
        .json(&json!({"email": email}))
        .await
        .assert_status(StatusCode::ACCEPTED);
}

async fn reset(server: &TestServer, email: &str, otp: &str) -> axum_test::TestResponse {
    server
        .post("/api/v1/auth/reset-password/")
        .json(&json!({"email": email, "otp": otp, "new_password": "a brand new passphrase"}))
        .await
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// Moves the account's reset window back past its end, as if a day went by.
async fn let_the_reset_window_pass(ctx: &loco_rs::app::AppContext) {
    users::Entity::update_many()
        .col_expr(
            users::Column::ResetWindowStartedAt,
            Expr::value(order_fellow::domain::now() - Duration::hours(25)),
        )
        .exec(&ctx.db)
        .await
        .unwrap();
}

/// Codes may be requested back to back here: only the caps under test hold them.
fn no_resend_interval(s: &mut Value) {
    s["otp_resend_interval_secs"] = json!(0);
}

#[tokio::test]
async fn at_most_five_reset_codes_are_sent_per_account_per_window() {
    with_app_settings(no_resend_interval, |server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let before = mails_to(&ctx, "ada@example.com").await.len();
        for _ in 0..7 {
            forgot(&server, "ada@example.com").await;
        }
        let mails = mails_to(&ctx, "ada@example.com").await;
        assert_eq!(mails.len() - before, 5);
        let fifth = code_in(mails.last().unwrap()).unwrap();

        let_the_reset_window_pass(&ctx).await;
        forgot(&server, "ada@example.com").await;
        assert_eq!(mails_to(&ctx, "ada@example.com").await.len() - before, 6);
        let sixth = latest_code(&ctx, "ada@example.com").await;
        if sixth != fifth {
            reset(&server, "ada@example.com", &fifth)
                .await
                .assert_status(StatusCode::BAD_REQUEST);
        }
        reset(&server, "ada@example.com", &sixth)
            .await
            .assert_status_ok();
    })
    .await;
}

#[tokio::test]
async fn ten_wrong_reset_codes_refuse_even_the_right_one_until_the_window_passes() {
    with_app_settings(no_resend_interval, |server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        // Each code dies after five wrong tries; a fresh code does not reset
        // the account's count.
        let mut code = String::new();
        for tries in [4, 4, 2] {
            forgot(&server, "ada@example.com").await;
            code = latest_code(&ctx, "ada@example.com").await;
            for _ in 0..tries {
                let res = reset(&server, "ada@example.com", wrong(&code)).await;
                res.assert_status(StatusCode::BAD_REQUEST);
            }
        }
        let refused = reset(&server, "ada@example.com", &code).await;
        refused.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(
            refused.json::<Value>(),
            json!({"error": "Invalid or expired code"})
        );
        let sent = mails_to(&ctx, "ada@example.com").await.len();
        forgot(&server, "ada@example.com").await;
        assert_eq!(
            mails_to(&ctx, "ada@example.com").await.len(),
            sent,
            "no new code past the cap"
        );

        let_the_reset_window_pass(&ctx).await;
        reset(&server, "ada@example.com", &code)
            .await
            .assert_status_ok();
        login(&server, "ada@example.com", "a brand new passphrase")
            .await
            .assert_status_ok();
    })
    .await;
}

#[tokio::test]
async fn wrong_reset_codes_read_the_same_for_known_and_unknown_addresses() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        forgot(&server, "ada@example.com").await;
        forgot(&server, "ghost@example.com").await;
        let code = latest_code(&ctx, "ada@example.com").await;
        for _ in 0..12 {
            let known = reset(&server, "ada@example.com", wrong(&code)).await;
            let unknown = reset(&server, "ghost@example.com", wrong(&code)).await;
            known.assert_status(StatusCode::BAD_REQUEST);
            unknown.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(known.json::<Value>(), unknown.json::<Value>());
            assert_eq!(
                known.json::<Value>(),
                json!({"error": "Invalid or expired code"})
            );
            assert!(!known.headers().contains_key("retry-after"));
        }
    })
    .await;
}

#[tokio::test]
async fn parallel_reset_guesses_cannot_overrun_the_cap() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        forgot(&server, "ada@example.com").await;
        let code = latest_code(&ctx, "ada@example.com").await;
        let guesses = (0..16).map(|_| reset(&server, "ada@example.com", wrong(&code)));
        futures::future::join_all(guesses).await;
        let user = users::Entity::find().one(&ctx.db).await.unwrap().unwrap();
        assert_eq!(user.reset_codes_wrong, 10);
    })
    .await;
}

#[tokio::test]
async fn sign_up_mail_is_throttled_per_client_address() {
    let tweak = |s: &mut Value| {
        behind_a_proxy(s);
        s["signup_address_limit"] = json!(3);
    };
    with_app_settings(tweak, |server, _ctx| async move {
        let reg = |email: &str| {
            json!({
                "email": email,
                "password": PASSWORD,
                "full_name": "Ada Lovelace",
                "company_name": "Analytical Engines Ltd",
            })
        };
        let api = "/api/v1/auth";
        post_from(
            &server,
            ATTACKER,
            &format!("{api}/register/"),
            reg("a@example.com"),
        )
        .await
        .assert_status(StatusCode::CREATED);
        post_from(
            &server,
            ATTACKER,
            &format!("{api}/resend-otp/"),
            json!({"email": "a@example.com"}),
        )
        .await
        .assert_status(StatusCode::ACCEPTED);
        post_from(
            &server,
            ATTACKER,
            &format!("{api}/forgot-password/"),
            json!({"email": "b@example.com"}),
        )
        .await
        .assert_status(StatusCode::ACCEPTED);
        for (path, body) in [
            ("register", reg("c@example.com")),
            ("resend-otp", json!({"email": "c@example.com"})),
            ("forgot-password", json!({"email": "c@example.com"})),
        ] {
            let res = post_from(&server, ATTACKER, &format!("{api}/{path}/"), body).await;
            res.assert_status(StatusCode::TOO_MANY_REQUESTS);
            assert!(retry_after(&res) > 0);
            assert!(res.json::<Value>()["error"].is_string());
        }
        post_from(
            &server,
            OWNER,
            &format!("{api}/register/"),
            reg("d@example.com"),
        )
        .await
        .assert_status(StatusCode::CREATED);
    })
    .await;
}

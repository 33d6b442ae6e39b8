//! Sessions end when they should: logout, promotion or a new password by the
//! operator task, and tokens minted for someone else.
use axum::http::StatusCode;
use loco_rs::TestServer;
use order_fellow::{
    domain::{email::Email, password::Password, token},
    models::users,
    settings::AppSettings,
};
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::support::*;

async fn me(server: &TestServer, token: &str) -> axum_test::TestResponse {
    let (k, v) = bearer(token);
    server.get("/api/v1/auth/me/").add_header(k, v).await
}

async fn token_of(server: &TestServer, email: &str, password: &str) -> String {
    let res = login(server, email, password).await;
    res.assert_status_ok();
    res.json::<Value>()["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn logout_revokes_every_token_of_the_account() {
    with_app(|server, ctx| async move {
        let first = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let second = token_of(&server, "ada@example.com", PASSWORD).await;
        let (k, v) = bearer(&second);
        let res = server.post("/api/v1/auth/logout/").add_header(k, v).await;
        res.assert_status(StatusCode::NO_CONTENT);
        for token in [&first, &second] {
            me(&server, token)
                .await
                .assert_status(StatusCode::UNAUTHORIZED);
        }
        let fresh = token_of(&server, "ada@example.com", PASSWORD).await;
        me(&server, &fresh).await.assert_status_ok();
        server
            .post("/api/v1/auth/logout/")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn a_token_for_another_issuer_or_audience_is_refused() {
    with_app(|server, ctx| async move {
        let good = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let claims = me(&server, &good).await;
        claims.assert_status_ok();
        let user = users::Entity::find().one(&ctx.db).await.unwrap().unwrap();
        let app = AppSettings::get(&ctx);
        let ours = app.token_key();
        for key in [
            token::TokenKey {
                issuer: "another-service",
                ..ours
            },
            token::TokenKey {
                audience: "another-api",
                ..ours
            },
        ] {
            let minted = token::issue(&key, 600, user.pid, "business", user.token_version).unwrap();
            me(&server, &minted)
                .await
                .assert_status(StatusCode::UNAUTHORIZED);
        }
        let minted = token::issue(&ours, 600, user.pid, "business", user.token_version).unwrap();
        me(&server, &minted).await.assert_status_ok();
    })
    .await;
}

/// What `cargo loco task create_admin` runs.
async fn create_admin(ctx: &loco_rs::app::AppContext, email: &str, password: &str) {
    users::Model::create_or_promote_admin(
        &ctx.db,
        &Email::parse(email).unwrap(),
        &Password::parse(password).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn promoting_an_account_with_create_admin_revokes_its_tokens() {
    with_app(|server, ctx| async move {
        let before = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        create_admin(&ctx, "ada@example.com", PASSWORD).await;
        me(&server, &before)
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let after = token_of(&server, "ada@example.com", PASSWORD).await;
        assert_eq!(me(&server, &after).await.json::<Value>()["role"], "admin");
    })
    .await;
}

#[tokio::test]
async fn a_new_password_from_create_admin_revokes_tokens_and_a_rerun_does_not() {
    with_app(|server, ctx| async move {
        create_admin(&ctx, "root@example.com", PASSWORD).await;
        let first = token_of(&server, "root@example.com", PASSWORD).await;
        create_admin(&ctx, "root@example.com", PASSWORD).await;
        me(&server, &first).await.assert_status_ok();

        create_admin(&ctx, "root@example.com", "another long passphrase").await;
        me(&server, &first)
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        login(&server, "root@example.com", PASSWORD)
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        token_of(&server, "root@example.com", "another long passphrase").await;
    })
    .await;
}

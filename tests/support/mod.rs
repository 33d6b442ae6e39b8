//! Helpers that build state through the public API, as a user would.
#![allow(dead_code)]

pub mod app;
pub mod tools;
pub use app::{with_app, with_app_settings};

use axum::http::{HeaderName, HeaderValue};
use loco_rs::{app::AppContext, TestServer};
use order_fellow::workers::outbox::deliver_due;
use serde_json::{json, Value};

/// One definition for both the in-process and the end-to-end tests (the
/// benchmark compiles `e2e::company` alone).
pub use crate::e2e::company::{code_in, sign, PASSWORD};

pub fn bearer(token: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static("authorization"),
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    )
}

/// Delivers queued mail through the stub, then returns every message sent to
/// `to` so far (raw MIME).
pub async fn mails_to(ctx: &AppContext, to: &str) -> Vec<String> {
    deliver_due(ctx).await.unwrap();
    let needle = format!("To: {to}");
    ctx.mailer
        .as_ref()
        .unwrap()
        .deliveries()
        .messages
        .into_iter()
        .filter(|m| m.lines().any(|l| l.trim() == needle))
        .collect()
}

/// The six-digit code of the newest mail to `to`, read as a user would.
pub async fn latest_code(ctx: &AppContext, to: &str) -> String {
    let mails = mails_to(ctx, to).await;
    let last = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
    code_in(last).unwrap_or_else(|| panic!("no code in mail to {to}"))
}

pub async fn register(server: &TestServer, email: &str) -> axum_test::TestResponse {
    server
        .post("/api/v1/auth/register/")
        .json(&json!({
            "email": email,
            "password": PASSWORD,
            "full_name": "Ada Lovelace",
            "company_name": "Analytical Engines Ltd",
        }))
        .await
}

pub async fn login(server: &TestServer, email: &str, password: &str) -> axum_test::TestResponse {
    server
        .post("/api/v1/auth/login/")
        .json(&json!({"email": email, "password": password}))
        .await
}

/// Registers, verifies with the mailed code and logs in; returns the JWT.
pub async fn given_a_verified_business(
    server: &TestServer,
    ctx: &AppContext,
    email: &str,
) -> String {
    register(server, email)
        .await
        .assert_status(axum::http::StatusCode::CREATED);
    let code = latest_code(ctx, email).await;
    server
        .post("/api/v1/auth/verify-email/")
        .json(&json!({"email": email, "otp": code}))
        .await
        .assert_status_ok();
    let res = login(server, email, PASSWORD).await;
    res.assert_status_ok();
    res.json::<Value>()["token"].as_str().unwrap().to_string()
}

/// Creates an admin through the operator task's model call and logs it in.
pub async fn given_an_admin(server: &TestServer, ctx: &AppContext) -> String {
    use order_fellow::{
        domain::{email::Email, password::Password},
        models::users,
    };
    let email = Email::parse("admin@myorderfellow.test").unwrap();
    users::Model::create_or_promote_admin(&ctx.db, &email, &Password::parse(PASSWORD).unwrap())
        .await
        .unwrap();
    let res = login(server, email.as_str(), PASSWORD).await;
    res.assert_status_ok();
    res.json::<Value>()["token"].as_str().unwrap().to_string()
}

pub fn kyc_body() -> Value {
    json!({
        "business_name": "Analytical Engines Ltd",
        "registration_number": "RC-123456",
        "country": "ng",
        "business_address": "12 Marina Road, Lagos",
        "website": "https://engines.example.com",
        "contact_phone": "+234 812 345 6789",
    })
}

/// Submits the standard KYC body; returns the response.
pub async fn submit_kyc(server: &TestServer, token: &str) -> axum_test::TestResponse {
    let (k, v) = bearer(token);
    server
        .post("/api/v1/kyc/")
        .add_header(k, v)
        .json(&kyc_body())
        .await
}

/// A verified business with a pending KYC application: (token, application id).
pub async fn given_a_pending_application(
    server: &TestServer,
    ctx: &AppContext,
    email: &str,
) -> (String, String) {
    let token = given_a_verified_business(server, ctx, email).await;
    let res = submit_kyc(server, &token).await;
    res.assert_status(axum::http::StatusCode::CREATED);
    let id = res.json::<Value>()["id"].as_str().unwrap().to_string();
    (token, id)
}

pub async fn admin_post(
    server: &TestServer,
    admin: &str,
    path: &str,
    body: Option<Value>,
) -> axum_test::TestResponse {
    let (k, v) = bearer(admin);
    let req = server.post(path).add_header(k, v);
    match body {
        Some(b) => req.json(&b).await,
        None => req.await,
    }
}

/// A business whose KYC an admin approved: (token, application id).
pub async fn given_an_approved_business(
    server: &TestServer,
    ctx: &AppContext,
    email: &str,
) -> (String, String) {
    let (token, id) = given_a_pending_application(server, ctx, email).await;
    let admin = given_an_admin(server, ctx).await;
    admin_post(
        server,
        &admin,
        &format!("/api/v1/admin/kyc/{id}/approve/"),
        None,
    )
    .await
    .assert_status_ok();
    (token, id)
}

/// `GET /api/v1/webhook/secret/` → the key.
pub async fn current_secret(server: &TestServer, token: &str) -> String {
    let (k, v) = bearer(token);
    let res = server.get("/api/v1/webhook/secret/").add_header(k, v).await;
    res.assert_status_ok();
    res.json::<Value>()["secret_key"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An approved company's JWT and webhook key.
pub async fn given_an_approved_company_key(
    server: &TestServer,
    ctx: &AppContext,
    email: &str,
) -> (String, String) {
    let (token, _) = given_an_approved_business(server, ctx, email).await;
    let key = current_secret(server, &token).await;
    (token, key)
}

pub fn order_body(external_id: Option<&str>) -> Value {
    let mut body = json!({
        "customer_details": {"name": "John Doe", "email": "john@example.com", "phone": "+2348123456789"},
        "item_summary": "iPhone 15 x2",
        "address": "123 Main St, Lagos",
        "tracking_status": "PENDING",
    });
    if let Some(id) = external_id {
        body["external_order_id"] = json!(id);
    }
    body
}

/// POSTs `body` to the order webhook, signed with `key`.
pub async fn post_order(server: &TestServer, key: &str, body: &Value) -> axum_test::TestResponse {
    let raw = serde_json::to_vec(body).unwrap();
    post_signed(server, "/api/v1/webhooks/orders/", key, &raw).await
}

pub async fn post_signed(
    server: &TestServer,
    path: &str,
    key: &str,
    raw: &[u8],
) -> axum_test::TestResponse {
    server
        .post(path)
        .add_header("x-api-key", key.to_string())
        .add_header("x-webhook-signature", sign(key, raw))
        .content_type("application/json")
        .bytes(raw.to_vec().into())
        .await
}

/// `POST /api/v1/webhook/secret/` with the business's token.
pub async fn rotate_secret(server: &TestServer, token: &str) -> axum_test::TestResponse {
    let (k, v) = bearer(token);
    server
        .post("/api/v1/webhook/secret/")
        .add_header(k, v)
        .await
}

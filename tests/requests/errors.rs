//! Bad input of every shape answers a JSON 4xx, never a 500.
use axum::http::StatusCode;

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn malformed_json_is_a_400() {
    with_app(|server, _ctx| async move {
        let res = server
            .post("/api/v1/auth/login/")
            .text("{\"email\": ")
            .content_type("application/json")
            .await;
        res.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>(), json!({"error": "Invalid JSON"}));
    })
    .await;
}

#[tokio::test]
async fn wrong_content_type_is_a_415() {
    with_app(|server, _ctx| async move {
        let res = server
            .post("/api/v1/auth/login/")
            .text("email=a&password=b")
            .await;
        res.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(res.json::<Value>()["error"].is_string());
    })
    .await;
}

#[tokio::test]
async fn missing_fields_and_wrong_types_name_the_field() {
    with_app(|server, _ctx| async move {
        let missing = server
            .post("/api/v1/auth/login/")
            .json(&json!({"email": "a@b.co"}))
            .await;
        missing.assert_status(StatusCode::BAD_REQUEST);
        assert!(missing.json::<Value>()["details"]["password"].is_array());

        let wrong = server
            .post("/api/v1/auth/login/")
            .json(&json!({"email": 42, "password": "x"}))
            .await;
        wrong.assert_status(StatusCode::BAD_REQUEST);
        assert!(wrong.json::<Value>()["details"]["email"].is_array());

        let not_object = server
            .post("/api/v1/auth/login/")
            .json(&json!([1, 2]))
            .await;
        not_object.assert_status(StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    with_app(|server, _ctx| async move {
        let huge = "x".repeat(200 * 1024);
        let res = server
            .post("/api/v1/auth/register/")
            .json(&json!({"email": "a@b.co", "password": huge, "full_name": "A", "company_name": "B"}))
            .await;
        res.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
        assert!(res.json::<Value>()["error"].is_string());
    })
    .await;
}

#[tokio::test]
async fn paths_work_with_and_without_the_trailing_slash() {
    with_app(|server, ctx| async move {
        let res = server
            .post("/api/v1/auth/register")
            .json(&json!({"email": "ada@example.com", "password": PASSWORD, "full_name": "Ada", "company_name": "AE"}))
            .await;
        res.assert_status(StatusCode::CREATED);
        let code = latest_code(&ctx, "ada@example.com").await;
        server
            .post("/api/v1/auth/verify-email")
            .json(&json!({"email": "ada@example.com", "otp": code}))
            .await
            .assert_status_ok();
        login(&server, "ada@example.com", PASSWORD).await.assert_status_ok();
        server
            .post("/api/v1/auth/login")
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .await
            .assert_status_ok();
    })
    .await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    with_app(|server, _ctx| async move {
        let res = server.get("/api/v1/nope/").await;
        res.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(res.json::<Value>(), json!({"error": "Not found"}));

        let res = server.get("/api/v1/auth/login/").await;
        res.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        assert!(res.json::<Value>()["error"].is_string());
    })
    .await;
}

#[tokio::test]
async fn an_undecodable_path_parameter_answers_json() {
    with_app(|server, ctx| async move {
        let token = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        let res = server.get("/api/v1/orders/%FF%FE/").add_header(k, v).await;
        assert!(res.status_code().is_client_error());
        assert!(res.json::<Value>()["error"].is_string());
    })
    .await;
}

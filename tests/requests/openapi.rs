//! The OpenAPI document describes exactly the router's `/api/v1/` routes.

use std::collections::BTreeSet;

use axum::http::Method;
use loco_rs::app::Hooks;
use order_fellow::app::App;
use serde_json::Value;

use crate::support::*;

const DOCUMENTED: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PATCH,
    Method::PUT,
    Method::DELETE,
];

/// `METHOD /path` for every route the app registers under `/api/v1/`.
fn router_operations(ctx: &loco_rs::app::AppContext) -> BTreeSet<String> {
    App::routes(ctx)
        .collect()
        .into_iter()
        .filter(|r| r.uri.starts_with("/api/v1/"))
        .flat_map(|r| {
            r.actions
                .into_iter()
                .filter(|m| DOCUMENTED.contains(m))
                .map(move |m| format!("{m} {}", r.uri))
        })
        .collect()
}

/// `METHOD /path` for every operation of the document.
fn documented_operations(doc: &Value) -> BTreeSet<String> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| {
                    DOCUMENTED
                        .iter()
                        .any(|m| m.as_str().eq_ignore_ascii_case(k))
                })
                .map(move |k| format!("{} {path}", k.to_ascii_uppercase()))
        })
        .collect()
}

async fn served_document(server: &loco_rs::TestServer) -> Value {
    let res = server.get("/api/v1/openapi.json").await;
    res.assert_status_ok();
    assert_eq!(res.header("content-type"), "application/json");
    res.json::<Value>()
}

#[tokio::test]
async fn every_api_route_is_documented_and_every_documented_route_exists() {
    with_app(|server, ctx| async move {
        let doc = served_document(&server).await;
        let routes = router_operations(&ctx);
        let documented = documented_operations(&doc);
        assert!(routes.len() > 30, "{routes:?}");
        let undocumented: Vec<_> = routes.difference(&documented).collect();
        let phantom: Vec<_> = documented.difference(&routes).collect();
        assert!(
            undocumented.is_empty() && phantom.is_empty(),
            "routes missing from the document: {undocumented:?}; \
             documented routes the router lacks: {phantom:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_the_security_schemes() {
    with_app(|server, _ctx| async move {
        let doc = served_document(&server).await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["type"], "http");
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
        assert_eq!(schemes["api_key"]["name"], "X-API-Key");
        assert_eq!(schemes["api_key"]["in"], "header");
        assert_eq!(schemes["webhook_signature"]["name"], "X-Webhook-Signature");
        let intake = &doc["paths"]["/api/v1/webhooks/orders"]["post"];
        assert_eq!(
            intake["security"],
            serde_json::json!([{"api_key": [], "webhook_signature": []}])
        );
        assert_eq!(
            doc["paths"]["/api/v1/orders"]["get"]["security"],
            serde_json::json!([{"bearer": []}])
        );
    })
    .await;
}

/// The schema a response's JSON content refers to, by name.
fn schema_name(response: &Value) -> Option<&str> {
    response["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

#[tokio::test]
async fn every_error_answer_is_documented_with_the_error_schema() {
    with_app(|server, _ctx| async move {
        let doc = served_document(&server).await;
        let error = &doc["components"]["schemas"]["ErrorBody"];
        assert_eq!(error["required"], serde_json::json!(["error"]));
        assert!(error["properties"]["details"].is_object());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                assert!(responses.contains_key("500"), "{method} {path}");
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            schema_name(response),
                            Some("ErrorBody"),
                            "{method} {path} {status}"
                        );
                    }
                }
                if op["security"][0].get("bearer").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path}");
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_order_webhook_carries_the_seed_examples() {
    with_app(|server, _ctx| async move {
        let doc = served_document(&server).await;
        let schemas = &doc["components"]["schemas"];
        let order = &schemas["NewOrderBody"]["example"];
        assert_eq!(order["customer_details"]["name"], "John Doe");
        assert_eq!(order["item_summary"], "iPhone 15 x2");
        assert_eq!(order["tracking_status"], "PENDING");
        let responses = &doc["paths"]["/api/v1/webhooks/orders"]["post"]["responses"];
        assert_eq!(schema_name(&responses["201"]), Some("IntakeView"));
        assert_eq!(schemas["IntakeView"]["example"]["status"], "success");
        assert_eq!(
            responses["401"]["content"]["application/json"]["example"]["error"],
            "Invalid signature"
        );
    })
    .await;
}

#[tokio::test]
async fn the_seed_order_example_is_accepted_as_documented() {
    with_app(|server, ctx| async move {
        let doc = served_document(&server).await;
        let example = doc["components"]["schemas"]["NewOrderBody"]["example"].clone();
        let (_, key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        let res = post_order(&server, &key, &example).await;
        res.assert_status(axum::http::StatusCode::CREATED);
        assert_eq!(res.json::<Value>()["status"], "success");
    })
    .await;
}

#[tokio::test]
async fn the_docs_page_and_its_vendored_viewer_are_served_offline() {
    with_app(|server, _ctx| async move {
        let page = server.get("/docs").await;
        page.assert_status_ok();
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
        let html = page.text();
        for asset in [
            "/static/docs/swagger-ui/swagger-ui.css",
            "/static/docs/swagger-ui/swagger-ui-bundle.js",
            "/static/docs/init.js",
        ] {
            assert!(html.contains(asset), "{asset}");
            let res = server.get(asset).await;
            res.assert_status_ok();
            assert!(res.as_bytes().len() > 100, "{asset}");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        let init = server.get("/static/docs/init.js").await.text();
        assert!(init.contains("/api/v1/openapi.json"));
        server.get("/docs/").await.assert_status_ok();
        server
            .get("/static/docs/nothing.js")
            .await
            .assert_status(axum::http::StatusCode::NOT_FOUND);
        server
            .get("/static/../Cargo.toml")
            .await
            .assert_status(axum::http::StatusCode::NOT_FOUND);
    })
    .await;
}

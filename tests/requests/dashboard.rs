//! The business dashboard at `/dashboard/`, as a browser uses it.

use axum::http::StatusCode;
use serde_json::Value;

use super::admin_console::{csrf_in, is_html, sign_in_at, Browser};
use crate::support::*;

async fn signed_in(server: &loco_rs::TestServer, email: &str) -> Browser {
    let (browser, res) = sign_in_at(server, "/dashboard/login", email, PASSWORD).await;
    res.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), "/dashboard/");
    browser
}

/// The text of the `<pre class="curl">` block, unescaped.
fn curl_in(html: &str) -> String {
    let at = html.find(r#"class="curl">"#).expect("a curl command") + 13;
    let end = html[at..].find("</pre>").unwrap();
    html[at..at + end]
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn a_verified_business_signs_in_and_others_are_refused() {
    with_app(|server, ctx| async move {
        let browser = {
            given_a_verified_business(&server, &ctx, "ada@example.com").await;
            signed_in(&server, "ada@example.com").await
        };
        let home = browser.get(&server, "/dashboard/").await;
        home.assert_status_ok();
        assert!(home.text().contains("No application yet"));
        // An admin is refused here, and an unverified business.
        given_an_admin(&server, &ctx).await;
        let (_, res) = sign_in_at(
            &server,
            "/dashboard/login",
            "admin@myorderfellow.test",
            PASSWORD,
        )
        .await;
        res.assert_status(StatusCode::FORBIDDEN);
        register(&server, "new@example.com").await;
        let (_, res) = sign_in_at(&server, "/dashboard/login", "new@example.com", PASSWORD).await;
        res.assert_status(StatusCode::FORBIDDEN);
        assert!(is_html(&res));
        // No session: back to sign-in.
        let res = server.get("/dashboard/orders").await;
        res.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(res.header("location"), "/dashboard/login");
    })
    .await;
}

#[tokio::test]
async fn a_business_submits_its_kyc_from_the_form() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let browser = signed_in(&server, "ada@example.com").await;
        let csrf = browser.csrf.clone();
        let form = [
            ("csrf", csrf.as_str()),
            ("business_name", "Analytical Engines Ltd"),
            ("registration_number", "RC-123456"),
            ("country", "NG"),
            ("business_address", "12 Marina Road, Lagos"),
            ("website", ""),
            ("contact_phone", ""),
        ];
        let res = browser.post(&server, "/dashboard/kyc", &form).await;
        res.assert_status(StatusCode::SEE_OTHER);
        let html = browser.get(&server, "/dashboard/").await.text();
        assert!(html.contains(r#"<span class="status pending">pending</span>"#));
        assert!(
            !html.contains(r#"action="/dashboard/kyc""#),
            "no second form while pending"
        );
        let res = browser.post(&server, "/dashboard/kyc", &form).await;
        res.assert_status(StatusCode::CONFLICT);
        assert!(is_html(&res));
        let mut bad = form;
        bad[3] = ("country", "ZZZ");
        let res = browser.post(&server, "/dashboard/kyc", &bad).await;
        res.assert_status(StatusCode::BAD_REQUEST);
        assert!(res.text().contains("country"));
    })
    .await;
}

#[tokio::test]
async fn the_secret_is_revealed_on_request_with_a_working_signed_test_order() {
    with_app(|server, ctx| async move {
        let (token, key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        let browser = signed_in(&server, "ada@example.com").await;
        let page = browser.get(&server, "/dashboard/secret").await.text();
        assert!(page.contains("<dt>State</dt><dd>active</dd>"));
        assert!(!page.contains(&key), "hidden until revealed");
        let page = browser.get(&server, "/dashboard/secret?reveal=1").await;
        page.assert_status_ok();
        assert_eq!(page.header("cache-control"), "no-store");
        let html = page.text();
        assert!(html.contains(&format!(r#"value="{key}""#)));
        let curl = curl_in(&html);
        assert!(curl.contains(&format!("X-API-Key: {key}")), "{curl}");
        let body = curl.split("-d '").nth(1).unwrap().trim_end_matches('\'');
        let signature = curl.split("X-Webhook-Signature: ").nth(1).unwrap()[..64].to_string();
        assert_eq!(signature, sign(&key, body.as_bytes()));
        let res = post_signed(&server, "/api/v1/webhooks/orders/", &key, body.as_bytes()).await;
        res.assert_status(StatusCode::CREATED);
        let _ = token;
    })
    .await;
}

#[tokio::test]
async fn the_copy_button_is_a_same_origin_script_the_page_works_without() {
    with_app(|server, ctx| async move {
        given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        let browser = signed_in(&server, "ada@example.com").await;
        let page = browser.get(&server, "/dashboard/secret?reveal=1").await;
        let csp = page.header("content-security-policy");
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        let html = page.text();
        // Without JavaScript: a plain read-only field, selectable by hand.
        assert!(html.contains(r#"readonly value="whsk_"#));
        assert!(html.contains(r#"data-copy="the secret""#));
        assert!(html.contains(r#"<script src="/static/copy.js" defer></script>"#));
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=").count(),
            "no inline script"
        );
        let js = server.get("/static/copy.js").await;
        js.assert_status_ok();
        assert!(js
            .header("content-type")
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert!(js.text().contains("navigator.clipboard"));
    })
    .await;
}

#[tokio::test]
async fn rotating_needs_confirmation_and_keeps_the_old_key_for_the_grace_window() {
    with_app(|server, ctx| async move {
        let (_, old) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        let browser = signed_in(&server, "ada@example.com").await;
        let page = browser.get(&server, "/dashboard/secret").await.text();
        let csrf = csrf_in(&page);
        let res = browser
            .post(&server, "/dashboard/secret/rotate", &[("confirm", "yes")])
            .await;
        res.assert_status(StatusCode::FORBIDDEN);
        let res = browser
            .post(&server, "/dashboard/secret/rotate", &[("csrf", &csrf)])
            .await;
        res.assert_status(StatusCode::BAD_REQUEST);
        let res = browser
            .post(
                &server,
                "/dashboard/secret/rotate",
                &[("csrf", &csrf), ("confirm", "yes")],
            )
            .await;
        res.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(res.header("location"), "/dashboard/secret?reveal=1");
        let html = browser
            .get(&server, "/dashboard/secret?reveal=1")
            .await
            .text();
        assert!(!html.contains(&old), "a new key is shown");
        post_order(&server, &old, &order_body(Some("OLD-KEY")))
            .await
            .assert_status(StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn a_business_moves_its_own_orders_and_only_its_own() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        let res = post_order(&server, &key, &order_body(Some("SHOP-7"))).await;
        let order_id = res.json::<Value>()["order_id"]
            .as_str()
            .unwrap()
            .to_string();
        let browser = signed_in(&server, "ada@example.com").await;
        let list = browser.get(&server, "/dashboard/orders?q=shop-7").await;
        list.assert_status_ok();
        assert!(list.text().contains("SHOP-7"));
        let form = format!(r#"action="/dashboard/orders/{order_id}/status""#);
        assert!(list.text().contains(&form), "a status form per order");
        let csrf = browser.csrf.clone();
        let path = format!("/dashboard/orders/{order_id}/status");
        let res = browser
            .post(
                &server,
                &path,
                &[
                    ("csrf", &csrf),
                    ("tracking_status", "CONFIRMED"),
                    ("note", ""),
                ],
            )
            .await;
        res.assert_status(StatusCode::SEE_OTHER);
        let html = browser
            .get(&server, "/dashboard/orders?status=CONFIRMED")
            .await
            .text();
        assert!(html.contains("SHOP-7"));
        let res = browser
            .post(
                &server,
                &path,
                &[("csrf", &csrf), ("tracking_status", "PENDING")],
            )
            .await;
        res.assert_status(StatusCode::CONFLICT);
        assert!(is_html(&res));

        given_a_verified_business(&server, &ctx, "eve@example.com").await;
        let eve = signed_in(&server, "eve@example.com").await;
        let eve_csrf = eve.csrf.clone();
        let res = eve
            .post(
                &server,
                &path,
                &[("csrf", &eve_csrf), ("tracking_status", "SHIPPED")],
            )
            .await;
        res.assert_status(StatusCode::NOT_FOUND);
        assert!(is_html(&res));
        assert!(!eve
            .get(&server, "/dashboard/orders")
            .await
            .text()
            .contains("SHOP-7"));
        eve.get(&server, "/dashboard/endpoints")
            .await
            .assert_status_ok();
        eve.get(&server, "/dashboard/secret")
            .await
            .assert_status_ok();
    })
    .await;
}

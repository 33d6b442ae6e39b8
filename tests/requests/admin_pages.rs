//! The admin console's other pages: summary, companies, orders, mail outbox.

use axum::http::StatusCode;
use order_fellow::models::_entities::{
    event_deliveries as deliveries, event_endpoints, outbox_messages as mail,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::{json, Value};

use super::admin_console::{given_a_signed_in_admin, is_html};
use crate::support::*;

#[tokio::test]
async fn the_summary_counts_waiting_kyc_orders_today_refusals_and_outbox() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        given_a_pending_application(&server, &ctx, "bob@example.com").await;
        post_order(&server, &key, &order_body(Some("SHOP-1")))
            .await
            .assert_status(StatusCode::CREATED);
        post_signed(&server, "/api/v1/webhooks/orders/", &key, b"{}").await;
        server
            .post("/api/v1/webhooks/orders/")
            .add_header("x-api-key", key.clone())
            .add_header("x-webhook-signature", "00".repeat(32))
            .json(&order_body(None))
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let html = browser.get(&server, "/admin/").await.text();
        assert!(
            html.contains("<strong>1</strong> KYC applications waiting"),
            "{html}"
        );
        assert!(html.contains("<strong>1</strong> orders today"), "{html}");
        assert!(html.contains("<td>bad_signature</td>"), "{html}");
        assert!(html.contains("e-mails pending"));
    })
    .await;
}

#[tokio::test]
async fn a_company_page_shows_kyc_secret_status_and_orders_but_never_the_secret() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        post_order(&server, &key, &order_body(Some("SHOP-1")))
            .await
            .assert_status(StatusCode::CREATED);
        given_a_verified_business(&server, &ctx, "bob@example.com").await;
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let list = browser.get(&server, "/admin/companies?q=ADA@").await;
        list.assert_status_ok();
        let html = list.text();
        assert!(html.contains("ada@example.com") && !html.contains("bob@example.com"));
        assert!(
            !html.contains("admin@myorderfellow.test</td>"),
            "admins are not companies"
        );
        let at = html.find("/admin/companies/").unwrap() + "/admin/companies/".len();
        let id = &html[at..at + 36];
        let page = browser
            .get(&server, &format!("/admin/companies/{id}"))
            .await;
        page.assert_status_ok();
        let html = page.text();
        assert!(html.contains(r#"<span class="status approved">approved</span>"#));
        assert!(html.contains("<dt>State</dt><dd>active</dd>"), "{html}");
        assert!(html.contains("PENDING: 1"));
        assert!(html.contains("SHOP-1"));
        assert!(
            !html.contains(&key) && !html.contains("whsk_"),
            "never the secret"
        );
        for path in [
            "/admin/companies/not-a-uuid",
            "/admin/companies/0191e5a0-0000-7000-8000-000000000000",
        ] {
            let res = browser.get(&server, path).await;
            res.assert_status(StatusCode::NOT_FOUND);
            assert!(is_html(&res));
        }
    })
    .await;
}

#[tokio::test]
async fn orders_are_searched_across_companies_and_show_their_history() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        let res = post_order(&server, &key, &order_body(Some("SHOP-42"))).await;
        let order_id = res.json::<Value>()["order_id"]
            .as_str()
            .unwrap()
            .to_string();
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        for query in [
            "q=shop-42",
            "q=JOHN%40example.com",
            "q=john+doe&status=PENDING",
        ] {
            let html = browser
                .get(&server, &format!("/admin/orders?{query}"))
                .await
                .text();
            assert!(
                html.contains(&format!("/admin/orders/{order_id}")),
                "{query}"
            );
        }
        let html = browser
            .get(&server, "/admin/orders?status=SHIPPED")
            .await
            .text();
        assert!(!html.contains(&order_id));
        let res = browser.get(&server, "/admin/orders?status=LOST").await;
        res.assert_status(StatusCode::BAD_REQUEST);
        assert!(is_html(&res));
        let page = browser
            .get(&server, &format!("/admin/orders/{order_id}"))
            .await;
        page.assert_status_ok();
        let html = page.text();
        assert!(html.contains("iPhone 15 x2") && html.contains("Analytical Engines Ltd"));
        assert!(html.contains("<td>PENDING</td>"));
    })
    .await;
}

#[tokio::test]
async fn the_outbox_lists_unsent_mail_and_retries_a_failed_one() {
    with_app(|server, ctx| async move {
        register(&server, "ada@example.com")
            .await
            .assert_status(StatusCode::CREATED);
        let row = mail::Entity::find().one(&ctx.db).await.unwrap().unwrap();
        let mut failed: mail::ActiveModel = row.clone().into();
        failed.status = Set("failed".into());
        failed.attempts = Set(5);
        failed.last_error = Set(Some("smtp: connection refused".into()));
        failed.update(&ctx.db).await.unwrap();

        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let page = browser.get(&server, "/admin/outbox?status=failed").await;
        page.assert_status_ok();
        let html = page.text();
        assert!(html.contains("smtp: connection refused") && html.contains("ada@example.com"));
        let retry = format!("/admin/outbox/{}/retry", row.id);
        browser
            .post(&server, &retry, &[])
            .await
            .assert_status(StatusCode::FORBIDDEN);
        let csrf = browser.csrf.clone();
        let res = browser.post(&server, &retry, &[("csrf", &csrf)]).await;
        res.assert_status(StatusCode::SEE_OTHER);
        let after = mail::Entity::find_by_id(row.id)
            .one(&ctx.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.status, "pending");
        assert!(after.next_attempt_at <= chrono::Utc::now().fixed_offset());
        // Delivered, it leaves the list and cannot be retried.
        mails_to(&ctx, "ada@example.com").await;
        let res = browser.post(&server, &retry, &[("csrf", &csrf)]).await;
        res.assert_status(StatusCode::NOT_FOUND);
        assert!(is_html(&res));
        let html = browser.get(&server, "/admin/outbox").await.text();
        assert!(!html.contains("ada@example.com"));
        let res = browser.get(&server, "/admin/outbox?status=sent").await;
        res.assert_status(StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn the_outbox_lists_failed_event_deliveries_across_companies_and_retries_one() {
    with_app(|server, ctx| async move {
        let (token, key) = given_an_approved_company_key(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        server
            .post("/api/v1/webhook/endpoints/")
            .add_header(k, v)
            .json(&json!({"url": "http://127.0.0.1:9/hooks/tok-s3cret?k=abc", "events": ["order.created"]}))
            .await
            .assert_status(StatusCode::CREATED);
        post_order(&server, &key, &order_body(Some("SHOP-1")))
            .await
            .assert_status(StatusCode::CREATED);
        let row = deliveries::Entity::find().one(&ctx.db).await.unwrap().unwrap();
        let mut failed: deliveries::ActiveModel = row.clone().into();
        failed.status = Set("failed".into());
        failed.attempts = Set(8);
        failed.last_error = Set(Some("connect: connection refused".into()));
        failed.update(&ctx.db).await.unwrap();

        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let summary = browser.get(&server, "/admin/").await.text();
        assert!(summary.contains("<strong>1</strong> event deliveries failed"), "{summary}");
        let page = browser.get(&server, "/admin/outbox?status=failed").await;
        page.assert_status_ok();
        let html = page.text();
        assert!(html.contains("connect: connection refused"), "{html}");
        assert!(html.contains("127.0.0.1:9") && html.contains("order.created"));
        assert!(html.contains("Analytical Engines Ltd"));
        assert!(!html.contains("tok-s3cret"), "the host only, never the path");
        let pending = browser.get(&server, "/admin/outbox?status=pending").await.text();
        assert!(!pending.contains("connect: connection refused"));

        let retry = format!("/admin/outbox/deliveries/{}/retry", row.id);
        browser
            .post(&server, &retry, &[])
            .await
            .assert_status(StatusCode::FORBIDDEN);
        let csrf = browser.csrf.clone();
        let res = browser.post(&server, &retry, &[("csrf", &csrf)]).await;
        res.assert_status(StatusCode::SEE_OTHER);
        let after = deliveries::Entity::find_by_id(row.id)
            .one(&ctx.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((after.status.as_str(), after.attempts), ("pending", 0));
        assert!(after.next_attempt_at <= chrono::Utc::now().fixed_offset());

        // A disabled endpoint is enabled first (409); an unknown or
        // delivered one is not found.
        let endpoint = event_endpoints::Entity::find().one(&ctx.db).await.unwrap().unwrap();
        let mut off: event_endpoints::ActiveModel = endpoint.into();
        off.enabled = Set(false);
        off.update(&ctx.db).await.unwrap();
        let res = browser.post(&server, &retry, &[("csrf", &csrf)]).await;
        res.assert_status(StatusCode::CONFLICT);
        assert!(is_html(&res));
        let mut done: deliveries::ActiveModel = after.into();
        done.status = Set("succeeded".into());
        done.update(&ctx.db).await.unwrap();
        for path in [
            retry.as_str(),
            "/admin/outbox/deliveries/999999/retry",
            "/admin/outbox/deliveries/nope/retry",
        ] {
            let res = browser.post(&server, path, &[("csrf", &csrf)]).await;
            res.assert_status(StatusCode::NOT_FOUND);
            assert!(is_html(&res));
        }
        let html = browser.get(&server, "/admin/outbox").await.text();
        assert!(!html.contains("127.0.0.1:9"));
        let summary = browser.get(&server, "/admin/").await.text();
        assert!(summary.contains("<strong>0</strong> event deliveries failed"), "{summary}");
    })
    .await;
}

/// The headers every page sends, error pages included.
fn assert_page_headers(res: &axum_test::TestResponse, what: &str) {
    assert_eq!(res.header("cache-control"), "no-store", "{what}");
    assert_eq!(res.header("x-frame-options"), "DENY", "{what}");
    let csp = res.header("content-security-policy");
    let csp = csp.to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{what}: {csp}"
    );
}

#[tokio::test]
async fn error_pages_send_the_same_no_store_and_csp_headers_as_pages() {
    with_app(|server, ctx| async move {
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let ok = browser.get(&server, "/admin/outbox").await;
        ok.assert_status_ok();
        assert_page_headers(&ok, "a page");
        let cases = [
            (
                browser.get(&server, "/admin/no-such-page").await,
                StatusCode::NOT_FOUND,
            ),
            (
                browser.get(&server, "/dashboard/no-such-page").await,
                StatusCode::NOT_FOUND,
            ),
            (
                browser.get(&server, "/admin/companies/not-a-uuid").await,
                StatusCode::NOT_FOUND,
            ),
            (
                browser.get(&server, "/admin/orders?status=LOST").await,
                StatusCode::BAD_REQUEST,
            ),
            (
                browser.post(&server, "/admin/outbox/1/retry", &[]).await,
                StatusCode::FORBIDDEN,
            ),
            (
                server.put("/admin/outbox").await,
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                browser.get(&server, "/dashboard/").await,
                StatusCode::FORBIDDEN,
            ),
        ];
        for (i, (res, status)) in cases.iter().enumerate() {
            res.assert_status(*status);
            assert!(is_html(res), "case {i}");
            assert_page_headers(res, &format!("case {i} ({status})"));
        }
    })
    .await;
}

//! The business's orders API: its own orders only.
use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

async fn create(
    server: &loco_rs::TestServer,
    key: &str,
    ext: &str,
    name: &str,
    email: &str,
) -> String {
    let mut body = order_body(Some(ext));
    body["customer_details"]["name"] = json!(name);
    body["customer_details"]["email"] = json!(email);
    let res = post_order(server, key, &body).await;
    res.assert_status(StatusCode::CREATED);
    res.json::<Value>()["order_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_business_lists_its_orders_newest_first_with_filters() {
    with_app(|server, ctx| async move {
        let (token, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let a = create(&server, &key, "A-1", "Grace Hopper", "grace@navy.mil").await;
        let b = create(&server, &key, "B-2", "Alan Turing", "alan@bletchley.uk").await;
        let c = create(&server, &key, "C-3", "Ada Lovelace", "ada@engines.uk").await;
        let (_, other) = given_an_approved_company_key(&server, &ctx, "other@example.com").await;
        create(&server, &other, "X-1", "Grace Other", "grace@other.com").await;
        let (k, v) = bearer(&token);
        let get = |path: String| server.get(&path).add_header(k.clone(), v.clone());

        let all = get("/api/v1/orders/".into()).await.json::<Value>();
        assert_eq!(all["count"], 3);
        let ids: Vec<&str> = all["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [c.as_str(), b.as_str(), a.as_str()]);

        let page = get("/api/v1/orders/?page=1&page_size=2".into())
            .await
            .json::<Value>();
        assert_eq!(page["results"].as_array().unwrap().len(), 2);
        assert_eq!(page["next"], 2);

        for (q, expected) in [("grace", &a), ("BLETCHLEY", &b), ("c-3", &c)] {
            let found = get(format!("/api/v1/orders/?q={q}")).await.json::<Value>();
            assert_eq!(found["count"], 1, "{q}");
            assert_eq!(found["results"][0]["id"], expected.as_str());
        }
        let none = get("/api/v1/orders/?q=%25".into()).await.json::<Value>();
        assert_eq!(none["count"], 0, "a literal % matches nothing");

        let (kk, vv) = bearer(&token);
        server
            .patch(&format!("/api/v1/orders/{b}/"))
            .add_header(kk, vv)
            .json(&json!({"tracking_status": "SHIPPED"}))
            .await
            .assert_status_ok();
        let shipped = get("/api/v1/orders/?status=shipped".into())
            .await
            .json::<Value>();
        assert_eq!(shipped["count"], 1);
        assert_eq!(shipped["results"][0]["id"], b.as_str());

        for bad in ["?status=LOST", "?page=0", "?page_size=101"] {
            get(format!("/api/v1/orders/{bad}"))
                .await
                .assert_status(StatusCode::BAD_REQUEST);
        }
        server
            .get("/api/v1/orders/")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn a_search_finds_whole_words_of_name_email_and_id_and_follows_status_changes() {
    with_app(|server, ctx| async move {
        let (token, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let ada = create(
            &server,
            &key,
            "INV-2024-0042",
            "Ada Lovelace",
            "ada@engines.uk",
        )
        .await;
        let emile = create(
            &server,
            &key,
            "INV-2024-0043",
            "Émile Zola",
            "emile@paris.fr",
        )
        .await;
        let (_, other) = given_an_approved_company_key(&server, &ctx, "other@example.com").await;
        create(
            &server,
            &other,
            "INV-2024-0044",
            "Ada Other",
            "ada@other.com",
        )
        .await;
        let (k, v) = bearer(&token);
        let search = |q: &str| {
            let path = format!("/api/v1/orders/?q={}", urlencoding(q));
            let (k, v) = (k.clone(), v.clone());
            let server = &server;
            async move {
                let res = server.get(&path).add_header(k, v).await;
                res.assert_status_ok();
                res.json::<Value>()
            }
        };
        let ids = |found: &Value| -> Vec<String> {
            found["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string())
                .collect()
        };

        for (q, expected) in [
            ("ada", vec![&ada]),
            ("LOVELACE ada", vec![&ada]),
            ("ada@engines.uk", vec![&ada]),
            ("engines", vec![&ada]),
            ("inv-2024-0043", vec![&emile]),
            ("zola paris", vec![&emile]),
            ("émile", vec![&emile]),
            ("ÉMILE", vec![&emile]),
            ("inv 2024", vec![&emile, &ada]),
        ] {
            let found = search(q).await;
            assert_eq!(found["count"], expected.len(), "{q}");
            assert_eq!(
                ids(&found),
                expected.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{q}"
            );
        }
        for q in [
            "lovela",
            "ada lovelace zola",
            "other",
            "%",
            "\"",
            "and",
            "ada OR emile",
        ] {
            assert_eq!(search(q).await["count"], 0, "{q} finds nothing");
        }

        server
            .patch(&format!("/api/v1/orders/{ada}/"))
            .add_header(k.clone(), v.clone())
            .json(&json!({"tracking_status": "IN_TRANSIT"}))
            .await
            .assert_status_ok();
        let in_transit = server
            .get("/api/v1/orders/?q=inv&status=IN_TRANSIT")
            .add_header(k.clone(), v.clone())
            .await
            .json::<Value>();
        assert_eq!(ids(&in_transit), std::slice::from_ref(&ada));
        let pending = server
            .get("/api/v1/orders/?q=inv&status=PENDING")
            .add_header(k.clone(), v.clone())
            .await
            .json::<Value>();
        assert_eq!(ids(&pending), std::slice::from_ref(&emile));
        let second_page = server
            .get("/api/v1/orders/?q=inv&page=2&page_size=1")
            .add_header(k, v)
            .await
            .json::<Value>();
        assert_eq!(second_page["count"], 2);
        assert_eq!(ids(&second_page), [ada]);
    })
    .await;
}

#[tokio::test]
async fn long_lists_count_up_to_a_thousand_then_say_more_and_still_page_on() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let email = order_fellow::domain::email::Email::parse("shop@example.com").unwrap();
        let company = order_fellow::models::users::Model::find_by_email(&ctx.db, &email)
            .await
            .unwrap()
            .unwrap();
        // 1 050 orders, every customer's e-mail at example.com.
        order_fellow::models::seed::orders(&ctx.db, company.id, 1050)
            .await
            .unwrap();
        let (k, v) = bearer(&token);
        let get = |path: &str| server.get(path).add_header(k.clone(), v.clone());
        let summary = |page: &Value| {
            (
                page["count"].as_u64().unwrap(),
                page["count_exact"].as_bool().unwrap(),
                page["next"].as_u64(),
                page["results"].as_array().unwrap().len(),
            )
        };

        for list in ["/api/v1/orders/", "/api/v1/orders/?q=example"] {
            let first = get(list).await.json::<Value>();
            assert_eq!(
                summary(&first),
                (1000, false, Some(2), 20),
                "{list}: more than 1 000"
            );
        }
        // Past the thousand the count reaches the end of the page asked for.
        let deep = get("/api/v1/orders/?q=example&page=51&page_size=20")
            .await
            .json::<Value>();
        assert_eq!(summary(&deep), (1020, false, Some(52), 20));
        let last = get("/api/v1/orders/?q=example&page=11&page_size=100")
            .await
            .json::<Value>();
        assert_eq!(summary(&last), (1050, true, None, 50), "the end is exact");
        let few = get("/api/v1/orders/?q=example&status=PENDING")
            .await
            .json::<Value>();
        assert!(few["count_exact"].as_bool().unwrap(), "{few}");

        let (other, _) = given_an_approved_company_key(&server, &ctx, "other@example.com").await;
        let (k, v) = bearer(&other);
        let theirs = server
            .get("/api/v1/orders/?q=example")
            .add_header(k, v)
            .await
            .json::<Value>();
        assert_eq!(
            summary(&theirs),
            (0, true, None, 0),
            "another company's count"
        );
    })
    .await;
}

/// `q` percent-encoded for a query string.
fn urlencoding(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn another_companys_order_is_not_found() {
    with_app(|server, ctx| async move {
        let (_, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let id = create(&server, &key, "A-1", "Grace", "grace@navy.mil").await;
        let (other_token, _) =
            given_an_approved_company_key(&server, &ctx, "other@example.com").await;
        let (k, v) = bearer(&other_token);
        for path in [
            format!("/api/v1/orders/{id}/"),
            format!("/api/v1/orders/{}/", uuid::Uuid::new_v4()),
            "/api/v1/orders/42/".into(),
        ] {
            let res = server.get(&path).add_header(k.clone(), v.clone()).await;
            res.assert_status(StatusCode::NOT_FOUND);
            assert!(res.json::<Value>()["error"].is_string());
        }
        server
            .patch(&format!("/api/v1/orders/{id}/"))
            .add_header(k, v)
            .json(&json!({"tracking_status": "CANCELLED"}))
            .await
            .assert_status(StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn patching_follows_the_same_transition_rules() {
    with_app(|server, ctx| async move {
        let (token, key) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let id = create(&server, &key, "A-1", "Grace", "grace@navy.mil").await;
        let (k, v) = bearer(&token);
        let patch = |body: Value| {
            server
                .patch(&format!("/api/v1/orders/{id}/"))
                .add_header(k.clone(), v.clone())
                .json(&body)
        };
        let ok = patch(json!({"tracking_status": "CANCELLED", "note": "customer asked"})).await;
        ok.assert_status_ok();
        let body = ok.json::<Value>();
        assert_eq!(body["tracking_status"], "CANCELLED");
        assert_eq!(body["history"][1]["note"], "customer asked");
        assert_eq!(body["history"][1]["source"], "api");
        let terminal = patch(json!({"tracking_status": "SHIPPED"})).await;
        terminal.assert_status(StatusCode::CONFLICT);
        assert_eq!(terminal.json::<Value>()["current_status"], "CANCELLED");
        patch(json!({"tracking_status": "NOPE"}))
            .await
            .assert_status(StatusCode::BAD_REQUEST);
        patch(json!({}))
            .await
            .assert_status(StatusCode::BAD_REQUEST);
        let mails = mails_to(&ctx, "grace@navy.mil").await;
        assert_eq!(mails.len(), 2);
        assert!(mails[1].contains("Cancelled"));
    })
    .await;
}

//! Mail to a shop's customers cannot be used for phishing: it names the
//! shop by its KYC-approved business name, and the order's free text is
//! quoted data, never our own wording.
use axum::http::StatusCode;
use order_fellow::models::_entities::users;
use sea_orm::{sea_query::Expr, EntityTrait};
use serde_json::{json, Value};

use crate::support::*;

const LURE: &str =
    "Your account is locked.\nLog in at <a href=\"https://evil.example\">paypal.com</a> to keep it";

/// A shop that registered under a name it may not use, approved under the
/// name its KYC proved: its webhook key.
async fn given_a_shop_registered_as_paypal(
    server: &loco_rs::TestServer,
    ctx: &loco_rs::app::AppContext,
) -> String {
    let (_, key) = given_an_approved_company_key(server, ctx, "shop@example.com").await;
    users::Entity::update_many()
        .col_expr(users::Column::CompanyName, Expr::value("PayPal Security"))
        .exec(&ctx.db)
        .await
        .unwrap();
    key
}

/// Posts an order whose items carry the lure; its id.
async fn order_with_a_lure(server: &loco_rs::TestServer, key: &str, address: &str) -> Value {
    let mut body = order_body(Some("PH-1"));
    body["item_summary"] = json!(LURE);
    body["address"] = json!(address);
    let res = post_order(server, key, &body).await;
    res.assert_status(StatusCode::CREATED);
    res.json::<Value>()["order_id"].clone()
}

/// A raw message with its quoted-printable parts decoded.
fn decoded(mail: &str) -> String {
    let joined = mail.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// A part's body: between its header block and the next boundary.
fn part<'a>(mail: &'a str, content_type: &str) -> &'a str {
    let start = mail.find(&format!("Content-Type: {content_type}")).unwrap();
    let body = &mail[start..];
    let body = &body[body.find("\n\n").unwrap() + 2..];
    &body[..body.find("\n--").unwrap()]
}

fn text_part(mail: &str) -> &str {
    part(mail, "text/plain")
}

fn assert_quoted(mail: &str) {
    assert!(mail.contains("Analytical Engines Ltd"), "{mail}");
    assert!(!mail.contains("PayPal Security"), "{mail}");
    let text = text_part(mail);
    for lure_line in ["Your account is locked", "Log in at"] {
        let line = text.lines().find(|l| l.contains(lure_line)).unwrap();
        assert!(line.starts_with("    > "), "unquoted: {line:?}");
    }
    let html = part(mail, "text/html");
    assert!(
        html.contains("&lt;a href=&quot;https://evil.example&quot;&gt;"),
        "{html}"
    );
    assert!(!html.contains("<a href"), "{html}");
}

#[tokio::test]
async fn the_confirmation_names_the_kyc_approved_business_and_quotes_the_order() {
    with_app(|server, ctx| async move {
        let key = given_a_shop_registered_as_paypal(&server, &ctx).await;
        order_with_a_lure(&server, &key, "1 Main St\nLagos").await;
        let mails = mails_to(&ctx, "john@example.com").await;
        assert_eq!(mails.len(), 1);
        let mail = decoded(&mails[0]);
        assert_quoted(&mail);
        let text = text_part(&mail);
        assert!(text.contains("    > 1 Main St\n    > Lagos"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn a_status_mail_quotes_the_senders_note() {
    with_app(|server, ctx| async move {
        let key = given_a_shop_registered_as_paypal(&server, &ctx).await;
        let id = order_with_a_lure(&server, &key, "1 Main St, Lagos").await;
        let raw = serde_json::to_vec(&json!({
            "order_id": id, "tracking_status": "SHIPPED", "note": LURE,
        }))
        .unwrap();
        post_signed(&server, "/api/v1/webhooks/orders/status/", &key, &raw)
            .await
            .assert_status_ok();
        let mails = mails_to(&ctx, "john@example.com").await;
        assert_eq!(mails.len(), 2);
        let mail = decoded(&mails[1]);
        assert_quoted(&mail);
        assert_eq!(
            text_part(&mail)
                .matches("    > Your account is locked")
                .count(),
            2,
            "the note and the items, each quoted"
        );
    })
    .await;
}

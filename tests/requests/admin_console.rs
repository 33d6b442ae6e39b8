//! The admin console at `/admin/`: sign-in, session and CSRF, the KYC queue
//! and its decisions, all as a browser sends them (forms and cookies).

use axum::http::StatusCode;
use loco_rs::TestServer;
use serde_json::{json, Value};

use crate::support::*;

pub(super) const ADMIN: &str = "admin@myorderfellow.test";

/// The value of `name` in a response's `Set-Cookie` headers, and the whole header.
pub(super) fn set_cookie(res: &axum_test::TestResponse, name: &str) -> Option<(String, String)> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap().to_string();
            (value, v.to_string())
        })
}

/// The hidden CSRF field's value in a page.
pub(super) fn csrf_in(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// A browser's cookie jar, as one `Cookie` header.
#[derive(Default, Clone)]
pub(super) struct Browser {
    pub csrf: String,
    pub session: Option<String>,
}

impl Browser {
    fn cookie(&self) -> String {
        let mut c = format!("of_csrf={}", self.csrf);
        if let Some(s) = &self.session {
            c.push_str(&format!("; of_session={s}"));
        }
        c
    }

    pub async fn get(&self, server: &TestServer, path: &str) -> axum_test::TestResponse {
        server.get(path).add_header("cookie", self.cookie()).await
    }

    pub async fn post(
        &self,
        server: &TestServer,
        path: &str,
        form: &[(&str, &str)],
    ) -> axum_test::TestResponse {
        server
            .post(path)
            .add_header("cookie", self.cookie())
            .form(&form)
            .await
    }
}

/// Opens a sign-in page: the CSRF cookie and field.
pub(super) async fn open_login_at(server: &TestServer, path: &str) -> Browser {
    let res = server.get(path).await;
    res.assert_status_ok();
    let (cookie, header) = set_cookie(&res, "of_csrf").expect("a CSRF cookie");
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict"));
    assert!(header.contains("Secure"), "Secure outside development");
    assert_eq!(csrf_in(&res.text()), cookie);
    Browser {
        csrf: cookie,
        session: None,
    }
}

async fn sign_in(
    server: &TestServer,
    email: &str,
    password: &str,
) -> (Browser, axum_test::TestResponse) {
    sign_in_at(server, "/admin/login", email, password).await
}

/// Signs in at `path` (a sign-in page): the browser and the answer.
pub(super) async fn sign_in_at(
    server: &TestServer,
    path: &str,
    email: &str,
    password: &str,
) -> (Browser, axum_test::TestResponse) {
    let mut browser = open_login_at(server, path).await;
    let csrf = browser.csrf.clone();
    let res = browser
        .post(
            server,
            path,
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await;
    browser.session = set_cookie(&res, "of_session").map(|(v, _)| v);
    (browser, res)
}

pub(super) async fn given_a_signed_in_admin(
    server: &TestServer,
    ctx: &loco_rs::app::AppContext,
) -> Browser {
    given_an_admin(server, ctx).await;
    let (browser, res) = sign_in(server, ADMIN, PASSWORD).await;
    res.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), "/admin/kyc");
    browser
}

pub(super) fn is_html(res: &axum_test::TestResponse) -> bool {
    res.header("content-type")
        .to_str()
        .unwrap()
        .starts_with("text/html")
}

#[tokio::test]
async fn an_admin_signs_in_with_a_strict_http_only_secure_session_cookie() {
    with_app(|server, ctx| async move {
        given_an_admin(&server, &ctx).await;
        let (browser, res) = sign_in(&server, ADMIN, PASSWORD).await;
        res.assert_status(StatusCode::SEE_OTHER);
        let (_, header) = set_cookie(&res, "of_session").expect("a session cookie");
        for attr in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=",
        ] {
            assert!(header.contains(attr), "{attr} in {header}");
        }
        let queue = browser.get(&server, "/admin/kyc").await;
        queue.assert_status_ok();
        assert!(queue.text().contains("KYC applications"));
        assert!(queue.text().contains(ADMIN));
    })
    .await;
}

#[tokio::test]
async fn without_a_session_the_console_redirects_to_sign_in() {
    with_app(|server, _ctx| async move {
        for path in [
            "/admin/",
            "/admin/kyc",
            "/admin/kyc/0191e5a0-0000-7000-8000-000000000000",
        ] {
            let res = server.get(path).await;
            res.assert_status(StatusCode::SEE_OTHER);
            assert_eq!(res.header("location"), "/admin/login");
        }
        let forged = server
            .get("/admin/kyc")
            .add_header("cookie", "of_session=not.a.token")
            .await;
        forged.assert_status(StatusCode::SEE_OTHER);
    })
    .await;
}

#[tokio::test]
async fn a_business_account_is_refused_by_the_console() {
    with_app(|server, ctx| async move {
        let token = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let (_, res) = sign_in(&server, "ada@example.com", PASSWORD).await;
        res.assert_status(StatusCode::FORBIDDEN);
        assert!(is_html(&res));
        assert!(res.text().contains("admin accounts"));
        assert!(set_cookie(&res, "of_session").is_none());
        // A business's token as a session cookie is refused too.
        let res = server
            .get("/admin/kyc")
            .add_header("cookie", format!("of_session={token}"))
            .await;
        res.assert_status(StatusCode::FORBIDDEN);
        assert!(is_html(&res));
    })
    .await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_repeated_failures_are_throttled() {
    with_app(|server, ctx| async move {
        given_an_admin(&server, &ctx).await;
        let (_, res) = sign_in(&server, ADMIN, "wrong password!").await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        assert!(is_html(&res));
        assert!(res.text().contains("Invalid email or password"));
        let mut last = StatusCode::UNAUTHORIZED;
        for _ in 0..12 {
            last = sign_in(&server, ADMIN, "wrong password!")
                .await
                .1
                .status_code();
        }
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    })
    .await;
}

#[tokio::test]
async fn a_form_post_without_the_csrf_token_is_refused() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let path = format!("/admin/kyc/{id}/approve");
        for form in [vec![], vec![("csrf", "0".repeat(64))]] {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = browser.post(&server, &path, &form).await;
            res.assert_status(StatusCode::FORBIDDEN);
            assert!(is_html(&res));
        }
        let admin = given_an_admin(&server, &ctx).await;
        let (k, v) = bearer(&admin);
        let app = server
            .get(&format!("/api/v1/admin/kyc/{id}/"))
            .add_header(k, v)
            .await;
        assert_eq!(app.json::<Value>()["status"], "pending");
        // Sign-in itself needs the token too.
        let res = server
            .post("/admin/login")
            .form(&[("email", ADMIN), ("password", PASSWORD)])
            .await;
        res.assert_status(StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn an_admin_approves_from_the_queue_and_the_business_gets_its_secret() {
    with_app(|server, ctx| async move {
        let (business, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let queue = browser
            .get(&server, "/admin/kyc?status=pending&manual=no")
            .await;
        queue.assert_status_ok();
        assert!(queue.text().contains(&format!("/admin/kyc/{id}")));
        let empty = browser.get(&server, "/admin/kyc?status=approved").await;
        assert!(!empty.text().contains(&format!("/admin/kyc/{id}")));

        let page = browser.get(&server, &format!("/admin/kyc/{id}")).await;
        page.assert_status_ok();
        let csrf = csrf_in(&page.text());
        let res = browser
            .post(
                &server,
                &format!("/admin/kyc/{id}/approve"),
                &[("csrf", &csrf)],
            )
            .await;
        res.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(res.header("location"), format!("/admin/kyc/{id}"));
        let page = browser.get(&server, &format!("/admin/kyc/{id}")).await;
        assert!(page
            .text()
            .contains(r#"<span class="status approved">approved</span>"#));
        assert!(page.text().contains("pending</td><td>approved"));

        let (k, v) = bearer(&business);
        let secret = server.get("/api/v1/webhook/secret/").add_header(k, v).await;
        secret.assert_status_ok();
        assert!(secret.json::<Value>()["secret_key"]
            .as_str()
            .unwrap()
            .starts_with("whsk_"));
    })
    .await;
}

#[tokio::test]
async fn rejecting_needs_a_reason_and_records_it() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let csrf = browser.csrf.clone();
        let path = format!("/admin/kyc/{id}/reject");
        let res = browser
            .post(&server, &path, &[("csrf", &csrf), ("reason", " ")])
            .await;
        res.assert_status(StatusCode::BAD_REQUEST);
        assert!(is_html(&res));
        let res = browser
            .post(
                &server,
                &path,
                &[("csrf", &csrf), ("reason", "Registry mismatch")],
            )
            .await;
        res.assert_status(StatusCode::SEE_OTHER);
        let page = browser.get(&server, &format!("/admin/kyc/{id}")).await;
        assert!(page.text().contains("Registry mismatch"));
        assert!(page
            .text()
            .contains(r#"<span class="status rejected">rejected</span>"#));
        let res = browser
            .post(
                &server,
                &format!("/admin/kyc/{id}/delete"),
                &[("csrf", &csrf)],
            )
            .await;
        res.assert_status(StatusCode::NOT_FOUND);
        assert!(is_html(&res));
        // Approving a rejected application is refused by the state machine.
        let res = browser
            .post(
                &server,
                &format!("/admin/kyc/{id}/approve"),
                &[("csrf", &csrf)],
            )
            .await;
        res.assert_status(StatusCode::CONFLICT);
        assert!(is_html(&res));
    })
    .await;
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    with_app(|server, ctx| async move {
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let csrf = browser.csrf.clone();
        let res = browser
            .post(&server, "/admin/logout", &[("csrf", &csrf)])
            .await;
        res.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(res.header("location"), "/admin/login");
        let (_, header) = set_cookie(&res, "of_session").unwrap();
        assert!(header.contains("Max-Age=0"));
        // The old cookie no longer works, even if the browser kept it.
        let res = browser.get(&server, "/admin/kyc").await;
        res.assert_status(StatusCode::SEE_OTHER);
    })
    .await;
}

#[tokio::test]
async fn user_data_is_escaped_and_errors_are_pages() {
    with_app(|server, ctx| async move {
        let token = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let mut body = kyc_body();
        body["business_name"] = json!("<script>alert(1)</script>");
        let (k, v) = bearer(&token);
        let res = server
            .post("/api/v1/kyc/")
            .add_header(k, v)
            .json(&body)
            .await;
        res.assert_status(StatusCode::CREATED);
        let id = res.json::<Value>()["id"].as_str().unwrap().to_string();
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        for path in ["/admin/kyc".to_string(), format!("/admin/kyc/{id}")] {
            let html = browser.get(&server, &path).await.text();
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{path}"
            );
            assert!(!html.contains("<script>alert(1)"), "{path}");
        }
        for (path, status) in [
            ("/admin/kyc/not-an-id", StatusCode::NOT_FOUND),
            (
                "/admin/kyc/0191e5a0-0000-7000-8000-000000000000",
                StatusCode::NOT_FOUND,
            ),
            ("/admin/nothing-here", StatusCode::NOT_FOUND),
            ("/admin/kyc?page=0", StatusCode::BAD_REQUEST),
            ("/admin/kyc?status=bogus", StatusCode::BAD_REQUEST),
        ] {
            let res = browser.get(&server, path).await;
            res.assert_status(status);
            assert!(is_html(&res), "{path}");
        }
        let res = browser.post(&server, "/admin/kyc", &[]).await;
        res.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        assert!(is_html(&res));
    })
    .await;
}

#[tokio::test]
async fn an_expired_session_goes_back_to_sign_in() {
    with_app(|server, ctx| async move {
        let browser = given_a_signed_in_admin(&server, &ctx).await;
        let admin = order_fellow::models::users::Model::find_by_email(
            &ctx.db,
            &order_fellow::domain::email::Email::parse(ADMIN).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        let app = order_fellow::settings::AppSettings::get(&ctx);
        // Issued an hour ago for ten minutes: expired, with no waiting.
        let expired = order_fellow::domain::token::issue_at(
            &app.token_key(),
            chrono::Utc::now().timestamp() - 3600,
            600,
            admin.pid,
            &admin.role,
            admin.token_version,
        )
        .unwrap();
        let stale = Browser {
            session: Some(expired),
            ..browser.clone()
        };
        let res = stale.get(&server, "/admin/kyc").await;
        res.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(res.header("location"), "/admin/login");
        browser.get(&server, "/admin/kyc").await.assert_status_ok();
    })
    .await;
}

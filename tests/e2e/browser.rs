//! The admin console and the business dashboard in a real browser: Debian's
//! headless Chromium driven over WebDriver by `chromedriver` (both installed
//! by `.ci/run`), against the real server process. Each step leaves a
//! screenshot under `target/screenshots/`.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{json, Value};

use super::{
    company::{call, given_a_verified_business, PASSWORD},
    http,
    server::{die_with_parent, free_port, ServerProcess},
    unique_email,
};
use crate::support::tools;

/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session; both end on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    shots: PathBuf,
}

impl Browser {
    async fn start(shots: &str) -> Self {
        let port = free_port().unwrap();
        let mut command = Command::new("chromedriver");
        die_with_parent(&mut command);
        let driver = command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = http();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"],
            },
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_string();
        let shots = tools::repo("target/screenshots").join(shots);
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            driver,
            base,
            session,
            http,
            shots,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(
            res["value"].get("error").is_none(),
            "WebDriver {path}: {res}"
        );
        res["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn script(&self, script: &str) {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The page's source once it contains `text` (a click's navigation may
    /// still be under way when the click returns).
    async fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            assert!(Instant::now() < deadline, "no {text:?} in {source}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot of the page as `<step>.png`.
    async fn shot(&self, step: &str) {
        let png = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(self.shots.join(format!("{step}.png")), bytes).unwrap();
    }

    async fn sign_in(&self, login_url: &str, email: &str) {
        self.go(login_url).await;
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.click("main button[type=submit]").await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test]
async fn an_admin_approves_in_the_browser_and_the_business_sees_then_rotates_its_secret() {
    if tools::system("chromedriver", "--version").is_none()
        || tools::system("chromium", "--version").is_none()
    {
        return;
    }
    let mut server = ServerProcess::start(&[]).await;
    let base = server.base_url();
    let http = http();
    let business = unique_email("shop");
    let token = given_a_verified_business(&http, &server, &business)
        .await
        .unwrap();
    let (status, kyc) = call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/api/v1/kyc/"),
        Some(&token),
        Some(&json!({
            "business_name": "<script>alert('x')</script> Shop",
            "registration_number": "RC-1843",
            "country": "NG",
            "business_address": "12 Marina Road, Lagos",
        })),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{kyc}");
    let kyc_id = kyc["id"].as_str().unwrap().to_string();
    let admin = unique_email("admin");
    server.set_env("ADMIN_PASSWORD", PASSWORD);
    server
        .run_task("create_admin", &[&format!("email:{admin}")])
        .await
        .unwrap();

    // The admin signs in, opens the queue and the application.
    let browser = Browser::start("console").await;
    browser.go(&format!("{base}/admin/kyc")).await;
    assert!(browser.url().await.ends_with("/admin/login"));
    browser.shot("01-admin-sign-in").await;
    browser
        .sign_in(&format!("{base}/admin/login"), &admin)
        .await;
    let queue = browser.wait_for("KYC applications").await;
    assert!(browser.url().await.ends_with("/admin/kyc"));
    assert!(queue.contains("&lt;script&gt;"), "the name renders as text");
    browser.shot("02-admin-queue").await;
    browser
        .click(&format!("a[href='/admin/kyc/{kyc_id}']"))
        .await;
    browser.wait_for("Audit trail").await;
    browser.shot("03-admin-application").await;

    // A forged post: the approve form without its CSRF field.
    browser
        .script(
            "const f = document.querySelector(\"form[action$='/approve']\");\
             f.querySelector(\"input[name='csrf']\").remove(); f.submit();",
        )
        .await;
    browser.wait_for("403 · Forbidden").await;
    browser.shot("04-forged-post-refused").await;

    // The real button.
    browser.go(&format!("{base}/admin/kyc/{kyc_id}")).await;
    browser.wait_for("Audit trail").await;
    browser.click("button.approve").await;
    browser
        .wait_for(r#"<span class="status approved">approved</span>"#)
        .await;
    browser.shot("05-admin-approved").await;
    browser.click(".bar form button").await;
    browser.wait_for("Admin sign-in").await;
    drop(browser);

    // The business sees its secret, then rotates it.
    let browser = Browser::start("dashboard").await;
    browser
        .sign_in(&format!("{base}/dashboard/login"), &business)
        .await;
    browser.wait_for("Your KYC").await;
    assert!(browser.url().await.ends_with("/dashboard/"));
    browser.shot("06-dashboard-kyc-approved").await;
    browser.go(&format!("{base}/dashboard/secret")).await;
    browser.wait_for("Reveal the secret").await;
    browser.click("a.button").await;
    let revealed = browser.wait_for("curl -X POST").await;
    let at = revealed.find("value=\"whsk_").expect("the secret is shown") + 7;
    let first = revealed[at..at + 48].to_string();
    assert!(revealed.contains("curl -X POST"));
    // With JavaScript on, copy.js (allowed by the CSP) adds the Copy buttons.
    browser.wait_for(r#"aria-label="Copy the secret""#).await;
    browser.click("button[aria-label='Copy the secret']").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let source = browser.source().await;
        if source.contains("Copied.") || source.contains("to copy the selected text") {
            break;
        }
        assert!(Instant::now() < deadline, "the Copy button did nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.shot("07-dashboard-secret").await;
    browser.click("input[name=confirm]").await;
    browser
        .click("form[action='/dashboard/secret/rotate'] button")
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser.source().await.contains(&first) {
        assert!(Instant::now() < deadline, "the secret did not change");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(browser
        .wait_for("value=\"whsk_")
        .await
        .contains("curl -X POST"));
    browser.shot("08-dashboard-rotated").await;

    // The API reference renders from the vendored viewer, offline.
    browser.go(&format!("{base}/docs")).await;
    browser.wait_for("My Order Fellow API").await;
    browser.shot("09-api-reference").await;
    drop(server);
}

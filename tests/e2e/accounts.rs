use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::{
    company::{self, call, code_from_outbox, code_in, is_to, PASSWORD},
    http,
    server::ServerProcess,
    smtp_sink::SmtpSink,
    unique_email,
};

/// How long a mail may take to arrive on a loaded machine.
const MAIL_TIMEOUT: Duration = Duration::from_secs(60);

async fn register(http: &reqwest::Client, server: &ServerProcess, email: &str) {
    company::register(http, server, email).await.unwrap();
}

async fn verify(http: &reqwest::Client, server: &ServerProcess, email: &str, code: &str) {
    let (status, body) = call(
        http,
        Method::POST,
        &format!("{}/api/v1/auth/verify-email/", server.base_url()),
        None,
        Some(&json!({"email": email, "otp": code})),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "verify-email: {body}");
}

/// Logs in and calls `GET /auth/me/` with the token; answers the e-mail `me` shows.
async fn login_and_me(http: &reqwest::Client, server: &ServerProcess, email: &str) -> String {
    let api = format!("{}/api/v1", server.base_url());
    let (status, body) = call(
        http,
        Method::POST,
        &format!("{api}/auth/login/"),
        None,
        Some(&json!({"email": email, "password": PASSWORD})),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "login: {}", body["error"]);
    let token = body["token"].as_str().expect("a token").to_string();
    let (status, me) = call(
        http,
        Method::GET,
        &format!("{api}/auth/me/"),
        Some(&token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "me: {me}");
    me["email"].as_str().unwrap_or_default().to_string()
}

/// The text without terminal colour sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `needle` occurs in `haystack` as a token of its own, not inside a
/// longer run of letters or digits (a timestamp's microseconds, an id).
fn contains_token(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[test]
fn a_code_counts_as_logged_only_as_a_token_of_its_own() {
    assert!(contains_token("otp=123456 ok", "123456"));
    assert!(contains_token("\"otp\":\"123456\"", "123456"));
    assert!(!contains_token("19:06:16.123456Z", "123456"));
    assert!(!contains_token("id=a123456b", "123456"));
    assert_eq!(strip_ansi("\u{1b}[2motp\u{1b}[0m=123456"), "otp=123456");
}

fn smtp_env(sink: &SmtpSink) -> [(&'static str, String); 3] {
    [
        ("SMTP_HOST", "127.0.0.1".to_string()),
        ("SMTP_PORT", sink.port().to_string()),
        ("SMTP_TLS", "none".to_string()),
    ]
}

#[tokio::test]
async fn a_business_registers_and_verifies_with_a_code_delivered_over_real_smtp() {
    let sink = SmtpSink::start();
    let env = smtp_env(&sink);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = ServerProcess::start(&env).await;
    let http = http();
    let email = unique_email("smtp");

    register(&http, &server, &email).await;
    let mail = sink
        .wait_for(|m| is_to(m, &email) && code_in(m).is_some(), MAIL_TIMEOUT)
        .await
        .unwrap_or_else(|| {
            panic!(
                "no code reached the SMTP sink; server output:\n{}",
                server.output()
            )
        });
    let code = code_in(&mail).unwrap();
    verify(&http, &server, &email, &code).await;

    assert_eq!(login_and_me(&http, &server, &email).await, email);
    let eml_files = std::fs::read_dir(server.outbox_dir())
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(eml_files, 0, "with SMTP configured no .eml file is written");
}

#[tokio::test]
async fn the_outbox_folder_gets_an_eml_file_when_no_smtp_is_configured() {
    let server = ServerProcess::start(&[("LOG_LEVEL", "debug")]).await;
    let http = http();
    let email = unique_email("outbox");

    register(&http, &server, &email).await;
    let code = code_from_outbox(&server.outbox_dir(), &email)
        .await
        .unwrap();
    verify(&http, &server, &email, &code).await;
    assert_eq!(login_and_me(&http, &server, &email).await, email);

    let output = strip_ansi(&server.output());
    assert!(
        output.contains("DEBUG") && output.contains(".eml"),
        "the server logged at debug level and named the file, so the check below means something"
    );
    assert!(
        !contains_token(&output, &code),
        "the one-time code reached the server's output"
    );
}

#[tokio::test]
async fn a_code_mailed_while_smtp_refuses_arrives_after_a_kill_9_and_restart() {
    let sink = SmtpSink::start();
    sink.set_accepting(false);
    let env = smtp_env(&sink);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = ServerProcess::start(&env).await;
    let http = http();
    let email = unique_email("crash");

    register(&http, &server, &email).await;
    // The worker logs the failure once it is recorded for a retry: only then
    // is a crash the interesting case (a pending row and nothing in memory).
    let deadline = Instant::now() + MAIL_TIMEOUT;
    while !server.output().contains("mail delivery failed") {
        assert!(
            Instant::now() < deadline,
            "no delivery attempt was recorded (refused so far: {}); server output:\n{}",
            sink.refused(),
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let crashed = server.pid();
    server.kill_9();
    assert_eq!(server.pid(), None);
    sink.set_accepting(true);
    server.restart().await;
    assert_ne!(server.pid(), crashed, "a new process serves");

    let mail = sink
        .wait_for(|m| is_to(m, &email) && code_in(m).is_some(), MAIL_TIMEOUT)
        .await
        .unwrap_or_else(|| {
            panic!(
                "the code was lost in the crash; server output:\n{}",
                server.output()
            )
        });
    verify(&http, &server, &email, &code_in(&mail).unwrap()).await;
    assert_eq!(login_and_me(&http, &server, &email).await, email);
}

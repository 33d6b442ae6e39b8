//! Production refuses to start with placeholder secrets or unsafe settings.
use loco_rs::{app::Hooks, environment::Environment};
use order_fellow::{app::App, settings::AppSettings};
use serde_json::json;

/// A production configuration that starts: real secrets, a metrics token,
/// mail over SMTP with STARTTLS.
async fn production_config(jwt: &str, key: &str) -> loco_rs::config::Config {
    let mut config = App::load_config(&Environment::Test).await.unwrap();
    config.auth.as_mut().unwrap().jwt.as_mut().unwrap().secret = jwt.to_string();
    let settings = config.settings.as_mut().unwrap();
    settings["secrets_key"] = json!(key);
    settings["metrics_token"] = json!("a-long-random-metrics-token");
    settings["smtp"]["host"] = json!("smtp.example.com");
    settings["smtp"]["user"] = json!("mailer");
    settings["smtp"]["password"] = json!("smtp-password");
    settings["smtp"]["tls"] = json!("starttls");
    // Production also requires an event signing key and the SSRF guard on
    // (tests/models/event_settings.rs).
    settings["webhook_allow_private_targets"] = json!(false);
    settings["event_signing_key"] = json!(
        order_fellow::domain::signing::qitech::EventSigningKey::generate()
            .to_pem()
            .unwrap()
    );
    config
}

const GOOD_KEY: &str = "1d28023fc6320b42781a4d811465e3a23b2a4f21340e27c06e683c1e987ed5f9";
const GOOD_JWT: &str = "a-long-random-production-jwt-secret-0123456789";

#[tokio::test]
async fn production_refuses_placeholder_secrets() {
    let prod = Environment::Production;
    for (jwt, key) in [
        ("dev-jwt-secret-change-me", GOOD_KEY),
        ("short", GOOD_KEY),
        (GOOD_JWT, ""),
        (GOOD_JWT, order_fellow::domain::crypto::DEV_SECRETS_KEY_HEX),
    ] {
        let config = production_config(jwt, key).await;
        assert!(AppSettings::load(&prod, &config).is_err(), "{jwt} / {key}");
    }
    let config = production_config(GOOD_JWT, GOOD_KEY).await;
    assert!(AppSettings::load(&prod, &config).is_ok());
    let config = production_config(GOOD_JWT, "not-32-bytes").await;
    assert!(AppSettings::load(&prod, &config).is_err());
}

/// Loads `tweak`ed production settings; the error line, if refused.
async fn production_refusal(tweak: impl FnOnce(&mut serde_json::Value)) -> Option<String> {
    let mut config = production_config(GOOD_JWT, GOOD_KEY).await;
    tweak(config.settings.as_mut().unwrap());
    AppSettings::load(&Environment::Production, &config)
        .err()
        .map(|e| e.to_string())
}

#[tokio::test]
async fn production_refuses_a_public_metrics_endpoint() {
    let err = production_refusal(|s| s["metrics_token"] = json!("")).await;
    let err = err.expect("an empty METRICS_TOKEN is refused");
    assert!(err.contains("METRICS_TOKEN"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[tokio::test]
async fn production_refuses_to_keep_mail_in_local_files_unless_told_to() {
    let err = production_refusal(|s| s["smtp"]["host"] = json!("")).await;
    let err = err.expect("no SMTP host is refused");
    assert!(
        err.contains("SMTP_HOST") && err.contains("MAIL_TRANSPORT=file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);

    let explicit = production_refusal(|s| {
        s["smtp"]["host"] = json!("");
        s["mail_transport"] = json!("file");
    })
    .await;
    assert_eq!(explicit, None, "MAIL_TRANSPORT=file says it on purpose");
}

#[tokio::test]
async fn production_refuses_smtp_credentials_in_clear() {
    let err = production_refusal(|s| s["smtp"]["tls"] = json!("none")).await;
    let err = err.expect("credentials over plain SMTP are refused");
    assert!(err.contains("SMTP_TLS"), "{err}");
    assert_eq!(err.lines().count(), 1);

    let no_credentials = production_refusal(|s| {
        s["smtp"]["tls"] = json!("none");
        s["smtp"]["user"] = json!("");
        s["smtp"]["password"] = json!("");
    })
    .await;
    assert_eq!(no_credentials, None, "a local relay without credentials");
}

#[tokio::test]
async fn the_safe_defaults_elsewhere_stay_as_they_are() {
    // Development and tests: files, no token, and nothing refused.
    let config = App::load_config(&Environment::Test).await.unwrap();
    assert!(AppSettings::load(&Environment::Test, &config).is_ok());
}

async fn test_config_with(setting: &str, value: serde_json::Value) -> loco_rs::config::Config {
    let mut config = App::load_config(&Environment::Test).await.unwrap();
    let settings = config.settings.as_mut().unwrap();
    match setting.split_once('.') {
        Some((outer, inner)) => settings[outer][inner] = value,
        None => settings[setting] = value,
    }
    config
}

#[tokio::test]
async fn a_bad_setting_refuses_to_start_with_one_line_naming_it() {
    for (setting, value, named) in [
        ("smtp.tls", serde_json::json!("starttsl"), "smtp.tls"),
        (
            "webhook_secret_grace_secs",
            serde_json::json!(u64::MAX),
            "webhook_secret_grace_secs",
        ),
        ("otp_ttl_secs", serde_json::json!("ten"), "otp_ttl_secs"),
        (
            "outbox_max_attempts",
            serde_json::json!(0),
            "outbox_max_attempts",
        ),
        (
            "mail_from",
            serde_json::json!("not an address"),
            "mail_from",
        ),
        ("otp_tll_secs", serde_json::json!(60), "otp_tll_secs"),
        (
            "trusted_proxies",
            serde_json::json!("10.0.0.0/8, proxy.local"),
            "TRUSTED_PROXIES",
        ),
        (
            "mail_transport",
            serde_json::json!("pigeon"),
            "MAIL_TRANSPORT",
        ),
        (
            "signup_address_limit",
            serde_json::json!(0),
            "signup_address_limit",
        ),
        ("jwt_audience", serde_json::json!(" "), "JWT_AUDIENCE"),
    ] {
        let mut config = test_config_with(setting, value).await;
        if setting == "smtp.tls" {
            config.settings.as_mut().unwrap()["smtp"]["host"] = serde_json::json!("mail.example");
        }
        let err = AppSettings::load(&Environment::Test, &config)
            .expect_err(setting)
            .to_string();
        assert!(err.contains(named), "{setting}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// Each identity provider may send 100 verified deliveries a minute unless
/// `PROVIDER_RATE_LIMIT_PER_MIN` says otherwise (the limit itself is
/// exercised in `requests::kyc_webhooks`).
#[tokio::test]
async fn identity_providers_get_100_deliveries_a_minute_by_default() {
    for env in [
        Environment::Development,
        Environment::Production,
        Environment::Test,
    ] {
        let config = App::load_config(&env).await.unwrap();
        assert_eq!(
            config.settings.as_ref().unwrap()["provider_rate_limit_per_min"],
            json!(100),
            "{env:?}"
        );
    }
}

//! Production refuses to start with placeholder secrets.
use loco_rs::{app::Hooks, environment::Environment};
use order_fellow::{app::App, settings::AppSettings};

async fn production_config(jwt: &str, key: &str) -> loco_rs::config::Config {
    let mut config = App::load_config(&Environment::Test).await.unwrap();
    config.auth.as_mut().unwrap().jwt.as_mut().unwrap().secret = jwt.to_string();
    let settings = config.settings.as_mut().unwrap();
    settings["secrets_key"] = serde_json::json!(key);
    // Production also requires an event signing key and the SSRF guard on
    // (tests/models/event_settings.rs).
    settings["webhook_allow_private_targets"] = serde_json::json!(false);
    settings["event_signing_key"] = serde_json::json!(
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

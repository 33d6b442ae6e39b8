//! The event settings: production requires a signing key, the SSRF guard
//! and https; a bad value refuses to start, naming it.
use loco_rs::{app::Hooks, environment::Environment};
use order_fellow::{app::App, domain::signing::qitech::EventSigningKey, settings::AppSettings};
use serde_json::json;

/// A configuration production accepts, with `change` applied to its settings.
async fn production(change: impl FnOnce(&mut serde_json::Value)) -> loco_rs::config::Config {
    let mut config = App::load_config(&Environment::Test).await.unwrap();
    config.auth.as_mut().unwrap().jwt.as_mut().unwrap().secret =
        "a-long-random-production-jwt-secret-0123456789".into();
    let settings = config.settings.as_mut().unwrap();
    settings["secrets_key"] =
        json!("1d28023fc6320b42781a4d811465e3a23b2a4f21340e27c06e683c1e987ed5f9");
    settings["metrics_token"] = json!("a-long-random-metrics-token");
    settings["smtp"]["host"] = json!("smtp.example.com");
    settings["webhook_allow_private_targets"] = json!(false);
    settings["event_signing_key"] = json!(EventSigningKey::generate().to_pem().unwrap());
    change(settings);
    config
}

fn refusal(config: &loco_rs::config::Config) -> String {
    AppSettings::load(&Environment::Production, config)
        .expect_err("production must refuse")
        .to_string()
}

#[tokio::test]
async fn production_requires_a_signing_key_the_ssrf_guard_and_https() {
    let ok = AppSettings::load(&Environment::Production, &production(|_| {}).await).unwrap();
    assert!(ok.settings.events.targets.require_https && !ok.settings.events.targets.allow_private);

    let no_key = production(|s| s["event_signing_key"] = json!("")).await;
    assert!(refusal(&no_key).contains("EVENT_SIGNING_KEY"));
    let open = production(|s| s["webhook_allow_private_targets"] = json!(true)).await;
    assert!(refusal(&open).contains("WEBHOOK_ALLOW_PRIVATE_TARGETS"));
}

#[tokio::test]
async fn a_signing_key_may_come_on_one_line_and_a_bad_one_is_named() {
    let key = EventSigningKey::generate();
    let one_line = key.to_pem().unwrap().replace('\n', "\\n");
    let config = production(|s| s["event_signing_key"] = json!(one_line)).await;
    let loaded = AppSettings::load(&Environment::Production, &config).unwrap();
    assert_eq!(loaded.settings.events.signing_key.key_id(), key.key_id());

    let bad = production(|s| s["event_signing_key"] = json!("-----BEGIN PRIVATE KEY-----x")).await;
    let err = refusal(&bad);
    assert!(
        err.contains("EVENT_SIGNING_KEY") && !err.contains("BEGIN"),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_retry_schedule_or_short_lease_refuses_to_start() {
    for (setting, value) in [
        ("event_retry_schedule_secs", json!("5,soon")),
        ("event_lease_secs", json!(5)),
        ("event_concurrency", json!(0)),
    ] {
        let config = production(|s| s[setting] = value).await;
        let err = refusal(&config);
        assert!(err.contains(setting), "{setting}: {err}");
        assert_eq!(err.lines().count(), 1);
    }
}

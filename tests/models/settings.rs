//! Production refuses to start with placeholder secrets.
use loco_rs::{app::Hooks, environment::Environment};
use order_fellow::{app::App, settings::AppSettings};

async fn production_config(jwt: &str, key: &str) -> loco_rs::config::Config {
    let mut config = App::load_config(&Environment::Test).await.unwrap();
    config.auth.as_mut().unwrap().jwt.as_mut().unwrap().secret = jwt.to_string();
    config.settings.as_mut().unwrap()["secrets_key"] = serde_json::json!(key);
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

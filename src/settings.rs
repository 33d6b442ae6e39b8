//! Application settings: the `settings:` block of `config/<env>.yaml`, where
//! every value can be overridden by an environment variable (see README).
//! Loaded once at boot and shared through the app context.

use std::sync::Arc;

use loco_rs::{app::AppContext, environment::Environment, Error, Result};
use serde::Deserialize;

use crate::domain::{crypto::SecretsKey, secret::Secret};

/// Values the production environment refuses to start with.
const PLACEHOLDER_SECRETS: &[&str] = &[
    "",
    "changeme",
    "change-me",
    "secret",
    "dev-jwt-secret-change-me",
    "test-jwt-secret",
    crate::domain::crypto::DEV_SECRETS_KEY_HEX,
];

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret<String>,
    /// `starttls`, `tls` (implicit) or `none`.
    pub tls: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            user: String::new(),
            password: Secret::new(String::new()),
            tls: "starttls".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// 32-byte key (hex or base64) for AES-256-GCM at rest and keyed OTP hashes.
    pub secrets_key: Secret<String>,
    pub mail_from: String,
    /// Folder where mail is written as `.eml` files when no SMTP host is set.
    pub outbox_dir: String,
    pub smtp: SmtpSettings,
    pub otp_ttl_secs: u64,
    pub otp_max_attempts: i32,
    pub otp_resend_interval_secs: u64,
    pub login_max_failures: i32,
    pub login_window_secs: u64,
    pub webhook_secret_ttl_secs: u64,
    pub webhook_secret_grace_secs: u64,
    pub onfido_webhook_token: Secret<String>,
    pub jumio_webhook_secret: Secret<String>,
    pub sumsub_webhook_secret: Secret<String>,
    pub provider_rate_limit_per_min: u32,
    pub order_rate_limit_per_sec: u32,
    pub order_rate_limit_burst: u32,
    pub order_max_body_bytes: usize,
    pub json_max_body_bytes: usize,
    pub webhook_timestamp_tolerance_secs: u64,
    pub outbox_max_attempts: i32,
    pub outbox_poll_ms: u64,
    /// How long a worker holds a claimed batch; a crashed worker's mail is
    /// retried after this.
    pub outbox_lease_secs: u64,
    /// When set, `GET /metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Secret<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            secrets_key: Secret::new(String::new()),
            mail_from: "My Order Fellow <no-reply@myorderfellow.local>".into(),
            outbox_dir: "tmp/outbox".into(),
            smtp: SmtpSettings::default(),
            otp_ttl_secs: 600,
            otp_max_attempts: 5,
            otp_resend_interval_secs: 60,
            login_max_failures: 10,
            login_window_secs: 900,
            webhook_secret_ttl_secs: 7_776_000,
            webhook_secret_grace_secs: 86_400,
            onfido_webhook_token: Secret::new(String::new()),
            jumio_webhook_secret: Secret::new(String::new()),
            sumsub_webhook_secret: Secret::new(String::new()),
            provider_rate_limit_per_min: 100,
            order_rate_limit_per_sec: 100,
            order_rate_limit_burst: 200,
            order_max_body_bytes: 64 * 1024,
            json_max_body_bytes: 64 * 1024,
            webhook_timestamp_tolerance_secs: 300,
            outbox_max_attempts: 8,
            outbox_poll_ms: 1000,
            outbox_lease_secs: 30,
            metrics_token: Secret::new(String::new()),
        }
    }
}

static GLOBAL: std::sync::OnceLock<Arc<AppSettings>> = std::sync::OnceLock::new();

impl Settings {
    /// The shared secret configured for an identity provider (empty: not configured).
    #[must_use]
    pub fn provider_secret(&self, provider: crate::domain::kyc_providers::Provider) -> &str {
        use crate::domain::kyc_providers::Provider;
        match provider {
            Provider::Onfido => self.onfido_webhook_token.expose(),
            Provider::Jumio => self.jumio_webhook_secret.expose(),
            Provider::Sumsub => self.sumsub_webhook_secret.expose(),
        }
    }
}

/// Settings plus what is derived from them once (the parsed encryption key).
#[derive(Debug)]
pub struct AppSettings {
    pub settings: Settings,
    pub key: SecretsKey,
    pub jwt_secret: Secret<String>,
    pub jwt_ttl_secs: u64,
}

impl AppSettings {
    /// Parses the `settings:` block and refuses unsafe production values.
    ///
    /// # Errors
    /// When a value cannot be parsed, or when production runs with a
    /// placeholder secret.
    pub fn load(environment: &Environment, config: &loco_rs::config::Config) -> Result<Self> {
        let settings: Settings = match &config.settings {
            Some(value) => serde_json::from_value(value.clone())
                .map_err(|e| Error::string(&format!("invalid settings: {e}")))?,
            None => Settings::default(),
        };
        let production = matches!(environment, Environment::Production);
        let jwt = config.auth.as_ref().and_then(|a| a.jwt.as_ref());
        let jwt_secret = jwt.map(|j| j.secret.clone()).unwrap_or_default();
        let jwt_ttl_secs = jwt.map_or(86_400, |j| j.expiration);
        if jwt_secret.is_empty() {
            return Err(Error::string("auth.jwt.secret (JWT_SECRET) must be set"));
        }
        if production {
            if PLACEHOLDER_SECRETS.contains(&jwt_secret.as_str()) || jwt_secret.len() < 32 {
                return Err(Error::string(
                    "refusing to start: set JWT_SECRET to a random value of at least 32 characters",
                ));
            }
            if PLACEHOLDER_SECRETS.contains(&settings.secrets_key.expose().as_str()) {
                return Err(Error::string(
                    "refusing to start: set SECRETS_KEY to 32 random bytes (hex or base64)",
                ));
            }
        }
        let key = if settings.secrets_key.expose().is_empty() {
            SecretsKey::dev_default()
        } else {
            SecretsKey::parse(settings.secrets_key.expose())
                .map_err(|e| Error::string(&format!("SECRETS_KEY: {e}")))?
        };
        Ok(Self {
            settings,
            key,
            jwt_secret: Secret::new(jwt_secret),
            jwt_ttl_secs,
        })
    }

    /// The settings of the first app booted in this process, for code that has
    /// no context at hand (sea-orm model hooks). Tests boot several apps from
    /// the same configuration, so "first" is well defined.
    ///
    /// # Panics
    /// When called before any app has booted.
    #[must_use]
    pub fn global() -> Arc<Self> {
        GLOBAL.get().cloned().expect("an app has booted")
    }

    /// Stores `settings` in the context and, the first time, process-wide.
    pub fn install(ctx: &AppContext, settings: Self) {
        let settings = Arc::new(settings);
        let _ = GLOBAL.set(settings.clone());
        ctx.shared_store.insert(settings);
    }

    /// The settings stored in the context at boot.
    ///
    /// # Panics
    /// Never in a booted app: `App::after_context` stores them first.
    #[must_use]
    pub fn get(ctx: &AppContext) -> Arc<Self> {
        ctx.shared_store
            .get::<Arc<Self>>()
            .expect("settings are stored at boot")
    }
}

//! The `settings:` block exactly as `config/<env>.yaml` writes it, with the
//! defaults of a key left out; nothing here is checked (see `super`).

use serde::Deserialize;

use crate::domain::secret::Secret;

/// The `settings:` block as written; [`AppSettings::load`](super::AppSettings::load) checks it into [`Settings`](super::Settings).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) secrets_key: Secret<String>,
    pub(super) secrets_key_previous: Secret<String>,
    pub(super) mail_from: String,
    pub(super) mail_transport: String,
    pub(super) outbox_dir: String,
    pub(super) smtp: RawSmtp,
    pub(super) otp_ttl_secs: u64,
    pub(super) otp_max_attempts: u32,
    pub(super) otp_resend_interval_secs: u64,
    pub(super) login_max_failures: u32,
    pub(super) login_window_secs: u64,
    pub(super) login_address_failure_limit: u32,
    pub(super) signup_address_limit: u32,
    pub(super) password_reset_window_secs: u64,
    pub(super) argon2_max_concurrent: u32,
    pub(super) argon2_queue_timeout_ms: u64,
    pub(super) trusted_proxies: String,
    pub(super) jwt_issuer: String,
    pub(super) jwt_audience: String,
    pub(super) webhook_secret_ttl_secs: u64,
    pub(super) webhook_secret_grace_secs: u64,
    pub(super) onfido_webhook_token: Secret<String>,
    pub(super) jumio_webhook_secret: Secret<String>,
    pub(super) sumsub_webhook_secret: Secret<String>,
    pub(super) provider_rate_limit_per_min: u32,
    pub(super) order_rate_limit_per_sec: u32,
    pub(super) order_rate_limit_burst: u32,
    pub(super) order_max_body_bytes: usize,
    pub(super) json_max_body_bytes: usize,
    pub(super) webhook_timestamp_tolerance_secs: u64,
    pub(super) outbox_max_attempts: u32,
    pub(super) outbox_poll_ms: u64,
    pub(super) outbox_lease_secs: u64,
    pub(super) metrics_token: Secret<String>,
    pub(super) db_read_connections: u32,
    pub(super) event_concurrency: u32,
    pub(super) event_retry_schedule_secs: String,
    pub(super) event_poll_ms: u64,
    pub(super) event_lease_secs: u64,
    pub(super) event_disable_after_secs: u64,
    pub(super) endpoint_secret_grace_secs: u64,
    pub(super) webhook_allow_private_targets: bool,
    pub(super) event_signing_key: Secret<String>,
    pub(super) read_timeout_secs: u64,
    pub(super) redis_url: Secret<String>,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: String,
    pub(super) password: Secret<String>,
    pub(super) tls: String,
}

impl Default for RawSmtp {
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

impl Default for Raw {
    fn default() -> Self {
        Self {
            secrets_key: Secret::new(String::new()),
            secrets_key_previous: Secret::new(String::new()),
            mail_from: "My Order Fellow <no-reply@myorderfellow.local>".into(),
            mail_transport: "auto".into(),
            outbox_dir: "tmp/outbox".into(),
            smtp: RawSmtp::default(),
            otp_ttl_secs: 600,
            otp_max_attempts: 5,
            otp_resend_interval_secs: 60,
            login_max_failures: 10,
            login_window_secs: 900,
            login_address_failure_limit: 100,
            signup_address_limit: 20,
            password_reset_window_secs: 86_400,
            argon2_max_concurrent: 0,
            argon2_queue_timeout_ms: 1000,
            trusted_proxies: String::new(),
            jwt_issuer: "my-order-fellow".into(),
            jwt_audience: "my-order-fellow-api".into(),
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
            db_read_connections: 4,
            event_concurrency: 32,
            event_retry_schedule_secs: DEFAULT_RETRY_SCHEDULE.into(),
            event_poll_ms: 1000,
            event_lease_secs: 60,
            event_disable_after_secs: 5 * 24 * 3600,
            endpoint_secret_grace_secs: 86_400,
            webhook_allow_private_targets: false,
            event_signing_key: Secret::new(String::new()),
            read_timeout_secs: 10,
            redis_url: Secret::new(String::new()),
        }
    }
}

/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: the retries of a failed delivery.
const DEFAULT_RETRY_SCHEDULE: &str = "5,300,1800,7200,18000,36000,36000";

//! Application settings: the `settings:` block of `config/<env>.yaml`, where
//! every value can be overridden by an environment variable (see README).
//!
//! Parsed and checked once, at boot, by [`AppSettings::load`]: every value
//! becomes the type it means (a `Duration`, an enum, a parsed key), and a bad
//! value refuses to start with one line naming it. Call sites never re-parse,
//! cast or pick their own fallback.

use std::{net::IpAddr, path::PathBuf, sync::Arc, time::Duration};

use ipnet::IpNet;
use loco_rs::{app::AppContext, environment::Environment, Error, Result};

mod events;
mod raw;

use events::event_settings;
pub use events::EventSettings;
use raw::Raw;

use crate::domain::{
    crypto::{KeyPurpose, Keyring, SecretsKey},
    kyc_providers::Provider,
    secret::Secret,
};

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

/// The longest duration any setting may hold (ten years): far beyond any
/// sensible value, and far from the overflow of date arithmetic.
const MAX_DURATION_SECS: u64 = 10 * 365 * 24 * 3600;

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption (a local relay or a test sink).
    None,
}

impl SmtpTls {
    fn parse(raw: &str) -> std::result::Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(Self::Starttls),
            "tls" | "implicit" => Ok(Self::Implicit),
            "none" | "off" => Ok(Self::None),
            other => Err(format!(
                "unknown TLS mode {other:?} (use starttls, tls or none)"
            )),
        }
    }
}

/// An SMTP server to send through.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret<String>,
    pub tls: SmtpTls,
}

/// `MAIL_TRANSPORT`: how the mail transport is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MailMode {
    /// SMTP when `SMTP_HOST` is set, else `.eml` files.
    Auto,
    Smtp,
    File,
}

impl MailMode {
    fn parse(raw: &str) -> std::result::Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "smtp" => Ok(Self::Smtp),
            "file" | "files" => Ok(Self::File),
            other => Err(format!(
                "unknown transport {other:?} (use auto, smtp or file)"
            )),
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`):
/// addresses or CIDR networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated addresses (`10.0.0.7`, `::1`) or networks (`10.0.0.0/8`).
    ///
    /// # Errors
    /// Naming the first entry that is neither.
    pub fn parse(raw: &str) -> std::result::Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR network"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is one of the trusted proxies.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where mail goes, unless the environment configures loco's stub (tests).
#[derive(Debug, Clone)]
pub enum MailTransport {
    Smtp(Smtp),
    /// `.eml` files in a folder: development needs no mail server.
    Files(PathBuf),
}

/// The settings, typed. Field names follow the YAML keys, without their unit.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mail_from: String,
    pub mail: MailTransport,
    pub otp_ttl: Duration,
    pub otp_max_attempts: i32,
    pub otp_resend_interval: Duration,
    /// Failed logins per (account, client address) in `login_window`.
    pub login_max_failures: u32,
    pub login_window: Duration,
    /// Failed logins per client address, across accounts, in `login_window`.
    pub login_address_failure_limit: u32,
    /// Registrations, code resends and reset requests per client address per hour.
    pub signup_address_limit: u32,
    /// The window of the per-account password-reset caps.
    pub password_reset_window: Duration,
    /// Password hashes computed at once (argon2 is memory- and CPU-hard).
    pub argon2_permits: usize,
    /// How long a request waits for a hashing slot before it is answered 503.
    pub argon2_queue_timeout: Duration,
    /// Whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The `iss` and `aud` of access tokens.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub webhook_secret_ttl: Duration,
    /// How long a rotated-out key keeps working; zero turns the grace off.
    pub webhook_secret_grace: Duration,
    pub onfido_webhook_token: Secret<String>,
    pub jumio_webhook_secret: Secret<String>,
    pub sumsub_webhook_secret: Secret<String>,
    /// Requests per minute per identity provider; 0 disables the limit.
    pub provider_rate_limit_per_min: u32,
    /// Orders per second per key (0 disables), and the burst above it.
    pub order_rate_limit_per_sec: u32,
    pub order_rate_limit_burst: u32,
    pub order_max_body_bytes: usize,
    pub json_max_body_bytes: usize,
    pub webhook_timestamp_tolerance: Duration,
    pub outbox_max_attempts: i32,
    pub outbox_poll: Duration,
    /// How long a worker holds a claimed batch; a crashed worker's mail is
    /// retried after this.
    pub outbox_lease: Duration,
    /// When set, `GET /metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret<String>>,
    /// SQLite only: connections of the read pool beside the one writer.
    pub db_read_connections: u32,
    /// Outbound events: what the delivery worker and the endpoints API need.
    pub events: EventSettings,
    /// How long a client may take to send a request's headers, and then its
    /// whole body (slowloris): the connection is cut past it.
    pub read_timeout: Duration,
    /// Redis, for limits and key-cache invalidation shared between instances;
    /// `None`: one process, everything in memory.
    pub redis_url: Option<Secret<String>>,
}

impl Settings {
    /// The shared secret configured for an identity provider (empty: not configured).
    #[must_use]
    pub fn provider_secret(&self, provider: Provider) -> &str {
        match provider {
            Provider::Onfido => self.onfido_webhook_token.expose(),
            Provider::Jumio => self.jumio_webhook_secret.expose(),
            Provider::Sumsub => self.sumsub_webhook_secret.expose(),
        }
    }
}

/// Collects the first bad value, so that boot fails with one line naming it.
struct Check(Option<String>);

impl Check {
    fn fail(&mut self, setting: &str, why: impl std::fmt::Display) {
        if self.0.is_none() {
            self.0 = Some(format!("invalid setting {setting}: {why}"));
        }
    }

    /// Seconds as a `Duration`, within `min..=MAX_DURATION_SECS`.
    fn secs(&mut self, setting: &str, secs: u64, min: u64) -> Duration {
        if secs < min || secs > MAX_DURATION_SECS {
            self.fail(
                setting,
                format!("{secs} is outside {min}..={MAX_DURATION_SECS} seconds"),
            );
        }
        Duration::from_secs(secs.clamp(min, MAX_DURATION_SECS))
    }

    /// A limit of at least one.
    fn limit(&mut self, setting: &str, n: u32) -> u32 {
        if n == 0 {
            self.fail(setting, "must be at least 1");
        }
        n.max(1)
    }

    /// A non-empty single-line label.
    fn label(&mut self, setting: &str, value: String) -> String {
        let value = value.trim().to_string();
        if value.is_empty() || value.chars().any(char::is_control) {
            self.fail(setting, "must be a non-empty line of text");
        }
        value
    }

    /// A count of at least `min`, as the `i32` the database columns hold.
    fn count(&mut self, setting: &str, n: u32, min: u32) -> i32 {
        if n < min || i32::try_from(n).is_err() {
            self.fail(
                setting,
                format!("{n} must be between {min} and {}", i32::MAX),
            );
        }
        i32::try_from(n.max(min)).unwrap_or(i32::MAX)
    }
}

/// The production-only refusals: each names the setting to fix.
fn refuse_unsafe_production(
    settings: &Settings,
    mode: MailMode,
    smtp_credentials: bool,
) -> Result<()> {
    if settings.metrics_token.is_none() {
        return Err(Error::string(
            "refusing to start: set METRICS_TOKEN (without it /metrics is public)",
        ));
    }
    match &settings.mail {
        MailTransport::Files(_) if mode != MailMode::File => Err(Error::string(
            "refusing to start: set SMTP_HOST, or MAIL_TRANSPORT=file to keep mail as .eml files in OUTBOX_DIR",
        )),
        MailTransport::Smtp(smtp) if smtp.tls == SmtpTls::None && smtp_credentials => {
            Err(Error::string(
                "refusing to start: SMTP_TLS=none would send SMTP_USER/SMTP_PASSWORD in clear; use starttls or tls",
            ))
        }
        _ => Ok(()),
    }
}

/// The encryption keys, derived once from `SECRETS_KEY` (and, while a key
/// rotation runs, `SECRETS_KEY_PREVIOUS`): one keyring per purpose.
#[derive(Debug)]
pub struct Keys {
    pub webhook_secrets: Keyring,
    pub mail: Keyring,
    pub endpoint_secrets: Keyring,
    /// Keys the hashes of one-time codes (short-lived, never re-encrypted).
    pub otp: SecretsKey,
}

impl Keys {
    #[must_use]
    pub fn new(current: &SecretsKey, previous: Option<&SecretsKey>) -> Self {
        let ring = |purpose| Keyring::new(current, previous, purpose);
        Self {
            webhook_secrets: ring(KeyPurpose::WebhookSecrets),
            mail: ring(KeyPurpose::MailPayloads),
            endpoint_secrets: ring(KeyPurpose::EndpointSecrets),
            otp: current.clone(),
        }
    }

    /// The keyring of `purpose`.
    #[must_use]
    pub const fn ring(&self, purpose: KeyPurpose) -> &Keyring {
        match purpose {
            KeyPurpose::WebhookSecrets => &self.webhook_secrets,
            KeyPurpose::MailPayloads => &self.mail,
            KeyPurpose::EndpointSecrets => &self.endpoint_secrets,
        }
    }
}

/// Settings plus what is derived from them once (the encryption keys).
#[derive(Debug)]
pub struct AppSettings {
    pub settings: Settings,
    pub keys: Keys,
    pub jwt_secret: Secret<String>,
    pub jwt_ttl: Duration,
}

static GLOBAL: std::sync::OnceLock<Arc<AppSettings>> = std::sync::OnceLock::new();

impl AppSettings {
    /// Parses the `settings:` block and refuses bad or unsafe values.
    ///
    /// # Errors
    /// One line naming the first bad setting; in production also a
    /// placeholder secret.
    pub fn load(environment: &Environment, config: &loco_rs::config::Config) -> Result<Self> {
        let raw: Raw = match &config.settings {
            Some(value) => serde_path_to_error::deserialize(value.clone()).map_err(|e| {
                Error::string(&format!(
                    "invalid setting settings.{}: {}",
                    e.path(),
                    e.inner()
                ))
            })?,
            None => Raw::default(),
        };
        let production = matches!(environment, Environment::Production);
        let jwt = config.auth.as_ref().and_then(|a| a.jwt.as_ref());
        let jwt_secret = jwt.map(|j| j.secret.clone()).unwrap_or_default();
        if jwt_secret.is_empty() {
            return Err(Error::string("auth.jwt.secret (JWT_SECRET) must be set"));
        }
        if production {
            if PLACEHOLDER_SECRETS.contains(&jwt_secret.as_str()) || jwt_secret.len() < 32 {
                return Err(Error::string(
                    "refusing to start: set JWT_SECRET to a random value of at least 32 characters",
                ));
            }
            if PLACEHOLDER_SECRETS.contains(&raw.secrets_key.expose().as_str()) {
                return Err(Error::string(
                    "refusing to start: set SECRETS_KEY to 32 random bytes (hex or base64)",
                ));
            }
        }
        let key = if raw.secrets_key.expose().is_empty() {
            SecretsKey::dev_default()
        } else {
            SecretsKey::parse(raw.secrets_key.expose())
                .map_err(|e| Error::string(&format!("invalid setting SECRETS_KEY: {e}")))?
        };
        let previous = match raw.secrets_key_previous.expose().trim() {
            "" => None,
            prev => Some(SecretsKey::parse(prev).map_err(|e| {
                Error::string(&format!("invalid setting SECRETS_KEY_PREVIOUS: {e}"))
            })?),
        };
        let keys = Keys::new(&key, previous.as_ref());

        let mut c = Check(None);
        let jwt_ttl = c.secs(
            "auth.jwt.expiration (JWT_TTL_SECS)",
            jwt.map_or(86_400, |j| j.expiration),
            1,
        );
        let events = event_settings(&mut c, environment, &raw);
        let mode = MailMode::parse(&raw.mail_transport).unwrap_or_else(|e| {
            c.fail("mail_transport (MAIL_TRANSPORT)", e);
            MailMode::Auto
        });
        let smtp_host = raw.smtp.host.trim();
        let smtp_credentials =
            !raw.smtp.user.trim().is_empty() || !raw.smtp.password.expose().is_empty();
        let mail = match mode {
            MailMode::File => MailTransport::Files(PathBuf::from(&raw.outbox_dir)),
            MailMode::Auto if smtp_host.is_empty() => {
                MailTransport::Files(PathBuf::from(&raw.outbox_dir))
            }
            MailMode::Smtp | MailMode::Auto => {
                if smtp_host.is_empty() {
                    c.fail("mail_transport (MAIL_TRANSPORT)", "smtp needs SMTP_HOST");
                }
                let tls = SmtpTls::parse(&raw.smtp.tls).unwrap_or_else(|e| {
                    c.fail("smtp.tls (SMTP_TLS)", e);
                    SmtpTls::Starttls
                });
                MailTransport::Smtp(Smtp {
                    host: smtp_host.to_string(),
                    port: raw.smtp.port,
                    user: raw.smtp.user,
                    password: raw.smtp.password,
                    tls,
                })
            }
        };
        if raw.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            c.fail(
                "mail_from (MAIL_FROM)",
                "not an address such as `Name <no-reply@example.com>`",
            );
        }
        if raw.order_max_body_bytes == 0 || raw.json_max_body_bytes == 0 {
            c.fail("*_max_body_bytes", "must be positive");
        }
        let settings = Settings {
            mail,
            otp_ttl: c.secs("otp_ttl_secs", raw.otp_ttl_secs, 60),
            otp_max_attempts: c.count("otp_max_attempts", raw.otp_max_attempts, 1),
            otp_resend_interval: c.secs(
                "otp_resend_interval_secs",
                raw.otp_resend_interval_secs,
                0,
            ),
            login_max_failures: u32::try_from(c.count(
                "login_max_failures",
                raw.login_max_failures,
                1,
            ))
            .unwrap_or(1),
            login_window: c.secs("login_window_secs", raw.login_window_secs, 1),
            login_address_failure_limit: c.limit(
                "login_address_failure_limit",
                raw.login_address_failure_limit,
            ),
            signup_address_limit: c.limit("signup_address_limit", raw.signup_address_limit),
            password_reset_window: c.secs(
                "password_reset_window_secs",
                raw.password_reset_window_secs,
                1,
            ),
            argon2_permits: match raw.argon2_max_concurrent {
                0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                n => usize::try_from(n).unwrap_or(1),
            },
            argon2_queue_timeout: Duration::from_millis(
                raw.argon2_queue_timeout_ms.min(MAX_DURATION_SECS * 1000),
            ),
            trusted_proxies: TrustedProxies::parse(&raw.trusted_proxies).unwrap_or_else(|e| {
                c.fail("trusted_proxies (TRUSTED_PROXIES)", e);
                TrustedProxies::default()
            }),
            jwt_issuer: c.label("jwt_issuer (JWT_ISSUER)", raw.jwt_issuer),
            jwt_audience: c.label("jwt_audience (JWT_AUDIENCE)", raw.jwt_audience),
            webhook_secret_ttl: c.secs("webhook_secret_ttl_secs", raw.webhook_secret_ttl_secs, 60),
            webhook_secret_grace: c.secs(
                "webhook_secret_grace_secs",
                raw.webhook_secret_grace_secs,
                0,
            ),
            webhook_timestamp_tolerance: c.secs(
                "webhook_timestamp_tolerance_secs",
                raw.webhook_timestamp_tolerance_secs,
                1,
            ),
            outbox_max_attempts: c.count("outbox_max_attempts", raw.outbox_max_attempts, 1),
            outbox_poll: Duration::from_millis(raw.outbox_poll_ms.max(1)),
            outbox_lease: c.secs("outbox_lease_secs", raw.outbox_lease_secs, 1),
            db_read_connections: u32::try_from(c.count(
                "db_read_connections",
                raw.db_read_connections,
                1,
            ))
            .unwrap_or(1),
            metrics_token: (!raw.metrics_token.expose().trim().is_empty())
                .then_some(raw.metrics_token),
            mail_from: raw.mail_from,
            onfido_webhook_token: raw.onfido_webhook_token,
            jumio_webhook_secret: raw.jumio_webhook_secret,
            sumsub_webhook_secret: raw.sumsub_webhook_secret,
            events,
            read_timeout: c.secs(
                "read_timeout_secs (READ_TIMEOUT_SECS)",
                raw.read_timeout_secs,
                1,
            ),
            redis_url: redis_url(&mut c, raw.redis_url),
            provider_rate_limit_per_min: raw.provider_rate_limit_per_min,
            order_rate_limit_per_sec: raw.order_rate_limit_per_sec,
            order_rate_limit_burst: raw.order_rate_limit_burst,
            order_max_body_bytes: raw.order_max_body_bytes,
            json_max_body_bytes: raw.json_max_body_bytes,
        };
        if let Some(line) = c.0 {
            return Err(Error::string(&line));
        }
        if production {
            refuse_unsafe_production(&settings, mode, smtp_credentials)?;
        }
        Ok(Self {
            settings,
            keys,
            jwt_secret: Secret::new(jwt_secret),
            jwt_ttl,
        })
    }

    /// The settings of the first app booted in this process, for the one
    /// place that has no context at hand: the KYC model's after-save hook
    /// (sea-orm hooks receive only a connection). Tests boot several apps
    /// from the same configuration, so "first" is well defined.
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

    /// What access tokens are signed with and must name.
    #[must_use]
    pub fn token_key(&self) -> crate::domain::token::TokenKey<'_> {
        crate::domain::token::TokenKey {
            secret: self.jwt_secret.expose(),
            issuer: &self.settings.jwt_issuer,
            audience: &self.settings.jwt_audience,
        }
    }

    /// The settings stored in the context at boot: the one way a request
    /// handler, a worker or a task reaches them.
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

/// `REDIS_URL`: empty for none, else a `redis://` or `rediss://` URL.
fn redis_url(c: &mut Check, raw: Secret<String>) -> Option<Secret<String>> {
    let url = raw.expose().trim();
    if url.is_empty() {
        return None;
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => Some(raw),
        // The URL may carry a password: name the setting, never the value.
        _ => {
            c.fail(
                "redis_url (REDIS_URL)",
                "not a redis:// or rediss:// URL with a host",
            );
            None
        }
    }
}

/// `d` as a date-arithmetic delta. Settings are bounded to ten years, so
/// this never saturates for them.
#[must_use]
pub fn delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

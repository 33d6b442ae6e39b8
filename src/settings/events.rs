//! Outbound event delivery settings (`EVENT_*`, `ENDPOINT_SECRET_GRACE_SECS`,
//! `WEBHOOK_ALLOW_PRIVATE_TARGETS`, `EVENT_SIGNING_KEY`), checked from the raw block.

use std::time::Duration;

use loco_rs::environment::Environment;

use super::{raw::Raw, Check, MAX_DURATION_SECS};
use crate::domain::{endpoint_url::TargetPolicy, signing::qitech::EventSigningKey};

/// Outbound event delivery (`EVENT_*`, `ENDPOINT_SECRET_GRACE_SECS`,
/// `WEBHOOK_ALLOW_PRIVATE_TARGETS`).
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// Requests in flight at once, over all endpoints.
    pub concurrency: usize,
    /// Delay before each retry; a delivery fails after the last one.
    pub retry_schedule: Vec<Duration>,
    pub poll: Duration,
    /// How long a worker holds leased deliveries (longer than a request's timeout).
    pub lease: Duration,
    /// An endpoint with no success for this long is disabled.
    pub disable_after: Duration,
    /// How long a rotated-out endpoint secret keeps signing beside the new one.
    pub secret_grace: Duration,
    pub targets: TargetPolicy,
    /// The P-521 key pair of the qitech scheme.
    pub signing_key: EventSigningKey,
}

/// Where development keeps its generated event signing key.
const DEV_SIGNING_KEY_FILE: &str = "tmp/event_signing_key.pem";

/// The event settings; production refuses private targets and a missing
/// signing key, and requires https endpoints.
pub(super) fn event_settings(c: &mut Check, environment: &Environment, raw: &Raw) -> EventSettings {
    let production = matches!(environment, Environment::Production);
    let mut retry_schedule = Vec::new();
    // Empty: no retries at all.
    let schedule = raw.event_retry_schedule_secs.trim();
    for part in schedule.split(',').filter(|_| !schedule.is_empty()) {
        match part.trim().parse::<u64>() {
            Ok(secs) if secs <= MAX_DURATION_SECS => retry_schedule.push(Duration::from_secs(secs)),
            _ => c.fail(
                "event_retry_schedule_secs (EVENT_RETRY_SCHEDULE_SECS)",
                "a comma-separated list of seconds, such as 5,300,1800",
            ),
        }
    }
    if production && raw.webhook_allow_private_targets {
        c.fail(
            "webhook_allow_private_targets (WEBHOOK_ALLOW_PRIVATE_TARGETS)",
            "refusing to send events to private addresses in production",
        );
    }
    let concurrency = c.count(
        "event_concurrency (EVENT_CONCURRENCY)",
        raw.event_concurrency,
        1,
    );
    let signing_key = signing_key(c, environment, raw.event_signing_key.expose());
    EventSettings {
        concurrency: usize::try_from(concurrency).unwrap_or(1),
        retry_schedule,
        poll: Duration::from_millis(raw.event_poll_ms.max(1)),
        // Longer than a request's 15 s timeout, so a live worker never loses its lease.
        lease: c.secs(
            "event_lease_secs (EVENT_LEASE_SECS)",
            raw.event_lease_secs,
            16,
        ),
        disable_after: c.secs(
            "event_disable_after_secs (EVENT_DISABLE_AFTER_SECS)",
            raw.event_disable_after_secs,
            1,
        ),
        secret_grace: c.secs(
            "endpoint_secret_grace_secs (ENDPOINT_SECRET_GRACE_SECS)",
            raw.endpoint_secret_grace_secs,
            0,
        ),
        targets: TargetPolicy {
            allow_private: raw.webhook_allow_private_targets,
            require_https: production,
        },
        signing_key,
    }
}

/// `EVENT_SIGNING_KEY` (PEM). Without it, production refuses to start,
/// development generates one and keeps it in `tmp/` (so receivers keep
/// trusting it across restarts), and tests use a fresh one per process.
fn signing_key(c: &mut Check, environment: &Environment, pem: &str) -> EventSigningKey {
    const SETTING: &str = "event_signing_key (EVENT_SIGNING_KEY)";
    static EPHEMERAL: std::sync::OnceLock<EventSigningKey> = std::sync::OnceLock::new();
    if !pem.trim().is_empty() {
        return EventSigningKey::from_pem(pem).unwrap_or_else(|e| {
            c.fail(SETTING, e);
            EventSigningKey::generate()
        });
    }
    match environment {
        Environment::Production => {
            c.fail(
                SETTING,
                "required in production: a P-521 private key in PEM",
            );
            EventSigningKey::generate()
        }
        Environment::Development => dev_signing_key().unwrap_or_else(|e| {
            c.fail(
                SETTING,
                format!("cannot keep a development key in {DEV_SIGNING_KEY_FILE}: {e}"),
            );
            EventSigningKey::generate()
        }),
        _ => EPHEMERAL.get_or_init(EventSigningKey::generate).clone(),
    }
}

/// The development key from `tmp/`, generated on first use. The file is
/// published with a hard link, so concurrent first starts agree on one key.
fn dev_signing_key() -> std::result::Result<EventSigningKey, String> {
    let path = std::path::Path::new(DEV_SIGNING_KEY_FILE);
    if let Ok(pem) = std::fs::read_to_string(path) {
        return EventSigningKey::from_pem(&pem).map_err(|e| e.to_string());
    }
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let key = EventSigningKey::generate();
    let draft = dir.join(format!(
        ".event_signing_key.{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&draft, key.to_pem().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let linked = std::fs::hard_link(&draft, path);
    let _ = std::fs::remove_file(&draft);
    match linked {
        Ok(()) => Ok(key),
        // Another process published one first: use it.
        Err(_) => std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| EventSigningKey::from_pem(&pem).map_err(|e| e.to_string())),
    }
}

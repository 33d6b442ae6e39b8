//! Delivers queued e-mail: leases due rows, renders, sends, marks them sent, or
//! retries with exponential backoff and jitter until `outbox_max_attempts`.
//!
//! Transport: SMTP when `SMTP_HOST` is set; otherwise loco's mailer stub when
//! the environment configures one (tests); otherwise `.eml` files in
//! `OUTBOX_DIR`, so development needs no mail server.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use chrono::Duration;
use futures_util::{stream, StreamExt};
use lettre::{
    message::{Mailbox, MultiPart},
    Message,
};
use loco_rs::{
    app::AppContext,
    config::{MailerAuth, MailerTls, SmtpMailer},
    mailer::{Email, EmailSender},
};

use crate::{
    db::Readers,
    domain::{crypto::random_below, now},
    mailers::Mail,
    models::outbox::{self, Model},
    server::Shutdown,
    settings::{delta, AppSettings, MailTransport, SmtpTls},
};

/// Where mail goes.
pub enum Transport {
    /// Real SMTP, from our settings.
    Smtp(EmailSender),
    /// The mailer the environment configures (loco's stub in tests).
    Configured(EmailSender),
    /// `.eml` files in a folder.
    Files(PathBuf),
}

impl Transport {
    /// Picks the transport from the settings and the app context (see module docs).
    ///
    /// # Errors
    /// When the SMTP settings cannot build a transport.
    pub fn from_context(ctx: &AppContext, app: &AppSettings) -> loco_rs::Result<Self> {
        match &app.settings.mail {
            MailTransport::Smtp(smtp) => {
                let tls = match smtp.tls {
                    SmtpTls::Starttls => MailerTls::Starttls,
                    SmtpTls::Implicit => MailerTls::Implicit,
                    SmtpTls::None => MailerTls::None,
                };
                let auth = (!smtp.user.is_empty()).then(|| MailerAuth {
                    user: smtp.user.clone(),
                    password: smtp.password.expose().clone(),
                });
                let config = SmtpMailer {
                    enable: true,
                    host: smtp.host.clone(),
                    port: smtp.port,
                    secure: smtp.tls != SmtpTls::None,
                    tls: Some(tls),
                    auth,
                    hello_name: None,
                };
                Ok(Self::Smtp(EmailSender::smtp(&config)?))
            }
            MailTransport::Files(dir) => Ok(ctx
                .mailer
                .clone()
                .map_or_else(|| Self::Files(dir.clone()), Self::Configured)),
        }
    }

    /// How many sends may be in flight: SMTP exchanges wait on round trips,
    /// local files and the stub do not.
    fn concurrency(&self) -> usize {
        match self {
            Self::Smtp(_) => CONCURRENCY,
            Self::Configured(_) | Self::Files(_) => 1,
        }
    }

    async fn send(
        &self,
        from: &str,
        to: &str,
        content: crate::mailers::Content,
    ) -> Result<String, String> {
        match self {
            Self::Smtp(sender) | Self::Configured(sender) => {
                let email = Email {
                    from: Some(from.to_string()),
                    to: to.to_string(),
                    subject: content.subject,
                    text: content.text,
                    html: content.html,
                    ..Default::default()
                };
                sender.mail(&email).await.map_err(|e| e.to_string())?;
                Ok("sent".into())
            }
            Self::Files(dir) => {
                let raw = eml(from, to, content)?;
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                    write_eml(&dir, &raw)
                })
                .await
                .map_err(|e| e.to_string())?
            }
        }
    }

    /// How many results are marked sent in one statement: a crash repeats
    /// at most that many sends. A file is cheap to write twice; an SMTP
    /// send is not.
    fn mark_every(&self) -> usize {
        match self {
            Self::Files(_) => usize::MAX,
            Self::Smtp(_) | Self::Configured(_) => MARK_EVERY,
        }
    }
}

/// A message as an `.eml` file holds it (what lettre's file transport writes).
fn eml(from: &str, to: &str, content: crate::mailers::Content) -> Result<Vec<u8>, String> {
    let from: Mailbox = from
        .parse()
        .map_err(|e: lettre::address::AddressError| e.to_string())?;
    let to: Mailbox = to
        .parse()
        .map_err(|e: lettre::address::AddressError| e.to_string())?;
    let msg = Message::builder()
        .from(from)
        .to(to)
        .subject(content.subject)
        .multipart(MultiPart::alternative_plain_html(
            content.text,
            content.html,
        ))
        .map_err(|e| e.to_string())?;
    Ok(msg.formatted())
}

/// Writes one `.eml` file into `dir`, which exists (blocking); says where.
fn write_eml(dir: &Path, raw: &[u8]) -> Result<String, String> {
    let path = dir.join(format!("{}.eml", uuid::Uuid::new_v4()));
    std::fs::write(&path, raw).map_err(|e| e.to_string())?;
    Ok(format!("written to {}", path.display()))
}

/// The `.eml` outbox's batch path, all of it off the async runtime: the
/// messages are rendered on as many blocking threads as the machine has
/// cores, then written by one. Rendering costs ~40 µs of CPU per message;
/// on one runtime thread it capped delivery below the intake's rate and
/// held up every task queued behind it there, the order writer's among
/// them. The files are created by a single thread because creating files
/// in one folder takes the folder's lock: two writers only spin on it.
async fn write_batch(
    app: &Arc<AppSettings>,
    dir: &Path,
    batch: Vec<Model>,
) -> Vec<(Model, Result<String, String>)> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = batch.len().div_ceil(threads).max(MIN_CHUNK);
    let mut messages = batch.into_iter();
    let mut parts = Vec::new();
    loop {
        let part: Vec<Model> = messages.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let app = app.clone();
        parts.push(tokio::task::spawn_blocking(move || {
            let from = &app.settings.mail_from;
            part.into_iter()
                .map(|msg| {
                    let raw = content_of(&app, &msg).and_then(|c| eml(from, &msg.recipient, c));
                    (msg, raw)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut rendered = Vec::new();
    for part in futures_util::future::join_all(parts).await {
        // A panic while rendering: that part is not marked, its lease runs
        // out and it is delivered again.
        match part {
            Ok(part) => rendered.extend(part),
            Err(e) => tracing::error!(error = %e, "outbox renderer panicked"),
        }
    }
    let dir = dir.to_path_buf();
    let written = tokio::task::spawn_blocking(move || {
        // The folder is made once per batch, not checked once per file.
        let made = std::fs::create_dir_all(&dir).map_err(|e| e.to_string());
        rendered
            .into_iter()
            .map(|(msg, raw)| {
                let result = raw.and_then(|raw| {
                    made.clone()?;
                    write_eml(&dir, &raw)
                });
                (msg, result)
            })
            .collect()
    })
    .await;
    written.unwrap_or_else(|e| {
        tracing::error!(error = %e, "outbox file writer panicked");
        Vec::new()
    })
}

/// Fewer messages than this are not worth another thread.
const MIN_CHUNK: usize = 32;

const BATCH: u64 = 256;
const MARK_EVERY: usize = 16;
const CONCURRENCY: usize = 8;
/// How long the worker lets mail gather after a wake-up (module docs of `spawn`).
const GATHER: std::time::Duration = std::time::Duration::from_millis(25);

/// Delay before retry number `attempt` (1-based): 2^attempt seconds, capped at
/// one hour, plus up to 25% random jitter.
#[must_use]
pub fn backoff(attempt: i32) -> Duration {
    let base = 2i64.pow(attempt.clamp(1, 12) as u32).min(3600);
    let jitter = i64::from(random_below(u32::try_from(base / 4 + 1).unwrap_or(1)));
    Duration::seconds(base + jitter)
}

/// Delivers every message due now, a leased batch at a time; returns how
/// many were sent.
///
/// # Errors
/// On database failure (a failed send is recorded, not returned).
pub async fn deliver_due(ctx: &AppContext) -> loco_rs::Result<usize> {
    let app = AppSettings::get(ctx);
    let transport = Arc::new(Transport::from_context(ctx, &app)?);
    let mut total = 0;
    let shutdown = Shutdown::of(ctx);
    loop {
        // At shutdown, the batch in hand is the last.
        if shutdown.as_ref().is_some_and(|s| s.is_begun()) {
            return Ok(total);
        }
        // A short lease: a worker killed mid-batch holds its messages for
        // `outbox_lease_secs` at most; a restarted one picks them up then.
        let lease = delta(app.settings.outbox_lease);
        // On SQLite the scan reads from the read pool: it never waits for, nor
        // holds up, the writer that the intake commits through.
        let batch = outbox::claim_due(&ctx.db, &Readers::get(ctx), BATCH, lease).await?;
        if batch.is_empty() {
            // Nothing due, or everything due is leased by another worker.
            return Ok(total);
        }
        let token = batch[0].locked_until;
        // Sends run CONCURRENCY at a time (one SMTP exchange costs tens of
        // milliseconds of round trips); results are marked as they complete,
        // a few at a time, so a crash repeats at most that few.
        let mut results = match transport.as_ref() {
            Transport::Files(dir) => stream::iter(write_batch(&app, dir, batch).await).boxed(),
            _ => stream::iter(batch)
                .map(|msg| {
                    let (app, transport) = (app.clone(), transport.clone());
                    async move {
                        let result = deliver_one(&app, &transport, &msg).await;
                        (msg, result)
                    }
                })
                .buffer_unordered(transport.concurrency())
                .boxed(),
        };
        let mark_every = transport.mark_every();
        let mut sent: Vec<i64> = Vec::with_capacity(MARK_EVERY);
        while let Some((msg, result)) = results.next().await {
            match result {
                Ok(outcome) => {
                    sent.push(msg.id);
                    tracing::debug!(mail.id = msg.id, mail.template = %msg.template, "mail {outcome}");
                }
                Err(error) => {
                    let retry_at = now() + backoff(msg.attempts + 1);
                    let max = app.settings.outbox_max_attempts;
                    let gave_up = outbox::mark_failed(&ctx.db, &msg, &error, retry_at, max).await?;
                    tracing::warn!(mail.id = msg.id, mail.template = %msg.template, gave_up, error = %error, "mail delivery failed");
                }
            }
            if sent.len() >= mark_every {
                total += outbox::mark_sent(&ctx.db, &sent, token).await?;
                sent.clear();
            }
        }
        total += outbox::mark_sent(&ctx.db, &sent, token).await?;
    }
}

/// A queued message's subject and bodies: its payload decrypted and rendered.
fn content_of(app: &AppSettings, msg: &Model) -> Result<crate::mailers::Content, String> {
    let mail = Mail::from_name(&msg.template).ok_or("unknown template")?;
    let plain = app
        .keys
        .mail
        .decrypt(&msg.payload)
        .map_err(|e| e.to_string())?;
    let locals: serde_json::Value = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
    // Render errors can name a missing local but never print its value.
    mail.render(&locals)
        .map_err(|e| format!("render failed: {e}"))
}

async fn deliver_one(
    app: &AppSettings,
    transport: &Transport,
    msg: &Model,
) -> Result<String, String> {
    let content = content_of(app, msg)?;
    transport
        .send(&app.settings.mail_from, &msg.recipient, content)
        .await
}

/// How many delivery loops run side by side. On SQLite one: its claims and
/// marks go through the app's one write connection anyway. On PostgreSQL
/// two: a loop spends much of its turn waiting for its claim's and its
/// mark's commits, which queue behind the intake's WAL flushes, and with one
/// loop mail fell behind the intake (1 684 mails/s against 2 230 orders/s
/// over 60 s). Claims skip rows another loop holds (`FOR UPDATE SKIP
/// LOCKED`, as between instances), so no message goes out twice.
fn loops(ctx: &AppContext) -> usize {
    if ctx.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        2
    } else {
        1
    }
}

/// Runs delivery until the process shuts down: on every wake-up and at least
/// every `outbox_poll_ms`, so rows left by a crash or a CLI task are picked
/// up too. At shutdown the batch being sent is finished and marked.
pub fn spawn(ctx: AppContext) {
    for _ in 0..loops(&ctx) {
        tokio::spawn(deliver_until_shutdown(ctx.clone()));
    }
}

async fn deliver_until_shutdown(ctx: AppContext) {
    let poll = AppSettings::get(&ctx).settings.outbox_poll;
    let shutdown = Shutdown::of(&ctx).unwrap_or_default();
    loop {
        let Some(_batch) = shutdown.batch().await else {
            return;
        };
        if let Err(e) = deliver_due(&ctx).await {
            tracing::error!(error = %e, "outbox delivery loop");
        }
        drop(_batch);
        tokio::select! {
            () = outbox::wait(poll) => {}
            () = shutdown.begun() => {}
        }
        // Under load every intake commit rings the doorbell: waiting a
        // moment lets a burst gather, so one claim and one mark cover
        // hundreds of mails instead of a few. Each is a commit, and on
        // PostgreSQL each commit waits for a WAL flush that the order
        // writer's commits queue behind (1.6k → see README, design notes).
        tokio::time::sleep(GATHER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::seconds(2));
        assert!(backoff(3) >= Duration::seconds(8));
        assert!(backoff(30) <= Duration::seconds(3600 + 901));
    }
}

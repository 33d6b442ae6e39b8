//! Delivers queued e-mail: leases due rows, renders, sends, marks them sent, or
//! retries with exponential backoff and jitter until `outbox_max_attempts`.
//! Beside that scan, the mail the intake hands over ([`Handoff`]) is sent
//! as it comes, without a scan or a claim.
//!
//! Transport: SMTP when `SMTP_HOST` is set; otherwise loco's mailer stub when
//! the environment configures one (tests); otherwise `.eml` files in
//! `OUTBOX_DIR`, so development needs no mail server.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use chrono::Duration;
use futures_util::{stream, stream::BoxStream, StreamExt};
use lettre::{
    message::{Mailbox, MultiPart},
    Message,
};
use loco_rs::{
    app::AppContext,
    config::{MailerAuth, MailerTls, SmtpMailer},
    mailer::{Email, EmailSender},
};
use sea_orm::prelude::DateTimeWithTimeZone;
use tokio::sync::mpsc;

use crate::{
    db::Readers,
    domain::{crypto::random_below, now},
    mailers::Mail,
    models::outbox::{self, HandedOver, Model, NewMail},
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
async fn write_batch<T: Queued>(
    app: &Arc<AppSettings>,
    dir: &Path,
    batch: Vec<T>,
) -> Vec<(T, Result<String, String>)> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = batch.len().div_ceil(threads).max(MIN_CHUNK);
    let mut messages = batch.into_iter();
    let mut parts = Vec::new();
    loop {
        let part: Vec<T> = messages.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let app = app.clone();
        parts.push(tokio::task::spawn_blocking(move || {
            let from = &app.settings.mail_from;
            part.into_iter()
                .map(|msg| {
                    let raw = msg
                        .content(&app)
                        .and_then(|c| eml(from, msg.recipient(), c));
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
        // Results are marked as they complete, a few at a time, so a crash
        // repeats at most that few.
        let mut results = send_all(&app, &transport, batch).await;
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

/// A message to send: a row claimed from the outbox, or one the intake
/// handed over ([`Handoff`]).
trait Queued: Send + 'static {
    fn recipient(&self) -> &str;
    /// Its subject and bodies.
    fn content(&self, app: &AppSettings) -> Result<crate::mailers::Content, String>;
}

impl Queued for Model {
    fn recipient(&self) -> &str {
        &self.recipient
    }

    /// The payload decrypted and rendered.
    fn content(&self, app: &AppSettings) -> Result<crate::mailers::Content, String> {
        let mail = Mail::from_name(&self.template).ok_or("unknown template")?;
        let plain = app
            .keys
            .mail
            .decrypt(&self.payload)
            .map_err(|e| e.to_string())?;
        let locals: serde_json::Value =
            serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
        render(mail, &locals)
    }
}

/// A handed-over message, with the lease its row was written under.
struct Handed {
    token: DateTimeWithTimeZone,
    mail: NewMail,
}

impl Queued for Handed {
    fn recipient(&self) -> &str {
        &self.mail.to
    }

    fn content(&self, _: &AppSettings) -> Result<crate::mailers::Content, String> {
        render(self.mail.mail, &self.mail.locals)
    }
}

fn render(mail: Mail, locals: &serde_json::Value) -> Result<crate::mailers::Content, String> {
    // Render errors can name a missing local but never print its value.
    mail.render(locals)
        .map_err(|e| format!("render failed: {e}"))
}

/// Sends `batch`, yielding each message with its result as it completes:
/// `.eml` files rendered and written off the runtime ([`write_batch`]),
/// other transports [`Transport::concurrency`] at a time (one SMTP exchange
/// costs tens of milliseconds of round trips).
async fn send_all<T: Queued>(
    app: &Arc<AppSettings>,
    transport: &Arc<Transport>,
    batch: Vec<T>,
) -> BoxStream<'static, (T, Result<String, String>)> {
    match transport.as_ref() {
        Transport::Files(dir) => stream::iter(write_batch(app, dir, batch).await).boxed(),
        _ => {
            let (app, transport) = (app.clone(), transport.clone());
            let concurrency = transport.concurrency();
            stream::iter(batch)
                .map(move |msg| {
                    let (app, transport) = (app.clone(), transport.clone());
                    async move {
                        let result = match msg.content(&app) {
                            Ok(content) => {
                                transport
                                    .send(&app.settings.mail_from, msg.recipient(), content)
                                    .await
                            }
                            Err(e) => Err(e),
                        };
                        (msg, result)
                    }
                })
                .buffer_unordered(concurrency)
                .boxed()
        }
    }
}

/// The intake's hand-over of the confirmations it just committed to this
/// process's delivery worker (`outbox::HandedOver`): the worker sends them
/// at once, with no scan, no claim and no decryption, and marks them sent by
/// key. Open only while a worker runs (`spawn`); the intake asks for a
/// place first, and when there is none (no worker, or it is
/// [`HANDED_OVER_QUEUE`] batches behind) queues its mail for the scan.
#[derive(Default)]
pub struct Handoff {
    tx: OnceLock<mpsc::Sender<HandedOver>>,
}

/// How many handed-over batches may wait for the worker.
const HANDED_OVER_QUEUE: usize = 64;

impl Handoff {
    /// The worker's end; `None` when it is open already.
    fn open(&self) -> Option<mpsc::Receiver<HandedOver>> {
        let (tx, rx) = mpsc::channel(HANDED_OVER_QUEUE);
        self.tx.set(tx).ok().map(|()| rx)
    }

    /// A place in the worker's queue, when a worker runs and has room.
    #[must_use]
    pub fn reserve(&self) -> Option<mpsc::OwnedPermit<HandedOver>> {
        self.tx.get()?.clone().try_reserve_owned().ok()
    }
}

/// Delivers what the intake hands over, a gathered round at a time. A send
/// that fails is left leased: once the lease runs out the scan retries it
/// with the usual backoff, as after a crash. At shutdown what is queued is
/// sent at once, as far as the process lives; a lease covers the rest.
async fn deliver_handed_over(ctx: AppContext, mut rx: mpsc::Receiver<HandedOver>) {
    let app = AppSettings::get(&ctx);
    let transport = match Transport::from_context(&ctx, &app) {
        Ok(transport) => Arc::new(transport),
        Err(e) => {
            tracing::error!(error = %e, "outbox transport");
            return;
        }
    };
    let shutdown = Shutdown::of(&ctx).unwrap_or_default();
    let mut handed = Vec::new();
    loop {
        let open = tokio::select! {
            n = rx.recv_many(&mut handed, HANDED_OVER_QUEUE) => n > 0,
            () = shutdown.begun() => false,
        };
        let batch = if open { shutdown.batch().await } else { None };
        if batch.is_some() {
            // As in the scan's loop: a burst gathers into one round.
            tokio::time::sleep(GATHER).await;
        }
        while handed.len() < HANDED_OVER_QUEUE {
            let Ok(more) = rx.try_recv() else { break };
            handed.push(more);
        }
        if let Err(e) = send_handed_over(&ctx, &app, &transport, std::mem::take(&mut handed)).await
        {
            tracing::error!(error = %e, "outbox delivery of handed-over mail");
        }
        if batch.is_none() {
            return;
        }
    }
}

async fn send_handed_over(
    ctx: &AppContext,
    app: &Arc<AppSettings>,
    transport: &Arc<Transport>,
    handed: Vec<HandedOver>,
) -> loco_rs::Result<usize> {
    // A lease past half its time is left to the scan, which takes the rows
    // once it runs out: sending them now could race a second send.
    let fresh_until = now() + delta(app.settings.outbox_lease) / 2;
    let mails: Vec<Handed> = handed
        .into_iter()
        .filter(|h| h.token > fresh_until)
        .flat_map(|h| {
            let token = h.token;
            h.mails.into_iter().map(move |mail| Handed { token, mail })
        })
        .collect();
    let mut results = send_all(app, transport, mails).await;
    let mark_every = transport.mark_every();
    let mut sent: Vec<Handed> = Vec::new();
    let mut total = 0;
    while let Some((msg, result)) = results.next().await {
        match result {
            Ok(outcome) => {
                tracing::debug!(mail.template = msg.mail.mail.name(), "mail {outcome}");
                sent.push(msg);
            }
            Err(error) => {
                tracing::warn!(mail.template = msg.mail.mail.name(), error = %error, "mail delivery failed; retried once its lease runs out");
            }
        }
        if sent.len() >= mark_every {
            total += mark_handed(&ctx.db, &sent).await?;
            sent.clear();
        }
    }
    total += mark_handed(&ctx.db, &sent).await?;
    Ok(total)
}

async fn mark_handed(db: &sea_orm::DatabaseConnection, sent: &[Handed]) -> loco_rs::Result<usize> {
    let keys: Vec<(DateTimeWithTimeZone, &str)> = sent
        .iter()
        .filter_map(|h| Some((h.token, h.mail.dedupe_key.as_deref()?)))
        .collect();
    Ok(outbox::mark_sent_by_key(db, &keys).await?)
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
    if let Some(rx) = ctx
        .shared_store
        .get::<Arc<Handoff>>()
        .and_then(|h| h.open())
    {
        tokio::spawn(deliver_handed_over(ctx, rx));
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

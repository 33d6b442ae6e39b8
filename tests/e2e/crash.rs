//! Crash recovery under load: `kill -9` while signed orders stream in, then a
//! restart on the same database. Every 201 must have been durable, and every
//! confirmation e-mail queued with it must still go out.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use reqwest::Method;
use serde_json::json;

use super::{
    company::{call, given_an_approved_company, is_to, sign, stored_orders, Company},
    http,
    server::ServerProcess,
    smtp_sink::SmtpSink,
    unique_email,
};

/// Concurrent order senders.
const SENDERS: usize = 16;
/// Orders answered 201 before the kill. The senders run flat out, so this
/// bounds the mail backlog rather than the load: the server delivers mail one
/// at a time (~24/s measured against the sink), while it takes thousands of
/// orders a second.
const KILL_AFTER_ORDERS: usize = 160;
/// Generous bounds for a loaded 2-core CI machine.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
const MAIL_TIMEOUT: Duration = Duration::from_secs(60);

/// What the senders saw.
#[derive(Default)]
struct Load {
    /// `order_id` → the customer e-mail of every order answered 201.
    created: HashMap<String, String>,
    /// Answers other than 201, with their body.
    unexpected: Vec<(u16, String)>,
    /// Requests that failed at the transport level (expected at the kill).
    transport_errors: usize,
}

/// Posts signed, unique orders until `stop` is set or a request fails at the
/// transport level (the server is gone).
async fn send_orders(
    http: reqwest::Client,
    url: String,
    company: Arc<Company>,
    sender: usize,
    answered_201: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Load {
    let mut load = Load::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let customer = format!("c-{sender}-{seq}@example.com");
        let body = json!({
            "customer_details": {
                "name": format!("Customer {sender}-{seq}"),
                "email": customer,
                "phone": "+2348123456789",
            },
            "item_summary": "iPhone 15 x2",
            "address": "123 Main St, Lagos",
            "external_order_id": format!("crash-{sender}-{seq}"),
        })
        .to_string();
        let res = http
            .post(&url)
            .header("X-API-Key", &company.secret_key)
            .header(
                "X-Webhook-Signature",
                sign(&company.secret_key, body.as_bytes()),
            )
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await;
        let Ok(res) = res else {
            load.transport_errors += 1;
            return load;
        };
        let status = res.status().as_u16();
        // A body cut off by the kill is a transport error too: the client
        // never learnt the order was accepted.
        let Ok(text) = res.text().await else {
            load.transport_errors += 1;
            return load;
        };
        if status != 201 {
            load.unexpected.push((status, text));
            continue;
        }
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let id = answer["order_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a 201 without an order_id: {text}"))
            .to_ascii_lowercase();
        load.created.insert(id, customer);
        answered_201.fetch_add(1, Ordering::SeqCst);
    }
    load
}

/// The UUID-shaped tokens of a raw message, lower-case, each once.
pub(super) fn uuids_in(message: &str) -> HashSet<String> {
    message
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|t| t.len() == 36 && uuid::Uuid::parse_str(t).is_ok())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Copies every message the sink accepts into `dir` as `.eml` files, so the
/// shared `given_…` helper, which reads verification codes from the outbox
/// folder, also works while SMTP is configured.
fn mirror_sink_to(sink: &SmtpSink, dir: &Path, copied: &mut usize) {
    let messages = sink.messages();
    let _ = std::fs::create_dir_all(dir);
    for (n, message) in messages.iter().enumerate().skip(*copied) {
        let _ = std::fs::write(dir.join(format!("sink-{n}.eml")), message);
    }
    *copied = messages.len();
}

/// `given_an_approved_company` on a server whose mail goes to `sink`: the
/// helper reads the verification code from the outbox folder, so the sink
/// is mirrored there meanwhile.
pub(super) async fn given_an_approved_company_over_smtp(
    http: &reqwest::Client,
    server: &ServerProcess,
    sink: &SmtpSink,
    tag: &str,
) -> Company {
    let email = unique_email(tag);
    let setup = given_an_approved_company(http, server, &email);
    tokio::pin!(setup);
    let mut copied = 0;
    loop {
        tokio::select! {
            company = &mut setup => break company,
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                mirror_sink_to(sink, &server.outbox_dir(), &mut copied);
            }
        }
    }
    .unwrap_or_else(|e| panic!("{e}; server output:\n{}", server.output()))
}

#[tokio::test]
async fn orders_answered_201_survive_a_kill_9_mid_load_and_their_mails_are_sent_after_restart() {
    let started = Instant::now();
    let sink = SmtpSink::start();
    let sink_port = sink.port().to_string();
    let mut server = ServerProcess::start(&[
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &sink_port),
        ("SMTP_TLS", "none"),
        ("OUTBOX_POLL_MS", "200"),
        ("OUTBOX_LEASE_SECS", "5"),
        ("ORDER_RATE_LIMIT_PER_SEC", "0"),
    ])
    .await;
    let http = http();

    // The helper reads the verification code from the outbox folder, but with
    // SMTP configured it reaches the sink: mirror it there. Mail is refused
    // only once the orders start.
    let company = given_an_approved_company_over_smtp(&http, &server, &sink, "crash-load").await;
    let company = Arc::new(company);
    sink.set_accepting(false);
    let refused_before = sink.refused();

    let url = format!("{}/api/v1/webhooks/orders/", server.base_url());
    let answered_201 = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            tokio::spawn(send_orders(
                http.clone(),
                url.clone(),
                Arc::clone(&company),
                sender,
                Arc::clone(&answered_201),
                Arc::clone(&stop),
            ))
        })
        .collect();

    // Kill only once the interesting state exists: orders stored and their
    // mails refused at least once, so they sit in the outbox as pending rows.
    let deadline = Instant::now() + SETUP_TIMEOUT;
    while answered_201.load(Ordering::SeqCst) < KILL_AFTER_ORDERS
        || sink.refused() == refused_before
    {
        if Instant::now() > deadline {
            stop.store(true, Ordering::SeqCst);
            panic!(
                "no load worth crashing: {} orders answered 201, {} deliveries refused; server output:\n{}",
                answered_201.load(Ordering::SeqCst),
                sink.refused() - refused_before,
                server.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let crashed = server.pid();
    server.kill_9();
    let killed_after = load_started.elapsed();
    // Senders also stop on their own at their first transport error.
    stop.store(true, Ordering::SeqCst);
    let mut load = Load::default();
    for sender in senders {
        let part = sender.await.expect("a sender task ends cleanly");
        load.created.extend(part.created);
        load.unexpected.extend(part.unexpected);
        load.transport_errors += part.transport_errors;
    }
    assert!(
        load.unexpected.is_empty(),
        "before the kill every order is answered 201; also got {} others, first: {:?}",
        load.unexpected.len(),
        load.unexpected.first()
    );
    let created = load.created;
    let refused = sink.refused() - refused_before;

    sink.set_accepting(true);
    server.restart().await;
    let restarted = Instant::now();
    assert_ne!(server.pid(), crashed, "a new process serves");

    // Every 201 is a stored order, each one checked.
    let api = format!("{}/api/v1", server.base_url());
    let missing: Vec<String> = futures::stream::iter(created.keys())
        .map(|id| {
            let http = &http;
            let url = format!("{api}/orders/{id}/");
            let token = company.token.as_str();
            async move {
                match call(http, Method::GET, &url, Some(token), None).await {
                    Ok((200, body))
                        if body["id"].as_str().map(str::to_ascii_lowercase).as_deref()
                            == Some(id.as_str()) =>
                    {
                        None
                    }
                    Ok((status, body)) => Some(format!("{id}: {status} {body}")),
                    Err(e) => Some(format!("{id}: {e}")),
                }
            }
        })
        .buffer_unordered(8)
        .filter_map(|lost| async move { lost })
        .collect()
        .await;
    assert!(
        missing.is_empty(),
        "{} of {} orders answered 201 are not readable after the crash, e.g. {:?}",
        missing.len(),
        created.len(),
        &missing[..missing.len().min(5)]
    );
    let stored = stored_orders(&http, &server, &company).await.unwrap();
    assert!(
        stored >= created.len() as u64,
        "{stored} orders stored, fewer than the {} answered 201",
        created.len()
    );

    let load_summary = format!(
        "{} orders answered 201 and all stored ({stored} rows), {} transport errors \
         at the kill after {killed_after:?} of load, {refused} deliveries refused before it",
        created.len(),
        load.transport_errors,
    );

    // Every one of them gets its confirmation, to its own customer.
    let mut mailed: HashMap<String, usize> = HashMap::new();
    let mut misaddressed = Vec::new();
    let mut read = 0;
    let mut last_arrival = Duration::ZERO;
    let deadline = Instant::now() + MAIL_TIMEOUT;
    loop {
        let messages = sink.messages();
        for message in &messages[read..] {
            for id in uuids_in(message) {
                if let Some(customer) = created.get(&id) {
                    if is_to(message, customer) {
                        *mailed.entry(id).or_default() += 1;
                    } else {
                        misaddressed.push(id);
                    }
                }
            }
        }
        if messages.len() > read {
            last_arrival = restarted.elapsed();
        }
        read = messages.len();
        if mailed.len() == created.len() {
            break;
        }
        if Instant::now() > deadline {
            let unmailed: Vec<&String> = created
                .keys()
                .filter(|id| !mailed.contains_key(*id))
                .collect();
            panic!(
                "{} of {} orders answered 201 never got their confirmation within {}s of the \
                 restart, e.g. {:?} ({load_summary}; the last mail arrived {last_arrival:?} after \
                 the restart, {} duplicate sends); server output:\n{}",
                unmailed.len(),
                created.len(),
                MAIL_TIMEOUT.as_secs(),
                &unmailed[..unmailed.len().min(5)],
                mailed.values().map(|n| n - 1).sum::<usize>(),
                server.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        misaddressed.is_empty(),
        "confirmations went to another customer: {misaddressed:?}"
    );

    // Delivery is at least once: a crash between a send and its mark may
    // re-send a few mails, so duplicates are reported, not failed.
    let duplicates: usize = mailed.values().map(|n| n - 1).sum();
    println!(
        "crash under load: {load_summary}; all {} confirmations arrived within \
         {last_arrival:?} of the restart, {duplicates} duplicate sends; {:?} in all",
        mailed.len(),
        started.elapsed()
    );
}

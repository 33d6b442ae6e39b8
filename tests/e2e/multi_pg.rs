//! Several instances on PostgreSQL (the machine's, 127.0.0.1:5432, a fresh
//! database per test, dropped afterwards; skipped with a notice when none
//! answers): three instances under load send every accepted order's mail
//! exactly once.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

use super::{
    company::{given_an_approved_company, is_to, signed_post, stored_orders, Company},
    crash::{given_an_approved_company_over_smtp, uuids_in},
    http,
    server::ServerProcess,
    smtp_sink::SmtpSink,
    unique_email,
};

const PG_ROOT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of the test's own on the machine's PostgreSQL; dropped on
/// [`PgDatabase::drop_now`] (servers must be gone first).
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    /// `None` (with a notice) when PostgreSQL does not answer; in CI a failure.
    pub async fn create(test: &str) -> Option<Self> {
        let Ok(root) = Database::connect(PG_ROOT).await else {
            // A skip notice on a developer's machine; a failure in CI.
            crate::support::tools::missing(&format!("PostgreSQL on 127.0.0.1:5432 ({test})"));
            return None;
        };
        let name = format!("e2e_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        root.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        Some(Self {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        })
    }

    pub async fn drop_now(self) {
        if let Ok(root) = Database::connect(PG_ROOT).await {
            let _ = root
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

/// Signed unique orders, spread over `urls`, until `stop`; answers
/// `order_id → customer address` of every 201, and the other answers.
async fn spread_orders(
    http: reqwest::Client,
    urls: Vec<String>,
    company: Arc<Company>,
    sender: usize,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> (HashMap<String, String>, Vec<(u16, String)>) {
    let (mut created, mut other) = (HashMap::new(), Vec::new());
    let mut seq = 0usize;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let customer = format!("m-{sender}-{seq}@example.com");
        let body = json!({
            "customer_details": {"name": "Ada", "email": customer, "phone": "+2348123456789"},
            "item_summary": "iPhone 15 x2",
            "address": "123 Main St, Lagos",
            "external_order_id": format!("multi-{sender}-{seq}"),
        })
        .to_string();
        let url = &urls[(sender + seq) % urls.len()];
        let res = signed_post(&http, url, &company.secret_key, body)
            .send()
            .await;
        let Ok(res) = res else {
            other.push((0, "transport error".into()));
            continue;
        };
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        if status == 201 {
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            created.insert(
                v["order_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                customer,
            );
            answered.fetch_add(1, Ordering::SeqCst);
        } else {
            other.push((status, text));
        }
    }
    (created, other)
}

/// Waits until every order of `created` has mail in `sink`; answers how
/// many mails each got.
async fn mails_per_order(
    sink: &SmtpSink,
    created: &HashMap<String, String>,
    timeout: Duration,
) -> HashMap<String, usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut mailed: HashMap<String, usize> = HashMap::new();
        for message in sink.messages() {
            for id in uuids_in(&message) {
                if created.get(&id).is_some_and(|to| is_to(&message, to)) {
                    *mailed.entry(id).or_default() += 1;
                }
            }
        }
        if mailed.len() == created.len() || Instant::now() > deadline {
            return mailed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn three_instances_on_postgresql_send_every_accepted_orders_mail_exactly_once() {
    let Some(db) = PgDatabase::create("three instances on PostgreSQL").await else {
        return;
    };
    let sink = SmtpSink::start();
    let port = sink.port().to_string();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("DB_MAX_CONNECTIONS", "5"),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &port),
        ("SMTP_TLS", "none"),
        ("OUTBOX_POLL_MS", "200"),
        ("ORDER_RATE_LIMIT_PER_SEC", "0"),
        ("LOG_LEVEL", "debug"),
    ];
    let first = ServerProcess::start(&env).await;
    let http = http();
    // The verification code goes to the sink: mirror it into the outbox
    // folder the helper reads.
    let company = given_an_approved_company_over_smtp(&http, &first, &sink, "three").await;
    let before = sink.messages().len();
    let servers = [
        first,
        ServerProcess::start(&env).await,
        ServerProcess::start(&env).await,
    ];
    let company = Arc::new(company);
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("{}/api/v1/webhooks/orders/", s.base_url()))
        .collect();
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let senders: Vec<_> = (0..12)
        .map(|n| {
            tokio::spawn(spread_orders(
                http.clone(),
                urls.clone(),
                company.clone(),
                n,
                answered.clone(),
                stop.clone(),
            ))
        })
        .collect();
    while answered.load(Ordering::SeqCst) < 900 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let load_time = started.elapsed();
    let (mut created, mut other) = (HashMap::new(), Vec::new());
    for sender in senders {
        let (c, o) = sender.await.unwrap();
        created.extend(c);
        other.extend(o);
    }
    assert!(
        other.is_empty(),
        "answers other than 201: {:?}",
        &other[..other.len().min(3)]
    );
    assert!(
        created.len() >= 300,
        "too little load: {} orders",
        created.len()
    );

    let mailed = mails_per_order(&sink, &created, Duration::from_secs(120)).await;
    let missing = created.len() - mailed.len();
    let twice: Vec<_> = mailed.iter().filter(|(_, n)| **n > 1).collect();
    let per_instance: Vec<usize> = servers
        .iter()
        .map(|s| s.output().matches("mail sent").count())
        .collect();
    assert_eq!(
        missing,
        0,
        "{missing} of {} orders got no mail",
        created.len()
    );
    assert!(
        twice.is_empty(),
        "{} orders mailed more than once, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(3)]
    );
    assert!(
        per_instance.iter().filter(|n| **n > 0).count() >= 2,
        "the work was not shared: mails sent per instance {per_instance:?}"
    );
    println!(
        "three instances on PostgreSQL: {} orders in {load_time:?}, each mailed exactly once \
         ({} mails in all after setup); mails sent per instance {per_instance:?}",
        created.len(),
        sink.messages().len() - before
    );
    drop(servers);
    db.drop_now().await;
}

/// A TCP proxy in front of PostgreSQL that the test can cut: while cut, its
/// open connections are dropped and new ones closed at once (the machine's
/// PostgreSQL itself is never touched).
struct CuttableProxy {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl CuttableProxy {
    async fn start(target: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, _) = tokio::sync::watch::channel(false);
        let cuts = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                if *cut.borrow() {
                    continue; // dropped: closed at once
                }
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Self { port, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// Status, `Retry-After` and body of a request, or the transport error.
async fn probe(req: reqwest::RequestBuilder) -> Result<(u16, Option<String>, String), String> {
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((status, retry, res.text().await.unwrap_or_default()))
}

#[tokio::test]
async fn with_postgresql_cut_for_10_s_requests_answer_503_quickly_and_the_server_recovers() {
    let Some(db) = PgDatabase::create("PostgreSQL outage").await else {
        return;
    };
    let proxy = CuttableProxy::start("127.0.0.1:5432").await;
    let url = db.url.replace(":5432/", &format!(":{}/", proxy.port));
    let server = ServerProcess::start(&[
        ("DATABASE_URL", url.as_str()),
        ("DB_MAX_CONNECTIONS", "5"),
        ("ORDER_RATE_LIMIT_PER_SEC", "0"),
    ])
    .await;
    let http = http();
    let company = given_an_approved_company(&http, &server, &unique_email("pg-cut"))
        .await
        .unwrap_or_else(|e| panic!("{e}; server output:\n{}", server.output()));
    let base = server.base_url();
    let order = |n: usize| {
        let body = json!({
            "customer_details": {"name": "Ada", "email": "ada@example.com", "phone": "+2348123456789"},
            "item_summary": "one thing",
            "address": "1 Road",
            "external_order_id": format!("cut-{n}"),
        })
        .to_string();
        signed_post(
            &http,
            &format!("{base}/api/v1/webhooks/orders/"),
            &company.secret_key,
            body,
        )
    };
    assert_eq!(probe(order(0)).await.unwrap().0, 201);

    proxy.set_cut(true);
    let cut_at = Instant::now();
    let (mut n, mut slowest, mut answers) = (0, Duration::ZERO, HashMap::new());
    while cut_at.elapsed() < Duration::from_secs(10) {
        n += 1;
        for req in [
            order(n),
            http.get(format!("{base}/readyz")),
            http.get(format!("{base}/api/v1/orders/"))
                .bearer_auth(&company.token),
        ] {
            let sent = Instant::now();
            let (status, retry, body) = probe(req).await.unwrap_or_else(|e| panic!("{e}"));
            slowest = slowest.max(sent.elapsed());
            assert!(
                sent.elapsed() < Duration::from_secs(5),
                "answered after {:?}",
                sent.elapsed()
            );
            // The first order may still find a connection that worked.
            if status == 503 {
                assert!(retry.is_some(), "503 without Retry-After: {body}");
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["error"], "Service unavailable", "{body}");
            }
            *answers.entry(status).or_insert(0) += 1;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        answers.keys().all(|s| *s == 503 || *s == 201 || *s == 200)
            && answers.get(&503) > Some(&10),
        "answers while cut: {answers:?}"
    );
    let live = probe(http.get(format!("{base}/healthz"))).await.unwrap();
    assert_eq!(live.0, 200, "liveness does not depend on the database");

    proxy.set_cut(false);
    let restored = Instant::now();
    loop {
        n += 1;
        if probe(order(n)).await.map(|a| a.0) == Ok(201)
            && probe(http.get(format!("{base}/readyz"))).await.map(|a| a.0) == Ok(200)
        {
            break;
        }
        assert!(
            restored.elapsed() < Duration::from_secs(20),
            "not recovered: {}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "PostgreSQL cut 10 s: answers {answers:?}, slowest {slowest:?}; orders accepted again {:?} after the cut ended",
        restored.elapsed()
    );
    drop(server);
    db.drop_now().await;
}

#[tokio::test]
async fn kill_9_of_one_of_two_instances_while_smtp_is_down_loses_no_order_and_mails_each_once() {
    let Some(db) = PgDatabase::create("kill -9 of one of two instances").await else {
        return;
    };
    let sink = SmtpSink::start();
    let port = sink.port().to_string();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("DB_MAX_CONNECTIONS", "5"),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &port),
        ("SMTP_TLS", "none"),
        ("OUTBOX_POLL_MS", "200"),
        ("OUTBOX_LEASE_SECS", "5"),
        ("ORDER_RATE_LIMIT_PER_SEC", "0"),
    ];
    let mut a = ServerProcess::start(&env).await;
    let http = http();
    let company = given_an_approved_company_over_smtp(&http, &a, &sink, "kill-one").await;
    let b = ServerProcess::start(&env).await;
    let company = Arc::new(company);
    // SMTP goes down before the load: every confirmation queues.
    sink.set_accepting(false);
    let down_at = Instant::now();

    let url = |s: &ServerProcess| format!("{}/api/v1/webhooks/orders/", s.base_url());
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let spawn = |urls: Vec<String>, first: usize, count: usize| {
        (first..first + count)
            .map(|n| {
                tokio::spawn(spread_orders(
                    http.clone(),
                    urls.clone(),
                    company.clone(),
                    n,
                    answered.clone(),
                    stop.clone(),
                ))
            })
            .collect::<Vec<_>>()
    };
    // Senders on A stop at the kill (their first transport error ends
    // them after it); senders on B go on throughout.
    let on_a = spawn(vec![url(&a)], 0, 4);
    let on_b = spawn(vec![url(&b)], 100, 4);
    while answered.load(Ordering::SeqCst) < 300 {
        assert!(down_at.elapsed() < Duration::from_secs(60), "no load");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.kill_9();
    // B keeps taking orders at full speed while SMTP is down.
    let after_kill = answered.load(Ordering::SeqCst);
    let timed = Instant::now();
    let mut slowest = Duration::ZERO;
    for n in 0..20 {
        let body = json!({
            "customer_details": {"name": "Ada", "email": format!("probe-{n}@example.com"), "phone": "+2348123456789"},
            "item_summary": "probe", "address": "1 Road",
        })
        .to_string();
        let sent = Instant::now();
        let _ = signed_post(&http, &url(&b), &company.secret_key, body)
            .send()
            .await;
        slowest = slowest.max(sent.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "an order took {slowest:?} while SMTP was down"
    );
    while answered.load(Ordering::SeqCst) < after_kill + 200 {
        assert!(
            timed.elapsed() < Duration::from_secs(30),
            "B stopped taking orders"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (mut created, mut other) = (HashMap::new(), Vec::new());
    for sender in on_a.into_iter().chain(on_b) {
        let (c, o) = sender.await.unwrap();
        created.extend(c);
        other.extend(o);
    }
    // A's senders saw transport errors at the kill, nothing else.
    assert!(
        other.iter().all(|(s, _)| *s == 0),
        "{:?}",
        &other[..other.len().min(3)]
    );
    let refused = sink.refused();
    // SMTP back after ~10 s down (the test's stand-in for a minute).
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed())).await;
    sink.set_accepting(true);
    let mailed = mails_per_order(&sink, &created, Duration::from_secs(120)).await;
    let missing = created.len() - mailed.len();
    let twice = mailed.values().filter(|n| **n > 1).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} orders answered 201 got no mail",
        created.len()
    );
    assert_eq!(twice, 0, "{twice} orders mailed more than once");
    let stored = stored_orders(&http, &b, &company).await.unwrap();
    assert!(
        stored >= created.len() as u64,
        "{stored} stored < {} answered 201",
        created.len()
    );
    println!(
        "kill -9 of one of two instances, SMTP down {:?}: {} orders answered 201, {stored} stored, \
         {refused} deliveries refused while down, every order mailed exactly once after; \
         slowest order on the survivor while SMTP was down {slowest:?}",
        Duration::from_secs(10),
        created.len()
    );
    drop(b);
    db.drop_now().await;
}

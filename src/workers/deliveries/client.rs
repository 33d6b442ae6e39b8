//! The HTTP client that sends events: one `reqwest` client per app, 15 s
//! for the whole request, no redirects, no proxy, a bounded idle pool per
//! endpoint; it never fails, an [`Attempt`] says what happened.
//!
//! The SSRF guard: unless `WEBHOOK_ALLOW_PRIVATE_TARGETS`, the client
//! resolves names through [`GuardedResolver`], which drops every address
//! that is not public at connect time, and IP-literal URLs (which are never
//! resolved) are checked before sending.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use loco_rs::app::AppContext;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{
    domain::endpoint_url::{is_public, EndpointUrl, TargetPolicy},
    models::events::Attempt,
};

/// Requests in flight to one endpoint at most.
pub const PER_ENDPOINT: usize = 4;
/// The whole request, connect to last body byte.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// How much of a response body an attempt keeps.
pub const BODY_KEPT: usize = 1024;

/// Resolves names and keeps only public addresses: a name that resolves
/// only to loopback, private, link-local or other internal addresses fails
/// to connect, whenever it is looked up.
struct GuardedResolver;

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused: {} resolves only to private, loopback or reserved addresses",
            self.0
        )
    }
}

impl std::error::Error for Refused {}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of one app, built once from its target policy.
pub struct Deliverer {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl Deliverer {
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(policy: TargetPolicy) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(PER_ENDPOINT)
            .user_agent(concat!(
                "MyOrderFellow-Webhooks/",
                env!("CARGO_PKG_VERSION")
            ));
        if !policy.allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            client: builder.build()?,
            policy,
        })
    }

    /// The deliverer stored in the context at boot.
    ///
    /// # Panics
    /// Never in a booted app: `App::after_context` stores it.
    #[must_use]
    pub fn get(ctx: &AppContext) -> Arc<Self> {
        ctx.shared_store
            .get::<Arc<Self>>()
            .expect("deliverer is stored at boot")
    }

    /// Sends one signed request; never fails, the attempt says what happened.
    pub(super) async fn send(
        &self,
        url: &EndpointUrl,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Attempt {
        let started = Instant::now();
        let refused = url
            .literal_ip()
            .filter(|ip| !self.policy.allow_private && !is_public(*ip));
        if let Some(ip) = refused {
            return failure(
                started,
                format!("refused: {ip} is a private, loopback or reserved address"),
            );
        }
        let mut req = self
            .client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let mut res = match req.body(body).send().await {
            Ok(res) => res,
            Err(e) => return failure(started, describe(&e)),
        };
        let status = res.status().as_u16();
        let mut kept = Vec::with_capacity(BODY_KEPT);
        // Read only what is kept: a huge or endless body costs nothing more.
        while kept.len() < BODY_KEPT {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    kept.extend_from_slice(&chunk[..chunk.len().min(BODY_KEPT - kept.len())])
                }
                Ok(None) | Err(_) => break,
            }
        }
        let body = String::from_utf8_lossy(&kept).into_owned();
        Attempt {
            status_code: Some(status),
            error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
            latency_ms: elapsed_ms(started),
            response_body: (!body.is_empty()).then_some(body),
        }
    }
}

fn elapsed_ms(started: Instant) -> i32 {
    i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)
}

fn failure(started: Instant, error: String) -> Attempt {
    Attempt {
        status_code: None,
        error: Some(error),
        latency_ms: elapsed_ms(started),
        response_body: None,
    }
}

/// A network error's causes, without the URL (it may carry a token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timeout after {}s", TIMEOUT.as_secs());
    }
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        parts.push(
            if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            }
            .into(),
        );
    }
    parts.join(": ")
}

//! End-to-end: the real server binary as a child process, spoken to over
//! HTTP and SMTP exactly as a business, its mail server and an operator would.

pub mod company;
pub mod server;
pub mod smtp_sink;

mod accounts;
mod browser;
mod clients;
mod crash;
mod events;
mod hardening;
mod lifecycle;
mod multi;
mod multi_pg;
mod schemathesis;

use std::time::Duration;

/// An HTTP client for the server under test: no proxy, generous timeout for a
/// loaded CI machine.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// A fresh address, so tests never depend on each other's accounts.
pub fn unique_email(prefix: &str) -> String {
    format!(
        "{prefix}-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

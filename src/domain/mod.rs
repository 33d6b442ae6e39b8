//! Value types that cannot hold bad data. Each is parsed once, at the edge.
pub mod api_key;
pub mod business;
pub mod country;
pub mod crypto;
pub mod email;
pub mod endpoint_url;
pub mod event_type;
pub mod kyc_providers;
pub mod kyc_status;
pub mod otp;
pub mod password;
pub mod phone;
pub mod secret;
pub mod signature;
pub mod signing;
pub mod text;
pub mod token;
pub mod tracking;

use std::fmt;

/// Why a raw value was refused; the message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainError(pub String);

impl DomainError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DomainError {}

/// The current instant, in UTC, as stored in the database.
#[must_use]
pub fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Utc::now().fixed_offset()
}

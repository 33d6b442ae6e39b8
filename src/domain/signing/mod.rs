//! How an outbound event is signed: one scheme per endpoint, one module per
//! scheme, each built from the source document it comes from.
//!
//! - [`standard_webhooks`]: Standard Webhooks v1 (seed 003's `v1,` signatures).
//! - [`qgen`]: seed 000, an HMAC over timestamp + method + path + the body
//!   with its top-level keys sorted, as the seed's JavaScript re-serialises it.
//! - [`qitech`]: seed 001, an ES512 JWT carrying the body's MD5, the time,
//!   the method and the path; the body is what Python's `json.dumps` prints.
//!
//! Every scheme sends the same message record (seed 003's signed payload):
//! `{"id", "type", "timestamp" (ms), "data"}`.

pub mod qgen;
pub mod qitech;
pub mod standard_webhooks;

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use self::{qitech::EventSigningKey, standard_webhooks::EndpointSecret};
use super::DomainError;

/// An endpoint's signing scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Standard,
    Qgen,
    Qitech,
}

impl Scheme {
    pub const ALL: [Self; 3] = [Self::Standard, Self::Qgen, Self::Qitech];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Qgen => "qgen",
            Self::Qitech => "qitech",
        }
    }

    /// Whether the endpoint holds a `whsec_` secret (qitech is signed with
    /// the service's key pair instead).
    #[must_use]
    pub const fn has_secret(self) -> bool {
        !matches!(self, Self::Qitech)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| DomainError::new("Must be one of: standard, qgen, qitech."))
    }
}

/// The message record every receiver gets, in this field order.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// When the event happened, in milliseconds.
    pub timestamp: i64,
    pub data: &'a serde_json::Value,
}

/// What signs one endpoint's requests.
pub struct Signer<'a> {
    pub scheme: Scheme,
    /// Current first, then a rotated-out secret still in its grace window.
    pub secrets: Vec<&'a EndpointSecret>,
    /// qitech's `API-CLIENT-KEY`.
    pub client_key: Uuid,
    pub es512: &'a EventSigningKey,
}

/// A request ready to send: extra headers and the exact body bytes.
#[derive(Debug)]
pub struct SignedRequest {
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Signer<'_> {
    /// Signs `envelope` for the endpoint whose URL path is `path`, at `now`.
    ///
    /// # Errors
    /// When a scheme that needs a secret has none.
    pub fn sign(
        &self,
        envelope: &Envelope<'_>,
        path: &str,
        now: DateTime<Utc>,
    ) -> Result<SignedRequest, DomainError> {
        let no_secret = || DomainError::new("the endpoint has no signing secret");
        match self.scheme {
            Scheme::Standard => {
                if self.secrets.is_empty() {
                    return Err(no_secret());
                }
                let body =
                    serde_json::to_vec(envelope).map_err(|e| DomainError::new(e.to_string()))?;
                let headers =
                    standard_webhooks::headers(&self.secrets, envelope.id, now.timestamp(), &body);
                Ok(SignedRequest { headers, body })
            }
            Scheme::Qgen => {
                let secret = self.secrets.first().ok_or_else(no_secret)?;
                let body = qgen::body(envelope)?;
                let headers = qgen::headers(secret, now.timestamp(), path, &body);
                Ok(SignedRequest { headers, body })
            }
            Scheme::Qitech => {
                let body = qitech::body(envelope)?;
                let headers = qitech::headers(self.es512, self.client_key, now, path, &body);
                Ok(SignedRequest { headers, body })
            }
        }
    }
}

/// A finite float as its shortest round-trip digits and decimal point
/// position: `x = 0.DIGITS × 10^point`, sign apart. Both JavaScript's and
/// Python's float printing start from exactly these (and differ after).
fn float_parts(x: f64) -> (bool, String, i32) {
    if x == 0.0 {
        return (x.is_sign_negative(), "0".into(), 1);
    }
    // Rust's `{:e}` prints the shortest round-trip digits: `d.ddde<exp>`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (x.is_sign_negative(), digits, exp + 1)
}

/// The digits of a number in exponent notation: `d` or `d.ddd`.
fn mantissa(digits: &str) -> String {
    let (first, rest) = digits.split_at(1);
    if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}.{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_parse_and_only_qitech_has_no_secret() {
        for s in Scheme::ALL {
            assert_eq!(s.as_str().parse::<Scheme>().unwrap(), s);
        }
        assert!("hmac".parse::<Scheme>().is_err());
        assert!(!Scheme::Qitech.has_secret() && Scheme::Qgen.has_secret());
    }

    #[test]
    fn float_parts_are_the_shortest_digits() {
        assert_eq!(float_parts(123.0), (false, "123".into(), 3));
        assert_eq!(float_parts(0.001_5), (false, "15".into(), -2));
        assert_eq!(float_parts(-1e21), (true, "1".into(), 22));
        assert_eq!(
            float_parts(0.1 + 0.2),
            (false, "30000000000000004".into(), 0)
        );
    }
}

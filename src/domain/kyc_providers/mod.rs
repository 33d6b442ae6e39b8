//! Identity-provider (KYC) webhooks: one delivery (headers + raw body) in, one
//! internal event out. Pure: no database, no HTTP framework, only `http::HeaderMap`.
//!
//! The caller first picks the provider from the path ([`Provider::from_path`]),
//! answers 404 when that provider's secret is not configured, then calls
//! [`verify`] over the exact bytes received and only afterwards [`parse`].
//!
//! This module holds what the providers share: the event they are all mapped
//! onto ([`ProviderEvent`], [`Reference`], [`Verdict`]), the errors, the two
//! entry points and the JSON and header helpers. Each provider's signature
//! scheme and payload shape live in its own file (`onfido.rs`, `jumio.rs`,
//! `sumsub.rs`), with their tests beside them.

use std::fmt;

use http::HeaderMap;
use serde_json::Value;
use uuid::Uuid;

use super::crypto::{verify_hmac_hex, MacAlg};

mod jumio;
mod onfido;
mod sumsub;

/// Longest rejection reason we keep, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// The identity providers that may call us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Onfido,
    Jumio,
    Sumsub,
}

impl Provider {
    /// The provider named by the last path segment: `onfido`, `jumio` or `sumsub`
    /// (exactly, lower-case). Anything else is `None` (the caller answers 404).
    #[must_use]
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "onfido" => Some(Self::Onfido),
            "jumio" => Some(Self::Jumio),
            "sumsub" => Some(Self::Sumsub),
            _ => None,
        }
    }

    /// The lower-case name used in paths, logs and stored rows.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Onfido => "onfido",
            Self::Jumio => "jumio",
            Self::Sumsub => "sumsub",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a delivery was refused. Every variant is a 400; [`WebhookError::message`]
/// is the text for the `{"error": ...}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// The signature header is absent or empty.
    MissingSignature,
    /// The signature does not match the body, is not hex, or names an unknown algorithm.
    InvalidSignature,
    /// The body (already authenticated) is not JSON or not a shape we understand.
    /// The detail is for logs only and never contains body content.
    BadPayload(String),
}

impl WebhookError {
    /// The client-facing message.
    #[must_use]
    pub const fn message(&self) -> &'static str {
        match self {
            Self::MissingSignature => "Missing webhook signature",
            Self::InvalidSignature => "Invalid webhook signature",
            Self::BadPayload(_) => "Invalid webhook payload",
        }
    }

    fn bad(detail: &str) -> Self {
        Self::BadPayload(detail.to_string())
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPayload(detail) => write!(f, "{}: {detail}", self.message()),
            _ => f.write_str(self.message()),
        }
    }
}

impl std::error::Error for WebhookError {}

/// How to find our KYC application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// Our application's UUID, echoed back by the provider.
    Application(Uuid),
    /// The provider's applicant id (or, failing that, a non-UUID reference string).
    Applicant(String),
}

/// What the provider decided, mapped onto our one vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    ManualReview,
    /// `reason` is trimmed, non-empty and at most [`MAX_REASON_CHARS`] characters.
    Reject {
        reason: String,
        resubmit_allowed: bool,
    },
    /// The delivery carries no result yet (a status change only).
    NoDecision,
}

/// One provider delivery, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    pub provider: Provider,
    /// How to find our KYC application: our application's UUID when the provider echoes the
    /// reference we gave it, otherwise the provider's applicant id.
    pub reference: Reference,
    /// The provider's applicant / workflow id, to store as `provider_applicant_id`.
    pub applicant_id: Option<String>,
    /// Normalised lower-case: `pending`, `in_progress`, `complete`, `withdrawn`, `paused`,
    /// `reopened`, or the provider's own value lower-cased.
    pub provider_status: Option<String>,
    pub verdict: Verdict,
}

// ---------------------------------------------------------------------------
// Signature
// ---------------------------------------------------------------------------

/// Checks the provider's HMAC over the raw `body`, before anything parses it.
///
/// - Onfido: `X-SHA2-Signature` = hex HMAC-SHA256(token, body).
/// - Jumio: `X-Jumio-Signature` = `sha256=<hex>` (the prefix may be absent).
/// - Sumsub: `X-Payload-Digest` = hex HMAC(secret, body), the algorithm named by
///   `X-Payload-Digest-Alg` (`HMAC_SHA1_HEX`, `HMAC_SHA256_HEX` — the default — or
///   `HMAC_SHA512_HEX`).
///
/// Hex is accepted in any case and compared in constant time. `secret` is expected
/// non-empty (the caller answers 404 for an unconfigured provider); an empty one
/// never verifies.
///
/// # Errors
/// [`WebhookError::MissingSignature`] when the header is absent or blank;
/// [`WebhookError::InvalidSignature`] when it does not match, is not hex, is not
/// visible ASCII, or names an unknown algorithm.
pub fn verify(
    provider: Provider,
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), WebhookError> {
    match provider {
        Provider::Onfido => onfido::verify(secret, headers, body),
        Provider::Jumio => jumio::verify(secret, headers, body),
        Provider::Sumsub => sumsub::verify(secret, headers, body),
    }
}

/// The providers' common last step: `signature` (hex, any case) must be
/// HMAC(`secret`, `body`) under `alg`, compared in constant time. An empty secret or
/// signature never matches.
fn check_hmac(alg: MacAlg, secret: &str, signature: &str, body: &[u8]) -> Result<(), WebhookError> {
    if secret.is_empty() || signature.is_empty() {
        return Err(WebhookError::InvalidSignature);
    }
    if verify_hmac_hex(alg, secret.as_bytes(), &[body], signature) {
        Ok(())
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

/// The trimmed value of the signature header `name`.
///
/// # Errors
/// [`WebhookError::MissingSignature`] when it is absent or blank;
/// [`WebhookError::InvalidSignature`] when it is not visible ASCII.
fn signature_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, WebhookError> {
    header_value(headers, name)?.ok_or(WebhookError::MissingSignature)
}

/// The trimmed value of the header `name`, `None` when it is absent or blank.
///
/// # Errors
/// [`WebhookError::InvalidSignature`] when the value is not visible ASCII: every
/// header we read is part of a signature.
fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, WebhookError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| WebhookError::InvalidSignature)?
        .trim();
    Ok(Some(value).filter(|v| !v.is_empty()))
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Turns an already verified body into one event. Unknown fields are ignored and
/// fields of the wrong type count as absent; nothing here panics on any input.
///
/// # Errors
/// [`WebhookError::BadPayload`] when the body is not a JSON object, or when nothing in
/// it identifies the applicant.
pub fn parse(provider: Provider, body: &[u8]) -> Result<ProviderEvent, WebhookError> {
    let json: Value =
        serde_json::from_slice(body).map_err(|_| WebhookError::bad("body is not valid JSON"))?;
    if !json.is_object() {
        return Err(WebhookError::bad("body is not a JSON object"));
    }
    match provider {
        Provider::Onfido => onfido::parse(&json),
        Provider::Jumio => jumio::parse(&json),
        Provider::Sumsub => sumsub::parse(&json),
    }
}

/// A non-blank string at `path`, trimmed.
fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = value;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// The non-blank strings of the array at `path`.
fn strings_at<'a>(value: &'a Value, path: &[&str]) -> Vec<&'a str> {
    let mut cur = value;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return Vec::new(),
        }
    }
    cur.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn parse_uuid(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s.trim()).ok()
}

/// Our UUID from the first reference that is one; else the provider's applicant id;
/// else the first non-UUID reference string, as a last resort.
fn resolve_reference(
    references: &[&str],
    applicant_id: Option<&str>,
) -> Result<Reference, WebhookError> {
    if let Some(id) = references.iter().find_map(|r| parse_uuid(r)) {
        return Ok(Reference::Application(id));
    }
    applicant_id
        .or_else(|| references.first().copied())
        .map(|s| Reference::Applicant(s.to_string()))
        .ok_or_else(|| WebhookError::bad("nothing identifies the applicant"))
}

/// Trimmed, at most [`MAX_REASON_CHARS`] characters, never empty.
fn reason_text(parts: &[String], provider: Provider) -> String {
    let joined = parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let cut: String = joined.chars().take(MAX_REASON_CHARS).collect();
    let cut = cut.trim();
    if cut.is_empty() {
        format!("Rejected by {}", provider.name())
    } else {
        cut.to_string()
    }
}

fn reject(parts: &[String], provider: Provider, resubmit_allowed: bool) -> Verdict {
    Verdict::Reject {
        reason: reason_text(parts, provider),
        resubmit_allowed,
    }
}

/// `camelCase` or `UPPER_CASE` to `lower_snake`.
fn lower_snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.trim().chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        match c {
            ' ' | '-' => out.push('_'),
            _ => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// What a missing object reads as, so that lookups below it find nothing.
static NULL: Value = Value::Null;

/// What the providers' tests share: the secret, our application id, header and
/// body builders.
#[cfg(test)]
mod test_support {
    use http::{HeaderMap, HeaderName, HeaderValue};
    use serde_json::Value;
    use uuid::Uuid;

    use super::{parse, Provider, ProviderEvent, Verdict, WebhookError};

    pub(super) const SECRET: &str = "whsec_provider_test_secret";
    pub(super) const APP_ID: &str = "7d8a3c2e-4b1f-4e6a-9c0d-2f3e4a5b6c7d";

    pub(super) fn app_id() -> Uuid {
        Uuid::parse_str(APP_ID).unwrap()
    }

    pub(super) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::try_from(*name).unwrap();
            map.insert(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    pub(super) fn one_byte_changed(body: &[u8]) -> Vec<u8> {
        let mut changed = body.to_vec();
        changed[0] ^= 0x01;
        changed
    }

    pub(super) fn parse_json(
        provider: Provider,
        body: &Value,
    ) -> Result<ProviderEvent, WebhookError> {
        parse(provider, body.to_string().as_bytes())
    }

    pub(super) fn rejection(event: &ProviderEvent) -> (&str, bool) {
        match &event.verdict {
            Verdict::Reject {
                reason,
                resubmit_allowed,
            } => (reason.as_str(), *resubmit_allowed),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{test_support::parse_json, *};

    // --- paths and errors ---------------------------------------------------

    #[test]
    fn providers_are_named_by_their_lower_case_path() {
        for p in [Provider::Onfido, Provider::Jumio, Provider::Sumsub] {
            assert_eq!(Provider::from_path(p.name()), Some(p));
        }
        assert_eq!(Provider::Sumsub.name(), "sumsub");
        assert_eq!(Provider::from_path("Onfido"), None);
        assert_eq!(Provider::from_path("veriff"), None);
        assert_eq!(Provider::from_path(""), None);
    }

    #[test]
    fn error_messages_are_the_client_facing_texts() {
        assert_eq!(
            WebhookError::MissingSignature.message(),
            "Missing webhook signature"
        );
        assert_eq!(
            WebhookError::InvalidSignature.message(),
            "Invalid webhook signature"
        );
        assert_eq!(
            WebhookError::bad("detail").message(),
            "Invalid webhook payload"
        );
    }

    // --- hostile bodies -----------------------------------------------------

    #[test]
    fn garbage_is_a_bad_payload() {
        for provider in [Provider::Onfido, Provider::Jumio, Provider::Sumsub] {
            for body in [
                &b"not json"[..],
                b"",
                b"{\"payload\":",
                b"\xff\xfe",
                b"[]",
                b"null",
                b"42",
                b"\"text\"",
                b"{}",
            ] {
                assert!(
                    matches!(parse(provider, body), Err(WebhookError::BadPayload(_))),
                    "{provider}: {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn deeply_wrong_types_never_panic() {
        let shapes = [
            json!({"payload": []}),
            json!({"payload": {"object": [], "resource": "x"}}),
            json!({"payload": {"object": {"tags": "not-a-list", "applicant_id": 7,
                "result": {"x": 1}, "output": [1, 2], "status": false}}}),
            json!({"payload": {"object": {"applicant_id": "a", "result": "unidentified",
                "breakdown": [1], "output": {"breakdown": {"x": 5, "y": {"result": 3,
                "breakdown": "z"}}}}}}),
            json!({"workflowExecution": "PROCESSED", "decision": 1, "capabilities": []}),
            json!({"workflowExecution": {"id": "wf", "status": 3},
                "decision": {"type": "REJECTED", "details": []},
                "capabilities": {"a": 1, "b": [null, {"decision": []}], "c": {"decision": {"type": 1}}}}),
            json!({"applicantId": ["x"], "externalUserId": {"a": 1}, "reviewResult": "RED"}),
            json!({"applicantId": "a1", "reviewStatus": 5,
                "reviewResult": {"reviewAnswer": "RED", "rejectLabels": [1, null, {}],
                "reviewRejectType": []}}),
        ];
        for provider in [Provider::Onfido, Provider::Jumio, Provider::Sumsub] {
            for body in &shapes {
                let _ = parse_json(provider, body);
            }
        }
    }

    #[test]
    fn deeply_nested_json_is_a_bad_payload_not_a_stack_overflow() {
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse(Provider::Sumsub, body.as_bytes()),
            Err(WebhookError::BadPayload(_))
        ));
    }
}

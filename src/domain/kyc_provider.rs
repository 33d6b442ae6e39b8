//! Identity-provider (KYC) webhooks: one delivery (headers + raw body) in, one
//! internal event out. Pure: no database, no HTTP framework beyond `HeaderMap`.
//!
//! The caller first picks the provider from the path ([`Provider::from_path`]),
//! answers 404 when that provider's secret is not configured, then calls
//! [`verify`] over the exact bytes received and only afterwards [`parse`].

use std::fmt;

use axum::http::HeaderMap;
use serde_json::Value;
use uuid::Uuid;

use super::crypto::{verify_hmac_hex, MacAlg};

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

const ONFIDO_SIGNATURE: &str = "x-sha2-signature";
const JUMIO_SIGNATURE: &str = "x-jumio-signature";
const SUMSUB_DIGEST: &str = "x-payload-digest";
const SUMSUB_DIGEST_ALG: &str = "x-payload-digest-alg";

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
    let (alg, signature) = match provider {
        Provider::Onfido => (MacAlg::Sha256, signature_header(headers, ONFIDO_SIGNATURE)?),
        Provider::Jumio => {
            let raw = signature_header(headers, JUMIO_SIGNATURE)?;
            (MacAlg::Sha256, strip_prefix_ignore_case(raw, "sha256="))
        }
        Provider::Sumsub => {
            let digest = signature_header(headers, SUMSUB_DIGEST)?;
            (sumsub_alg(headers)?, digest)
        }
    };
    if secret.is_empty() || signature.is_empty() {
        return Err(WebhookError::InvalidSignature);
    }
    if verify_hmac_hex(alg, secret.as_bytes(), &[body], signature) {
        Ok(())
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

/// The trimmed value of a signature header.
fn signature_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, WebhookError> {
    let value = headers.get(name).ok_or(WebhookError::MissingSignature)?;
    if value.as_bytes().iter().all(u8::is_ascii_whitespace) {
        return Err(WebhookError::MissingSignature);
    }
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| WebhookError::InvalidSignature)
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> &'a str {
    match value.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => value.get(prefix.len()..).unwrap_or(""),
        _ => value,
    }
}

fn sumsub_alg(headers: &HeaderMap) -> Result<MacAlg, WebhookError> {
    let Some(value) = headers.get(SUMSUB_DIGEST_ALG) else {
        return Ok(MacAlg::Sha256);
    };
    let name = value
        .to_str()
        .map_err(|_| WebhookError::InvalidSignature)?
        .trim();
    if name.is_empty() || name.eq_ignore_ascii_case("HMAC_SHA256_HEX") {
        Ok(MacAlg::Sha256)
    } else if name.eq_ignore_ascii_case("HMAC_SHA1_HEX") {
        Ok(MacAlg::Sha1)
    } else if name.eq_ignore_ascii_case("HMAC_SHA512_HEX") {
        Ok(MacAlg::Sha512)
    } else {
        Err(WebhookError::InvalidSignature)
    }
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
        Provider::Onfido => parse_onfido(&json),
        Provider::Jumio => parse_jumio(&json),
        Provider::Sumsub => parse_sumsub(&json),
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

// --- Onfido ---------------------------------------------------------------

static NULL: Value = Value::Null;

/// Object states in which an Onfido result, if any, is not final.
const ONFIDO_OPEN_STATES: &[&str] = &[
    "in_progress",
    "awaiting_applicant",
    "paused",
    "reopened",
    "withdrawn",
    "processing",
    "started",
    "awaiting_input",
    "awaiting_client_input",
    "awaiting_data",
    "awaiting_approval",
    "cancelled",
];

/// Onfido document-report sub-results that mean the document was refused.
const ONFIDO_REJECTING: &[&str] = &["unidentified", "rejected", "suspected", "caution"];

/// Onfido: `{"payload": {"resource_type", "action", "object": {id, status, href,
/// result?, applicant_id?, tags?, output?}, "resource"?: {applicant_id, tags?, reasons?}}}`.
/// The documented `check.completed` envelope carries no result (the check must be
/// fetched): it yields `NoDecision` with status `complete`.
fn parse_onfido(json: &Value) -> Result<ProviderEvent, WebhookError> {
    let object = json.pointer("/payload/object").unwrap_or(&NULL);
    let resource = json.pointer("/payload/resource").unwrap_or(&NULL);

    let mut tags = strings_at(object, &["tags"]);
    tags.extend(strings_at(resource, &["tags"]));
    // Only a tag that is one of our UUIDs is a reference; other tags are labels.
    let tag_refs: Vec<&str> = tags
        .into_iter()
        .filter(|t| parse_uuid(t).is_some())
        .collect();
    let applicant_id =
        str_at(object, &["applicant_id"]).or_else(|| str_at(resource, &["applicant_id"]));
    let reference = resolve_reference(&tag_refs, applicant_id)?;

    let status = str_at(object, &["status"]).map(str::to_ascii_lowercase);
    let verdict = onfido_verdict(object, resource, status.as_deref());
    Ok(ProviderEvent {
        provider: Provider::Onfido,
        reference,
        applicant_id: applicant_id.map(str::to_string),
        provider_status: status,
        verdict,
    })
}

fn onfido_verdict(object: &Value, resource: &Value, status: Option<&str>) -> Verdict {
    if status.is_some_and(|s| ONFIDO_OPEN_STATES.contains(&s)) {
        return Verdict::NoDecision;
    }
    let field = |name: &str| {
        str_at(object, &[name])
            .or_else(|| str_at(object, &["output", name]))
            .map(str::to_ascii_lowercase)
    };
    let result = field("result");
    let rejecting = |r: &&str| ONFIDO_REJECTING.contains(r);
    // The contract maps CONSIDER to manual review whatever its sub-result:
    // a human decides; only a rejecting result rejects outright.
    let refusal = result.as_deref().filter(rejecting);
    match (result.as_deref(), refusal) {
        (Some("clear"), _) => Verdict::Approve,
        (Some(_), Some(why)) => reject(&onfido_reasons(object, why), Provider::Onfido, true),
        (Some(_), None) => Verdict::ManualReview,
        // A workflow run's status is its outcome.
        (None, _) => match status {
            Some("approved") => Verdict::Approve,
            Some("review") => Verdict::ManualReview,
            Some("declined") => {
                let reasons: Vec<String> = strings_at(resource, &["reasons"])
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                reject(&[reasons.join(", ")], Provider::Onfido, true)
            }
            _ => Verdict::NoDecision,
        },
    }
}

/// The breakdown entries that are not clear, or a generic line naming the result.
fn onfido_reasons(object: &Value, result: &str) -> Vec<String> {
    let mut found = Vec::new();
    for breakdown in [object.get("breakdown"), object.pointer("/output/breakdown")]
        .into_iter()
        .flatten()
    {
        unclear_breakdown(breakdown, "", 0, &mut found);
    }
    if found.is_empty() {
        vec![format!("Verification failed ({result})")]
    } else {
        vec![found.join(", ")]
    }
}

/// Walks Onfido's nested `breakdown` objects, naming the deepest entries whose
/// result is not `clear`.
fn unclear_breakdown(breakdown: &Value, prefix: &str, depth: usize, out: &mut Vec<String>) {
    const MAX_DEPTH: usize = 4;
    let Some(entries) = breakdown.as_object() else {
        return;
    };
    for (name, entry) in entries {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let before = out.len();
        if depth < MAX_DEPTH {
            if let Some(nested) = entry.get("breakdown") {
                unclear_breakdown(nested, &path, depth + 1, out);
            }
        }
        if out.len() == before {
            if let Some(result) = str_at(entry, &["result"]) {
                if !result.eq_ignore_ascii_case("clear") {
                    out.push(format!("{path}: {}", result.to_ascii_lowercase()));
                }
            }
        }
    }
}

// --- Jumio ----------------------------------------------------------------

/// Jumio KYX callback: `{"callbackSentAt", "userReference"?, "workflowExecution":
/// {id, href, definitionKey, status, customerInternalReference?}, "account": {id, href}}`,
/// plus (seed shape) `decision` and `capabilities`. The documented callback carries no
/// decision (it must be retrieved): `PROCESSED` alone yields `NoDecision`.
fn parse_jumio(json: &Value) -> Result<ProviderEvent, WebhookError> {
    let references: Vec<&str> = [
        str_at(json, &["workflowExecution", "customerInternalReference"]),
        str_at(json, &["customerInternalReference"]),
        str_at(json, &["userReference"]),
    ]
    .into_iter()
    .flatten()
    .collect();
    // The account outlives a single workflow execution, so it is the better applicant id.
    let applicant_id =
        str_at(json, &["account", "id"]).or_else(|| str_at(json, &["workflowExecution", "id"]));
    let reference = resolve_reference(&references, applicant_id)?;

    let raw_status = str_at(json, &["workflowExecution", "status"]).map(str::to_ascii_uppercase);
    let provider_status = raw_status.as_deref().map(|s| match s {
        "PROCESSED" => "complete".to_string(),
        "INITIATED" => "pending".to_string(),
        "ACQUIRED" => "in_progress".to_string(),
        "SESSION_EXPIRED" | "TOKEN_EXPIRED" => "withdrawn".to_string(),
        other => other.to_ascii_lowercase(),
    });
    let verdict = match raw_status.as_deref() {
        None | Some("PROCESSED") => jumio_verdict(json),
        Some(_) => Verdict::NoDecision,
    };
    Ok(ProviderEvent {
        provider: Provider::Jumio,
        reference,
        applicant_id: applicant_id.map(str::to_string),
        provider_status,
        verdict,
    })
}

fn jumio_verdict(json: &Value) -> Verdict {
    let Some(decision) = str_at(json, &["decision", "type"]).map(str::to_ascii_uppercase) else {
        return Verdict::NoDecision;
    };
    match decision.as_str() {
        "PASSED" => Verdict::Approve,
        "REJECTED" => reject(&jumio_reasons(json), Provider::Jumio, true),
        "NOT_EXECUTED" => Verdict::NoDecision,
        // WARNING, and any decision we do not know, goes to a human.
        _ => Verdict::ManualReview,
    }
}

/// `decision.details.label` (when it says more than "REJECTED"), then the labels of
/// capabilities whose own decision is not PASSED. Capabilities are objects in the
/// seed's shape and arrays of objects in Jumio's retrieval shape.
fn jumio_reasons(json: &Value) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    if let Some(label) = str_at(json, &["decision", "details", "label"]) {
        if !label.eq_ignore_ascii_case("REJECTED") {
            labels.push(label.to_string());
        }
    }
    if let Some(capabilities) = json.get("capabilities").and_then(Value::as_object) {
        for (name, capability) in capabilities {
            let entries = match capability {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![other],
            };
            for entry in entries {
                let passed = str_at(entry, &["decision", "type"])
                    .is_none_or(|t| t.eq_ignore_ascii_case("PASSED"));
                if passed {
                    continue;
                }
                if let Some(label) = str_at(entry, &["decision", "details", "label"]) {
                    let line = format!("{name}: {label}");
                    if !labels.contains(&line) {
                        labels.push(line);
                    }
                }
            }
        }
    }
    vec![labels.join(", ")]
}

// --- Sumsub ---------------------------------------------------------------

/// Sumsub: `{"applicantId", "inspectionId", "correlationId", "levelName",
/// "externalUserId", "type", "reviewStatus", "reviewResult": {reviewAnswer,
/// moderationComment?, clientComment?, rejectLabels?, reviewRejectType?}, ...}`.
/// Only `applicantReviewed` (or an untyped body) carries the applicant's verdict;
/// `applicantActionReviewed` is about an action, not the applicant.
fn parse_sumsub(json: &Value) -> Result<ProviderEvent, WebhookError> {
    let references: Vec<&str> = str_at(json, &["externalUserId"]).into_iter().collect();
    let applicant_id = str_at(json, &["applicantId"]);
    let reference = resolve_reference(&references, applicant_id)?;

    let review_status = str_at(json, &["reviewStatus"]);
    let provider_status = review_status.map(|s| {
        let snake = lower_snake(s);
        match snake.as_str() {
            "completed" => "complete".to_string(),
            "on_hold" => "paused".to_string(),
            "pending" | "queued" => "in_progress".to_string(),
            _ => snake,
        }
    });
    let reviewed_type = str_at(json, &["type"]).is_none_or(|t| t == "applicantReviewed");
    let completed = review_status.is_none_or(|s| s.eq_ignore_ascii_case("completed"));
    let verdict = if reviewed_type && completed {
        sumsub_verdict(json)
    } else {
        Verdict::NoDecision
    };
    Ok(ProviderEvent {
        provider: Provider::Sumsub,
        reference,
        applicant_id: applicant_id.map(str::to_string),
        provider_status,
        verdict,
    })
}

fn sumsub_verdict(json: &Value) -> Verdict {
    let result = json.get("reviewResult").unwrap_or(&NULL);
    let Some(answer) = str_at(result, &["reviewAnswer"]).map(str::to_ascii_uppercase) else {
        return Verdict::NoDecision;
    };
    match answer.as_str() {
        "GREEN" => Verdict::Approve,
        "RED" => {
            let parts: Vec<String> = [
                // `clientComment` is Sumsub's note for us, not for the
                // applicant; the reason is mailed to the business, so it stays out.
                str_at(result, &["moderationComment"]).map(str::to_string),
                Some(strings_at(result, &["rejectLabels"]).join(", ")),
            ]
            .into_iter()
            .flatten()
            .collect();
            // RETRY lets the applicant resubmit; only FINAL closes the door.
            let resubmit_allowed = !str_at(result, &["reviewRejectType"])
                .is_some_and(|t| t.eq_ignore_ascii_case("FINAL"));
            reject(&parts, Provider::Sumsub, resubmit_allowed)
        }
        // YELLOW, and any answer we do not know, goes to a human.
        _ => Verdict::ManualReview,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderName, HeaderValue};
    use hmac::{Hmac, Mac};
    use serde_json::json;

    use super::*;
    use crate::domain::crypto::hmac_sha256_hex;

    const SECRET: &str = "whsec_provider_test_secret";
    const APP_ID: &str = "7d8a3c2e-4b1f-4e6a-9c0d-2f3e4a5b6c7d";

    fn app_id() -> Uuid {
        Uuid::parse_str(APP_ID).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::try_from(*name).unwrap();
            map.insert(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn hmac_sha1_hex(key: &[u8], data: &[u8]) -> String {
        let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    fn hmac_sha512_hex(key: &[u8], data: &[u8]) -> String {
        let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    fn one_byte_changed(body: &[u8]) -> Vec<u8> {
        let mut changed = body.to_vec();
        changed[0] ^= 0x01;
        changed
    }

    fn parse_json(provider: Provider, body: &Value) -> Result<ProviderEvent, WebhookError> {
        parse(provider, body.to_string().as_bytes())
    }

    fn rejection(event: &ProviderEvent) -> (&str, bool) {
        match &event.verdict {
            Verdict::Reject {
                reason,
                resubmit_allowed,
            } => (reason.as_str(), *resubmit_allowed),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

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

    // --- Onfido signature ---------------------------------------------------

    const ONFIDO_BODY: &[u8] = br#"{"payload":{"resource_type":"check","action":"check.completed","object":{"id":"check_1","status":"complete","result":"clear","applicant_id":"applicant_1"}}}"#;

    #[test]
    fn onfido_valid_signature_passes() {
        let sig = hmac_sha256_hex(SECRET.as_bytes(), ONFIDO_BODY);
        let h = headers(&[("X-SHA2-Signature", &sig)]);
        assert_eq!(verify(Provider::Onfido, SECRET, &h, ONFIDO_BODY), Ok(()));
    }

    #[test]
    fn onfido_upper_case_hex_passes() {
        let sig = hmac_sha256_hex(SECRET.as_bytes(), ONFIDO_BODY).to_uppercase();
        let h = headers(&[("x-sha2-signature", &sig)]);
        assert_eq!(verify(Provider::Onfido, SECRET, &h, ONFIDO_BODY), Ok(()));
    }

    #[test]
    fn onfido_missing_or_blank_header_is_a_missing_signature() {
        let empty = HeaderMap::new();
        assert_eq!(
            verify(Provider::Onfido, SECRET, &empty, ONFIDO_BODY),
            Err(WebhookError::MissingSignature)
        );
        let blank = headers(&[("X-SHA2-Signature", "  ")]);
        assert_eq!(
            verify(Provider::Onfido, SECRET, &blank, ONFIDO_BODY),
            Err(WebhookError::MissingSignature)
        );
    }

    #[test]
    fn onfido_wrong_signature_is_invalid() {
        let sig = hmac_sha256_hex(b"another-token", ONFIDO_BODY);
        for bad in [sig.as_str(), "not-hex", "00"] {
            let h = headers(&[("X-SHA2-Signature", bad)]);
            assert_eq!(
                verify(Provider::Onfido, SECRET, &h, ONFIDO_BODY),
                Err(WebhookError::InvalidSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn onfido_body_changed_by_one_byte_is_invalid() {
        let sig = hmac_sha256_hex(SECRET.as_bytes(), ONFIDO_BODY);
        let h = headers(&[("X-SHA2-Signature", &sig)]);
        assert_eq!(
            verify(Provider::Onfido, SECRET, &h, &one_byte_changed(ONFIDO_BODY)),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn an_empty_secret_never_verifies() {
        let sig = hmac_sha256_hex(b"", ONFIDO_BODY);
        let h = headers(&[("X-SHA2-Signature", &sig)]);
        assert_eq!(
            verify(Provider::Onfido, "", &h, ONFIDO_BODY),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn a_signature_header_that_is_not_visible_ascii_is_invalid() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-sha2-signature",
            HeaderValue::from_bytes(b"ab\xffcd").unwrap(),
        );
        assert_eq!(
            verify(Provider::Onfido, SECRET, &h, ONFIDO_BODY),
            Err(WebhookError::InvalidSignature)
        );
    }

    // --- Jumio signature ----------------------------------------------------

    const JUMIO_BODY: &[u8] = br#"{"workflowExecution":{"id":"workflow_1","status":"PROCESSED"},"decision":{"type":"PASSED"}}"#;

    #[test]
    fn jumio_valid_signature_with_prefix_passes() {
        let sig = format!("sha256={}", hmac_sha256_hex(SECRET.as_bytes(), JUMIO_BODY));
        let h = headers(&[("X-Jumio-Signature", &sig)]);
        assert_eq!(verify(Provider::Jumio, SECRET, &h, JUMIO_BODY), Ok(()));
    }

    #[test]
    fn jumio_valid_signature_without_prefix_passes() {
        let sig = hmac_sha256_hex(SECRET.as_bytes(), JUMIO_BODY);
        let h = headers(&[("X-Jumio-Signature", &sig)]);
        assert_eq!(verify(Provider::Jumio, SECRET, &h, JUMIO_BODY), Ok(()));
    }

    #[test]
    fn jumio_upper_case_hex_passes() {
        let sig = format!(
            "sha256={}",
            hmac_sha256_hex(SECRET.as_bytes(), JUMIO_BODY).to_uppercase()
        );
        let h = headers(&[("X-Jumio-Signature", &sig)]);
        assert_eq!(verify(Provider::Jumio, SECRET, &h, JUMIO_BODY), Ok(()));
    }

    #[test]
    fn jumio_missing_header_is_a_missing_signature() {
        assert_eq!(
            verify(Provider::Jumio, SECRET, &HeaderMap::new(), JUMIO_BODY),
            Err(WebhookError::MissingSignature)
        );
        let blank = headers(&[("X-Jumio-Signature", "")]);
        assert_eq!(
            verify(Provider::Jumio, SECRET, &blank, JUMIO_BODY),
            Err(WebhookError::MissingSignature)
        );
    }

    #[test]
    fn jumio_wrong_signature_is_invalid() {
        let sig = format!("sha256={}", hmac_sha256_hex(b"other", JUMIO_BODY));
        for bad in [sig.as_str(), "sha256=", "sha256=zz"] {
            let h = headers(&[("X-Jumio-Signature", bad)]);
            assert_eq!(
                verify(Provider::Jumio, SECRET, &h, JUMIO_BODY),
                Err(WebhookError::InvalidSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn jumio_body_changed_by_one_byte_is_invalid() {
        let sig = format!("sha256={}", hmac_sha256_hex(SECRET.as_bytes(), JUMIO_BODY));
        let h = headers(&[("X-Jumio-Signature", &sig)]);
        assert_eq!(
            verify(Provider::Jumio, SECRET, &h, &one_byte_changed(JUMIO_BODY)),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn jumio_signature_is_not_accepted_from_another_providers_header() {
        let sig = hmac_sha256_hex(SECRET.as_bytes(), JUMIO_BODY);
        let h = headers(&[("X-SHA2-Signature", &sig)]);
        assert_eq!(
            verify(Provider::Jumio, SECRET, &h, JUMIO_BODY),
            Err(WebhookError::MissingSignature)
        );
    }

    // --- Sumsub signature ---------------------------------------------------

    const SUMSUB_BODY: &[u8] = br#"{"applicantId":"5cb56e8e0a975a35f333cb83","externalUserId":"7d8a3c2e-4b1f-4e6a-9c0d-2f3e4a5b6c7d","type":"applicantReviewed","reviewStatus":"completed","reviewResult":{"reviewAnswer":"GREEN"}}"#;

    #[test]
    fn sumsub_sha256_is_the_default_when_no_algorithm_is_named() {
        let sig = hmac_sha256_hex(SECRET.as_bytes(), SUMSUB_BODY);
        let h = headers(&[("X-Payload-Digest", &sig)]);
        assert_eq!(verify(Provider::Sumsub, SECRET, &h, SUMSUB_BODY), Ok(()));
    }

    #[test]
    fn sumsub_each_named_algorithm_verifies() {
        let key = SECRET.as_bytes();
        for (alg, sig) in [
            ("HMAC_SHA1_HEX", hmac_sha1_hex(key, SUMSUB_BODY)),
            ("HMAC_SHA256_HEX", hmac_sha256_hex(key, SUMSUB_BODY)),
            ("HMAC_SHA512_HEX", hmac_sha512_hex(key, SUMSUB_BODY)),
        ] {
            let h = headers(&[("X-Payload-Digest", &sig), ("X-Payload-Digest-Alg", alg)]);
            assert_eq!(
                verify(Provider::Sumsub, SECRET, &h, SUMSUB_BODY),
                Ok(()),
                "{alg}"
            );
        }
    }

    #[test]
    fn sumsub_digest_under_another_algorithm_than_named_is_invalid() {
        let sig = hmac_sha1_hex(SECRET.as_bytes(), SUMSUB_BODY);
        let h = headers(&[
            ("X-Payload-Digest", &sig),
            ("X-Payload-Digest-Alg", "HMAC_SHA512_HEX"),
        ]);
        assert_eq!(
            verify(Provider::Sumsub, SECRET, &h, SUMSUB_BODY),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn sumsub_unknown_algorithm_is_an_invalid_signature() {
        let sig = hmac_sha256_hex(SECRET.as_bytes(), SUMSUB_BODY);
        for alg in ["HMAC_MD5_HEX", "SHA256", "none"] {
            let h = headers(&[("X-Payload-Digest", &sig), ("X-Payload-Digest-Alg", alg)]);
            assert_eq!(
                verify(Provider::Sumsub, SECRET, &h, SUMSUB_BODY),
                Err(WebhookError::InvalidSignature),
                "{alg}"
            );
        }
    }

    #[test]
    fn sumsub_upper_case_hex_passes() {
        let sig = hmac_sha512_hex(SECRET.as_bytes(), SUMSUB_BODY).to_uppercase();
        let h = headers(&[
            ("X-Payload-Digest", &sig),
            ("X-Payload-Digest-Alg", "HMAC_SHA512_HEX"),
        ]);
        assert_eq!(verify(Provider::Sumsub, SECRET, &h, SUMSUB_BODY), Ok(()));
    }

    #[test]
    fn sumsub_missing_digest_is_a_missing_signature_even_with_an_algorithm() {
        let h = headers(&[("X-Payload-Digest-Alg", "HMAC_SHA256_HEX")]);
        assert_eq!(
            verify(Provider::Sumsub, SECRET, &h, SUMSUB_BODY),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            verify(Provider::Sumsub, SECRET, &HeaderMap::new(), SUMSUB_BODY),
            Err(WebhookError::MissingSignature)
        );
    }

    #[test]
    fn sumsub_wrong_signature_is_invalid() {
        let sig = hmac_sha256_hex(b"other", SUMSUB_BODY);
        let h = headers(&[("X-Payload-Digest", &sig)]);
        assert_eq!(
            verify(Provider::Sumsub, SECRET, &h, SUMSUB_BODY),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn sumsub_body_changed_by_one_byte_is_invalid() {
        let sig = hmac_sha1_hex(SECRET.as_bytes(), SUMSUB_BODY);
        let h = headers(&[
            ("X-Payload-Digest", &sig),
            ("X-Payload-Digest-Alg", "HMAC_SHA1_HEX"),
        ]);
        assert_eq!(
            verify(Provider::Sumsub, SECRET, &h, &one_byte_changed(SUMSUB_BODY)),
            Err(WebhookError::InvalidSignature)
        );
    }

    // --- Onfido parsing -----------------------------------------------------

    fn onfido_check(result: Value, output: Value) -> Value {
        json!({
            "payload": {
                "resource_type": "check",
                "action": "check.completed",
                "object": {
                    "id": "check_123456",
                    "status": "complete",
                    "result": result,
                    "applicant_id": "applicant_123",
                    "completed_at": "2025-12-06T12:00:00Z",
                    "output": output
                }
            }
        })
    }

    #[test]
    fn onfido_seed_clear_check_approves_by_applicant_id() {
        let body = onfido_check(
            json!("clear"),
            json!({"result": "clear", "breakdown": {
                "document_authenticity": {"result": "clear"},
                "face_comparison": {"result": "clear"}
            }}),
        );
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.provider, Provider::Onfido);
        assert_eq!(event.verdict, Verdict::Approve);
        assert_eq!(
            event.reference,
            Reference::Applicant("applicant_123".into())
        );
        assert_eq!(event.applicant_id.as_deref(), Some("applicant_123"));
        assert_eq!(event.provider_status.as_deref(), Some("complete"));
    }

    #[test]
    fn onfido_consider_asks_for_manual_review() {
        let body = onfido_check(json!("consider"), json!({"result": "consider"}));
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.verdict, Verdict::ManualReview);
    }

    #[test]
    fn onfido_result_only_in_output_is_read() {
        let body = onfido_check(Value::Null, json!({"result": "consider"}));
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.verdict, Verdict::ManualReview);
    }

    #[test]
    fn onfido_unidentified_rejects_with_the_breakdown_entries_that_are_not_clear() {
        let body = onfido_check(
            json!("unidentified"),
            json!({"result": "unidentified", "breakdown": {
                "document_authenticity": {"result": "consider", "breakdown": {
                    "original_document_present": {"result": "consider"},
                    "digital_tampering": {"result": "clear"}
                }},
                "face_comparison": {"result": "unidentified"},
                "visual_authenticity": {"result": "clear"}
            }}),
        );
        let event = parse_json(Provider::Onfido, &body).unwrap();
        let (reason, resubmit) = rejection(&event);
        assert_eq!(
            reason,
            "document_authenticity.original_document_present: consider, face_comparison: unidentified"
        );
        assert!(resubmit);
    }

    #[test]
    fn onfido_unidentified_without_breakdown_rejects_with_a_generic_reason() {
        let body = onfido_check(json!("unidentified"), Value::Null);
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(rejection(&event).0, "Verification failed (unidentified)");
    }

    #[test]
    fn onfido_rejected_suspected_and_caution_reject_too() {
        for r in ["rejected", "suspected", "caution", "REJECTED"] {
            let body = onfido_check(json!(r), Value::Null);
            let event = parse_json(Provider::Onfido, &body).unwrap();
            assert!(
                matches!(event.verdict, Verdict::Reject { .. }),
                "{r}: {event:?}"
            );
        }
    }

    #[test]
    fn onfido_consider_goes_to_manual_review_whatever_its_sub_result() {
        let mut body = onfido_check(json!("consider"), Value::Null);
        body["payload"]["object"]["sub_result"] = json!("suspected");
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.verdict, Verdict::ManualReview);
    }

    #[test]
    fn onfido_in_progress_check_has_no_decision_yet() {
        let body = json!({"payload": {
            "resource_type": "check",
            "action": "check.started",
            "object": {"id": "check_1", "status": "in_progress", "applicant_id": "applicant_123"}
        }});
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.verdict, Verdict::NoDecision);
        assert_eq!(event.provider_status.as_deref(), Some("in_progress"));
    }

    #[test]
    fn onfido_statuses_are_kept_lower_case() {
        for (raw, want) in [
            ("awaiting_applicant", "awaiting_applicant"),
            ("withdrawn", "withdrawn"),
            ("paused", "paused"),
            ("reopened", "reopened"),
            ("Complete", "complete"),
        ] {
            let body = json!({"payload": {"object": {"status": raw, "applicant_id": "a"}}});
            let event = parse_json(Provider::Onfido, &body).unwrap();
            assert_eq!(event.provider_status.as_deref(), Some(want), "{raw}");
            assert_eq!(event.verdict, Verdict::NoDecision, "{raw}");
        }
    }

    #[test]
    fn onfido_reopened_check_with_an_old_result_has_no_decision() {
        let mut body = onfido_check(json!("clear"), Value::Null);
        body["payload"]["object"]["status"] = json!("reopened");
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.verdict, Verdict::NoDecision);
    }

    #[test]
    fn onfido_uuid_tag_is_our_application_reference() {
        let mut body = onfido_check(json!("clear"), Value::Null);
        body["payload"]["object"]["tags"] = json!(["vip", APP_ID]);
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.reference, Reference::Application(app_id()));
        assert_eq!(event.applicant_id.as_deref(), Some("applicant_123"));
    }

    #[test]
    fn onfido_documented_workflow_run_with_resource_tags_and_applicant() {
        let applicant = "a1b2c3d4-0000-4000-8000-000000000001";
        let body = json!({"payload": {
            "resource_type": "workflow_run",
            "action": "workflow_run.completed",
            "object": {
                "id": "2f152409-d6c4-4711-8750-48517f99a8d6",
                "status": "approved",
                "completed_at_iso8601": "2022-12-19T16:54:44Z",
                "href": "https://api.eu.onfido.com/v3.6/workflow_runs/2f152409-d6c4-4711-8750-48517f99a8d6"
            },
            "resource": {"applicant_id": applicant, "tags": [APP_ID], "reasons": []}
        }});
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.reference, Reference::Application(app_id()));
        assert_eq!(event.applicant_id.as_deref(), Some(applicant));
        assert_eq!(event.verdict, Verdict::Approve);
        assert_eq!(event.provider_status.as_deref(), Some("approved"));
    }

    #[test]
    fn onfido_applicant_id_that_is_a_uuid_is_still_the_providers_id() {
        let applicant = "a1b2c3d4-0000-4000-8000-000000000001";
        let body = json!({"payload": {"object": {"status": "complete", "result": "clear",
            "applicant_id": applicant}}});
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.reference, Reference::Applicant(applicant.into()));
    }

    #[test]
    fn onfido_declined_and_review_workflow_runs_map_to_reject_and_review() {
        let body = json!({"payload": {
            "resource_type": "workflow_run",
            "object": {"id": "wr_1", "status": "declined"},
            "resource": {"applicant_id": "applicant_9", "reasons": ["document_expired", "face_mismatch"]}
        }});
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(rejection(&event).0, "document_expired, face_mismatch");

        let body = json!({"payload": {"object": {"id": "wr_1", "status": "review"},
            "resource": {"applicant_id": "applicant_9"}}});
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.verdict, Verdict::ManualReview);
    }

    #[test]
    fn onfido_documented_check_completed_envelope_has_no_decision() {
        let body = json!({"payload": {
            "resource_type": "check",
            "action": "check.completed",
            "object": {"id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "status": "complete",
                "completed_at_iso8601": "2022-01-06T15:46:43Z",
                "href": "https://api.eu.onfido.com/v3.6/checks/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
            "resource": {"applicant_id": "applicant_7"}
        }});
        let event = parse_json(Provider::Onfido, &body).unwrap();
        assert_eq!(event.verdict, Verdict::NoDecision);
        assert_eq!(event.provider_status.as_deref(), Some("complete"));
        assert_eq!(event.reference, Reference::Applicant("applicant_7".into()));
    }

    #[test]
    fn onfido_without_applicant_or_uuid_tag_is_a_bad_payload() {
        let body = json!({"payload": {"object": {"id": "check_1", "status": "complete",
            "result": "clear", "tags": ["vip"]}}});
        assert!(matches!(
            parse_json(Provider::Onfido, &body),
            Err(WebhookError::BadPayload(_))
        ));
    }

    // --- Jumio parsing ------------------------------------------------------

    fn jumio_seed(decision: &str, status: &str) -> Value {
        json!({
            "workflowExecution": {
                "id": "workflow_123456",
                "status": status,
                "completedAt": "2025-12-06T12:00:00Z",
                "href": "https://netverify.jumio.com/api/v4/workflow/executions/workflow_123456"
            },
            "decision": {"type": decision},
            "capabilities": {
                "documentVerification": {"decision": {"type": "PASSED",
                    "details": {"documentClassification": "PASSPORT"}}},
                "similarity": {"decision": {"type": "PASSED", "details": {"similarity": 95}}},
                "liveness": {"decision": {"type": "PASSED"}}
            }
        })
    }

    #[test]
    fn jumio_seed_passed_approves_by_workflow_id() {
        let event = parse_json(Provider::Jumio, &jumio_seed("PASSED", "PROCESSED")).unwrap();
        assert_eq!(event.verdict, Verdict::Approve);
        assert_eq!(
            event.reference,
            Reference::Applicant("workflow_123456".into())
        );
        assert_eq!(event.applicant_id.as_deref(), Some("workflow_123456"));
        assert_eq!(event.provider_status.as_deref(), Some("complete"));
    }

    #[test]
    fn jumio_warning_asks_for_manual_review() {
        let event = parse_json(Provider::Jumio, &jumio_seed("WARNING", "PROCESSED")).unwrap();
        assert_eq!(event.verdict, Verdict::ManualReview);
    }

    #[test]
    fn jumio_rejected_gives_the_decision_label_and_failing_capabilities() {
        let mut body = jumio_seed("REJECTED", "PROCESSED");
        body["decision"]["details"] = json!({"label": "BAD_QUALITY"});
        body["capabilities"]["liveness"] = json!({"decision": {"type": "REJECTED", "details": {"label": "LIVENESS_UNDETERMINED"}}});
        let event = parse_json(Provider::Jumio, &body).unwrap();
        let (reason, resubmit) = rejection(&event);
        assert_eq!(reason, "BAD_QUALITY, liveness: LIVENESS_UNDETERMINED");
        assert!(resubmit);
    }

    #[test]
    fn jumio_rejected_reads_capabilities_in_the_retrieval_array_shape() {
        let mut body = jumio_seed("REJECTED", "PROCESSED");
        body["decision"]["details"] = json!({"label": "REJECTED"});
        body["capabilities"] = json!({
            "usability": [{"id": "u1", "decision": {"type": "REJECTED",
                "details": {"label": "BLACK_WHITE"}}}],
            "liveness": [{"decision": {"type": "PASSED", "details": {"label": "OK"}}}]
        });
        let event = parse_json(Provider::Jumio, &body).unwrap();
        assert_eq!(rejection(&event).0, "usability: BLACK_WHITE");
    }

    #[test]
    fn jumio_rejected_without_labels_falls_back_to_a_generic_reason() {
        let body = json!({"workflowExecution": {"id": "wf", "status": "PROCESSED"},
            "decision": {"type": "REJECTED"}});
        let event = parse_json(Provider::Jumio, &body).unwrap();
        assert_eq!(rejection(&event).0, "Rejected by jumio");
    }

    #[test]
    fn jumio_initiated_and_acquired_have_no_decision_yet() {
        for (raw, want) in [("INITIATED", "pending"), ("ACQUIRED", "in_progress")] {
            let event = parse_json(Provider::Jumio, &jumio_seed("PASSED", raw)).unwrap();
            assert_eq!(event.verdict, Verdict::NoDecision, "{raw}");
            assert_eq!(event.provider_status.as_deref(), Some(want), "{raw}");
        }
    }

    #[test]
    fn jumio_expired_sessions_are_withdrawn_without_decision() {
        for raw in ["SESSION_EXPIRED", "TOKEN_EXPIRED"] {
            let body = json!({"workflowExecution": {"id": "wf", "status": raw},
                "decision": {"type": "NOT_EXECUTED", "details": {"label": raw}}});
            let event = parse_json(Provider::Jumio, &body).unwrap();
            assert_eq!(event.provider_status.as_deref(), Some("withdrawn"));
            assert_eq!(event.verdict, Verdict::NoDecision);
        }
    }

    #[test]
    fn jumio_unknown_status_is_kept_lower_case() {
        let body = json!({"workflowExecution": {"id": "wf", "status": "ACQUISITION_STARTED"}});
        let event = parse_json(Provider::Jumio, &body).unwrap();
        assert_eq!(
            event.provider_status.as_deref(),
            Some("acquisition_started")
        );
        assert_eq!(event.verdict, Verdict::NoDecision);
    }

    #[test]
    fn jumio_documented_callback_uses_user_reference_and_account_id() {
        let body = json!({
            "callbackSentAt": "2021-01-21T14:55:01.917Z",
            "userReference": APP_ID,
            "workflowExecution": {
                "id": "22222222-0000-4000-8000-000000000002",
                "href": "https://retrieval.apac-1.jumio.ai/api/v1/accounts/11111111-0000-4000-8000-000000000001/workflow-executions/22222222-0000-4000-8000-000000000002",
                "definitionKey": "3",
                "status": "PROCESSED"
            },
            "account": {
                "id": "11111111-0000-4000-8000-000000000001",
                "href": "https://retrieval.apac-1.jumio.ai/api/v1/accounts/11111111-0000-4000-8000-000000000001"
            }
        });
        let event = parse_json(Provider::Jumio, &body).unwrap();
        assert_eq!(event.reference, Reference::Application(app_id()));
        assert_eq!(
            event.applicant_id.as_deref(),
            Some("11111111-0000-4000-8000-000000000001")
        );
        // The documented callback has no decision: the result must be retrieved.
        assert_eq!(event.verdict, Verdict::NoDecision);
        assert_eq!(event.provider_status.as_deref(), Some("complete"));
    }

    #[test]
    fn jumio_customer_internal_reference_wins_wherever_it_is() {
        let nested = json!({"userReference": "not-a-uuid",
            "workflowExecution": {"id": "wf", "status": "PROCESSED",
                "customerInternalReference": APP_ID}});
        let top = json!({"customerInternalReference": APP_ID,
            "workflowExecution": {"id": "wf", "status": "PROCESSED"}});
        for body in [nested, top] {
            let event = parse_json(Provider::Jumio, &body).unwrap();
            assert_eq!(event.reference, Reference::Application(app_id()));
        }
    }

    #[test]
    fn jumio_non_uuid_reference_is_used_only_when_no_id_exists() {
        let with_id = json!({"userReference": "user-42",
            "workflowExecution": {"id": "wf_9", "status": "INITIATED"}});
        assert_eq!(
            parse_json(Provider::Jumio, &with_id).unwrap().reference,
            Reference::Applicant("wf_9".into())
        );
        let without_id = json!({"userReference": "user-42"});
        let event = parse_json(Provider::Jumio, &without_id).unwrap();
        assert_eq!(event.reference, Reference::Applicant("user-42".into()));
        assert_eq!(event.applicant_id, None);
    }

    // --- Sumsub parsing -----------------------------------------------------

    fn sumsub_reviewed(review_result: Value) -> Value {
        json!({
            "applicantId": "applicant_123456",
            "inspectionId": "inspection_123",
            "correlationId": "correlation_123",
            "levelName": "basic-kyc-level",
            "externalUserId": APP_ID,
            "type": "applicantReviewed",
            "sandboxMode": false,
            "reviewStatus": "completed",
            "reviewResult": review_result,
            "createdAtMs": "2025-12-06 12:00:00.000"
        })
    }

    #[test]
    fn sumsub_green_approves_our_application() {
        let event = parse_json(
            Provider::Sumsub,
            &sumsub_reviewed(json!({"reviewAnswer": "GREEN"})),
        )
        .unwrap();
        assert_eq!(event.verdict, Verdict::Approve);
        assert_eq!(event.reference, Reference::Application(app_id()));
        assert_eq!(event.applicant_id.as_deref(), Some("applicant_123456"));
        assert_eq!(event.provider_status.as_deref(), Some("complete"));
    }

    #[test]
    fn sumsub_seed_payload_with_non_uuid_external_id_falls_back_to_applicant_id() {
        let body = json!({
            "applicantId": "applicant_123456",
            "inspectionId": "inspection_123",
            "correlationId": "correlation_123",
            "externalUserId": "org_123",
            "type": "applicantReviewed",
            "reviewStatus": "completed",
            "reviewResult": {
                "reviewAnswer": "GREEN",
                "moderationComment": "Document verified",
                "checkResults": {
                    "IDENTITY": {"answer": "GREEN"},
                    "SELFIE": {"answer": "GREEN"},
                    "WATCHLIST": {"answer": "GREEN", "hits": []}
                }
            },
            "createdAt": "2025-12-06T12:00:00Z"
        });
        let event = parse_json(Provider::Sumsub, &body).unwrap();
        assert_eq!(event.verdict, Verdict::Approve);
        assert_eq!(
            event.reference,
            Reference::Applicant("applicant_123456".into())
        );
    }

    #[test]
    fn sumsub_non_uuid_external_id_is_used_only_without_applicant_id() {
        let body = json!({"externalUserId": "org_123", "reviewStatus": "init"});
        let event = parse_json(Provider::Sumsub, &body).unwrap();
        assert_eq!(event.reference, Reference::Applicant("org_123".into()));
        assert_eq!(event.applicant_id, None);
    }

    #[test]
    fn sumsub_yellow_asks_for_manual_review() {
        let event = parse_json(
            Provider::Sumsub,
            &sumsub_reviewed(json!({"reviewAnswer": "YELLOW"})),
        )
        .unwrap();
        assert_eq!(event.verdict, Verdict::ManualReview);
    }

    #[test]
    fn sumsub_red_with_retry_rejects_and_allows_resubmission() {
        let event = parse_json(
            Provider::Sumsub,
            &sumsub_reviewed(json!({
                "reviewAnswer": "RED",
                "rejectLabels": ["UNSATISFACTORY_PHOTOS", "SCREENSHOTS"],
                "reviewRejectType": "RETRY",
                "clientComment": "Screenshots are not accepted.",
                "moderationComment": "We do not accept screenshots. Please upload an original photo."
            })),
        )
        .unwrap();
        let (reason, resubmit) = rejection(&event);
        assert_eq!(
            reason,
            "We do not accept screenshots. Please upload an original photo.; \
             UNSATISFACTORY_PHOTOS, SCREENSHOTS"
        );
        assert!(resubmit);
    }

    #[test]
    fn sumsub_red_final_rejects_without_resubmission() {
        let event = parse_json(
            Provider::Sumsub,
            &sumsub_reviewed(json!({
                "reviewAnswer": "RED",
                "rejectLabels": ["EXTERNAL_DECISION_REJECTION"],
                "reviewRejectType": "FINAL"
            })),
        )
        .unwrap();
        assert_eq!(rejection(&event), ("EXTERNAL_DECISION_REJECTION", false));
    }

    #[test]
    fn sumsub_red_without_reject_type_allows_resubmission_and_has_a_reason() {
        let event = parse_json(
            Provider::Sumsub,
            &sumsub_reviewed(json!({"reviewAnswer": "RED", "moderationComment": "   "})),
        )
        .unwrap();
        assert_eq!(rejection(&event), ("Rejected by sumsub", true));
    }

    #[test]
    fn sumsub_long_reasons_are_cut_to_a_thousand_characters() {
        let long = "é".repeat(3000);
        let event = parse_json(
            Provider::Sumsub,
            &sumsub_reviewed(json!({"reviewAnswer": "RED", "moderationComment": long})),
        )
        .unwrap();
        assert_eq!(rejection(&event).0.chars().count(), MAX_REASON_CHARS);
    }

    #[test]
    fn sumsub_pending_has_no_decision_yet() {
        let body = json!({"applicantId": "a1", "externalUserId": APP_ID,
            "type": "applicantPending", "reviewStatus": "pending"});
        let event = parse_json(Provider::Sumsub, &body).unwrap();
        assert_eq!(event.verdict, Verdict::NoDecision);
        assert_eq!(event.provider_status.as_deref(), Some("in_progress"));
    }

    #[test]
    fn sumsub_action_reviews_are_not_the_applicants_verdict() {
        let mut body = sumsub_reviewed(json!({"reviewAnswer": "RED"}));
        body["type"] = json!("applicantActionReviewed");
        let event = parse_json(Provider::Sumsub, &body).unwrap();
        assert_eq!(event.verdict, Verdict::NoDecision);
    }

    #[test]
    fn sumsub_review_statuses_are_normalised() {
        for (raw, want) in [
            ("init", "init"),
            ("pending", "in_progress"),
            ("prechecked", "prechecked"),
            ("queued", "in_progress"),
            ("completed", "complete"),
            ("onHold", "paused"),
            ("awaitingUser", "awaiting_user"),
        ] {
            let body = json!({"applicantId": "a1", "reviewStatus": raw});
            let event = parse_json(Provider::Sumsub, &body).unwrap();
            assert_eq!(event.provider_status.as_deref(), Some(want), "{raw}");
        }
    }

    #[test]
    fn sumsub_on_hold_has_no_decision() {
        let body = json!({"applicantId": "a1", "type": "applicantOnHold",
            "reviewStatus": "onHold", "reviewResult": {"reviewAnswer": "GREEN"}});
        let event = parse_json(Provider::Sumsub, &body).unwrap();
        assert_eq!(event.verdict, Verdict::NoDecision);
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

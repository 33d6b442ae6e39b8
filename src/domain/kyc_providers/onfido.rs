//! Onfido. It sends `{"payload": {"resource_type", "action", "object", "resource"?}}`:
//! a check (`check.completed`, `object.result` = `clear` / `consider` / …) or a
//! workflow run (`workflow_run.completed`, `object.status` = `approved` /
//! `review` / `declined`). Our application id comes back as one of the `tags`
//! when it is a UUID; otherwise the applicant is found by `applicant_id`.
//!
//! Signature: `X-SHA2-Signature` = hex HMAC-SHA256(webhook token, raw body).
//!
//! Verdicts: `clear` or `approved` approves; `consider` or `review` goes to a human;
//! `unidentified`, `rejected`, `suspected`, `caution` or `declined` rejects (the
//! applicant may resubmit), naming the breakdown entries that are not clear. An
//! open object (`in_progress`, `reopened`, …) or the documented result-less
//! `check.completed` envelope carries no decision yet.

use http::HeaderMap;
use serde_json::Value;

use super::{
    check_hmac, parse_uuid, reject, resolve_reference, signature_header, str_at, strings_at,
    Provider, ProviderEvent, Verdict, WebhookError, NULL,
};
use crate::domain::crypto::MacAlg;

const SIGNATURE_HEADER: &str = "x-sha2-signature";

/// Checks `X-SHA2-Signature` over the raw body; see [`super::verify`].
pub(super) fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
    let signature = signature_header(headers, SIGNATURE_HEADER)?;
    check_hmac(MacAlg::Sha256, secret, signature, body)
}

/// Object states in which an Onfido result, if any, is not final.
const OPEN_STATES: &[&str] = &[
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
const REJECTING: &[&str] = &["unidentified", "rejected", "suspected", "caution"];

/// Onfido: `{"payload": {"resource_type", "action", "object": {id, status, href,
/// result?, applicant_id?, tags?, output?}, "resource"?: {applicant_id, tags?, reasons?}}}`.
/// The documented `check.completed` envelope carries no result (the check must be
/// fetched): it yields `NoDecision` with status `complete`.
pub(super) fn parse(json: &Value) -> Result<ProviderEvent, WebhookError> {
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
    let verdict = verdict(object, resource, status.as_deref());
    Ok(ProviderEvent {
        provider: Provider::Onfido,
        reference,
        applicant_id: applicant_id.map(str::to_string),
        provider_status: status,
        verdict,
    })
}

fn verdict(object: &Value, resource: &Value, status: Option<&str>) -> Verdict {
    if status.is_some_and(|s| OPEN_STATES.contains(&s)) {
        return Verdict::NoDecision;
    }
    let field = |name: &str| {
        str_at(object, &[name])
            .or_else(|| str_at(object, &["output", name]))
            .map(str::to_ascii_lowercase)
    };
    let result = field("result");
    let rejecting = |r: &&str| REJECTING.contains(r);
    // The contract maps CONSIDER to manual review whatever its sub-result:
    // a human decides; only a rejecting result rejects outright.
    let refusal = result.as_deref().filter(rejecting);
    match (result.as_deref(), refusal) {
        (Some("clear"), _) => Verdict::Approve,
        (Some(_), Some(why)) => reject(&reasons(object, why), Provider::Onfido, true),
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
fn reasons(object: &Value, result: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::{json, Value};

    use crate::domain::{
        crypto::hmac_sha256_hex,
        kyc_providers::{test_support::*, verify, Provider, Reference, Verdict, WebhookError},
    };

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

    // The next two exercise checks every provider shares (`check_hmac`,
    // `header_value` in mod.rs), through Onfido's header and sample body.

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
}

//! Jumio (KYX platform). It sends a workflow callback: `{"callbackSentAt",
//! "userReference"?, "workflowExecution": {id, href, definitionKey, status,
//! customerInternalReference?}, "account": {id, href}}`, plus, in the seed's shape,
//! `decision` and `capabilities`. Our application id comes back as the
//! `customerInternalReference` or `userReference` when it is a UUID; otherwise the
//! applicant is found by the account id (or the workflow id).
//!
//! Signature: `X-Jumio-Signature` = `sha256=<hex HMAC-SHA256(secret, raw body)>`;
//! the prefix may be absent.
//!
//! Verdicts, once the workflow is `PROCESSED`: `PASSED` approves; `WARNING` (and any
//! decision we do not know) goes to a human; `REJECTED` rejects (the applicant may
//! resubmit), naming the decision label and the failing capabilities;
//! `NOT_EXECUTED`, a callback without a decision, and every other status carry no
//! decision.

use http::HeaderMap;
use serde_json::Value;

use super::{
    check_hmac, reject, resolve_reference, signature_header, str_at, Provider, ProviderEvent,
    Verdict, WebhookError,
};
use crate::domain::crypto::{strip_sha256_prefix, MacAlg};

const SIGNATURE_HEADER: &str = "x-jumio-signature";

/// Checks `X-Jumio-Signature` over the raw body; see [`super::verify`].
pub(super) fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
    let signature = strip_sha256_prefix(signature_header(headers, SIGNATURE_HEADER)?);
    check_hmac(MacAlg::Sha256, secret, signature, body)
}

/// Jumio KYX callback: `{"callbackSentAt", "userReference"?, "workflowExecution":
/// {id, href, definitionKey, status, customerInternalReference?}, "account": {id, href}}`,
/// plus (seed shape) `decision` and `capabilities`. The documented callback carries no
/// decision (it must be retrieved): `PROCESSED` alone yields `NoDecision`.
pub(super) fn parse(json: &Value) -> Result<ProviderEvent, WebhookError> {
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
        None | Some("PROCESSED") => verdict(json),
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

fn verdict(json: &Value) -> Verdict {
    let Some(decision) = str_at(json, &["decision", "type"]).map(str::to_ascii_uppercase) else {
        return Verdict::NoDecision;
    };
    match decision.as_str() {
        "PASSED" => Verdict::Approve,
        "REJECTED" => reject(&reasons(json), Provider::Jumio, true),
        "NOT_EXECUTED" => Verdict::NoDecision,
        // WARNING, and any decision we do not know, goes to a human.
        _ => Verdict::ManualReview,
    }
}

/// `decision.details.label` (when it says more than "REJECTED"), then the labels of
/// capabilities whose own decision is not PASSED. Capabilities are objects in the
/// seed's shape and arrays of objects in Jumio's retrieval shape.
fn reasons(json: &Value) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use serde_json::{json, Value};

    use crate::domain::{
        crypto::hmac_sha256_hex,
        kyc_providers::{test_support::*, verify, Provider, Reference, Verdict, WebhookError},
    };

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
}

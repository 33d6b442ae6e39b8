//! Sumsub (Sum&Substance). It sends `{"applicantId", "inspectionId",
//! "correlationId", "levelName", "externalUserId", "type", "reviewStatus",
//! "reviewResult": {reviewAnswer, moderationComment?, clientComment?, rejectLabels?,
//! reviewRejectType?}, ...}`. Our application id comes back as `externalUserId`
//! when it is a UUID; otherwise the applicant is found by `applicantId`.
//!
//! Signature: `X-Payload-Digest` = hex HMAC(secret, raw body), the algorithm named by
//! `X-Payload-Digest-Alg`: `HMAC_SHA1_HEX`, `HMAC_SHA256_HEX` (the default when the
//! header is absent) or `HMAC_SHA512_HEX`.
//!
//! Verdicts, for a completed `applicantReviewed`: `GREEN` approves; `YELLOW` (and any
//! answer we do not know) goes to a human; `RED` rejects with the moderation comment
//! and reject labels, and lets the applicant resubmit unless `reviewRejectType` is
//! `FINAL`. Other types and statuses carry no decision.

use http::HeaderMap;
use serde_json::Value;

use super::{
    check_hmac, header_value, lower_snake, reject, resolve_reference, signature_header, str_at,
    strings_at, Provider, ProviderEvent, Verdict, WebhookError, NULL,
};
use crate::domain::crypto::MacAlg;

const DIGEST_HEADER: &str = "x-payload-digest";
const DIGEST_ALG_HEADER: &str = "x-payload-digest-alg";

/// Checks `X-Payload-Digest` over the raw body under the algorithm that
/// `X-Payload-Digest-Alg` names; see [`super::verify`].
pub(super) fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
    let digest = signature_header(headers, DIGEST_HEADER)?;
    check_hmac(digest_alg(headers)?, secret, digest, body)
}

/// The algorithm `X-Payload-Digest-Alg` names; SHA-256 when it is absent or blank.
fn digest_alg(headers: &HeaderMap) -> Result<MacAlg, WebhookError> {
    let Some(name) = header_value(headers, DIGEST_ALG_HEADER)? else {
        return Ok(MacAlg::Sha256);
    };
    if name.eq_ignore_ascii_case("HMAC_SHA256_HEX") {
        Ok(MacAlg::Sha256)
    } else if name.eq_ignore_ascii_case("HMAC_SHA1_HEX") {
        Ok(MacAlg::Sha1)
    } else if name.eq_ignore_ascii_case("HMAC_SHA512_HEX") {
        Ok(MacAlg::Sha512)
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

/// Sumsub: `{"applicantId", "inspectionId", "correlationId", "levelName",
/// "externalUserId", "type", "reviewStatus", "reviewResult": {reviewAnswer,
/// moderationComment?, clientComment?, rejectLabels?, reviewRejectType?}, ...}`.
/// Only `applicantReviewed` (or an untyped body) carries the applicant's verdict;
/// `applicantActionReviewed` is about an action, not the applicant.
pub(super) fn parse(json: &Value) -> Result<ProviderEvent, WebhookError> {
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
        verdict(json)
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

fn verdict(json: &Value) -> Verdict {
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
    use hmac::{Hmac, Mac};
    use http::HeaderMap;
    use serde_json::{json, Value};

    use crate::domain::{
        crypto::hmac_sha256_hex,
        kyc_providers::{
            test_support::*, verify, Provider, Reference, Verdict, WebhookError, MAX_REASON_CHARS,
        },
    };

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
}

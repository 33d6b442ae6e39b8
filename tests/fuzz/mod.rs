//! Property-based fuzzing (`proptest`, stable Rust: `cargo fuzz` needs
//! nightly) of every parser that sees untrusted bytes before anything is
//! authenticated: the webhook signature and timestamp headers, the API key,
//! and each identity provider's signature check and payload parser. Bounded:
//! `PROPTEST_CASES` cases per property (default 1000 here), a few seconds
//! in all. The property is always "never panics", plus what must hold of
//! whatever is accepted. The order body is fuzzed beside its parser
//! (`src/controllers/order_webhook_fuzz.rs`), where the private types are.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use order_fellow::domain::{
    api_key::ApiKey,
    kyc_providers::{self, Provider},
    signature::{timestamp_is_fresh, HexSignature},
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Arbitrary JSON up to a few levels deep, with the field names the
/// providers look for among the keys, so the parsers' deeper paths are reached.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("payload".to_string()),
        Just("object".to_string()),
        Just("resource_type".to_string()),
        Just("action".to_string()),
        Just("status".to_string()),
        Just("result".to_string()),
        Just("id".to_string()),
        Just("applicant_id".to_string()),
        Just("tags".to_string()),
        Just("externalUserId".to_string()),
        Just("applicantId".to_string()),
        Just("type".to_string()),
        Just("reviewResult".to_string()),
        Just("reviewAnswer".to_string()),
        Just("reviewRejectType".to_string()),
        Just("rejectLabels".to_string()),
        Just("customerInternalReference".to_string()),
        Just("userReference".to_string()),
        Just("workflowExecution".to_string()),
        Just("decision".to_string()),
        Just("details".to_string()),
        Just("label".to_string()),
        Just("resource".to_string()),
        Just("output".to_string()),
        Just("breakdown".to_string()),
        Just("sub_result".to_string()),
        Just("capabilities".to_string()),
        Just("account".to_string()),
        Just("reviewStatus".to_string()),
        Just("workflow_run".to_string()),
        Just("check".to_string()),
        Just("reasons".to_string()),
        "[a-zA-Z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("clear"),
            Just("consider"),
            Just("unidentified"),
            Just("GREEN"),
            Just("YELLOW"),
            Just("RED"),
            Just("PASSED"),
            Just("WARNING"),
            Just("REJECTED"),
            Just("FINAL"),
            Just("RETRY"),
            Just("applicantReviewed"),
            Just("check.completed"),
            Just("complete"),
            Just("12345"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn provider() -> impl Strategy<Value = Provider> {
    prop_oneof![
        Just(Provider::Onfido),
        Just(Provider::Jumio),
        Just(Provider::Sumsub)
    ]
}

/// Headers with the providers' signature header names and arbitrary values.
fn headers() -> impl Strategy<Value = HeaderMap> {
    let name = prop_oneof![
        Just("x-sha2-signature"),
        Just("x-jumio-signature"),
        Just("x-payload-digest"),
        Just("x-payload-digest-alg"),
        Just("x-webhook-signature"),
    ];
    let value = prop_oneof![
        "[0-9a-fA-F]{0,130}",
        "sha256=[0-9a-f]{0,70}",
        Just("HMAC_SHA1_HEX".to_string()),
        Just("HMAC_SHA512_HEX".to_string()),
        prop::collection::vec(any::<u8>(), 0..80)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    prop::collection::vec((name, value), 0..4).prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
                h.append(HeaderName::from_static(n), v);
            }
        }
        h
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signature_headers_never_panic_and_accept_only_hex(raw in ".{0,300}") {
        if let Ok(sig) = HexSignature::parse(&raw) {
            let key = ApiKey::parse("whsk_fuzz").unwrap();
            // A parsed signature verifies (or not) without panicking.
            let _ = sig.verify(&key, Some(&raw), raw.as_bytes());
            let _ = sig.verify(&key, None, b"");
        }
        let _ = timestamp_is_fresh(&raw, i64::MAX, u64::MAX);
        let _ = timestamp_is_fresh(&raw, i64::MIN, 0);
    }

    #[test]
    fn hex_signatures_round_trip(hex in "(sha256=|SHA256=)?[0-9a-fA-F]{1,256}") {
        prop_assert!(HexSignature::parse(&hex).is_ok());
    }

    #[test]
    fn api_keys_never_panic(raw in ".{0,200}") {
        if let Ok(key) = ApiKey::parse(&raw) {
            prop_assert!(key.expose().starts_with("whsk_"));
            let _ = key.lookup_hash();
            let _ = key.prefix();
        }
    }

    #[test]
    fn provider_signatures_never_panic(
        p in provider(),
        h in headers(),
        secret in ".{0,40}",
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = kyc_providers::verify(p, &secret, &h, &body);
    }

    #[test]
    fn provider_payloads_never_panic(p in provider(), v in json_value()) {
        let _ = kyc_providers::parse(p, v.to_string().as_bytes());
    }

    #[test]
    fn provider_payloads_of_raw_bytes_never_panic(
        p in provider(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = kyc_providers::parse(p, &body);
    }
}

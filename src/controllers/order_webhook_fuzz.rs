//! Property-based fuzzing of the order body: whatever bytes arrive after a
//! valid signature, parsing answers a value or a 400, never a panic, and an
//! accepted order holds only valid parts. Bounded by `PROPTEST_CASES`
//! (default 1000).

use axum::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{parse_json, parse_order, OrderBody};
use crate::errors::ApiError;

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

/// A string field: plausible values, the edges, and anything at all.
fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("John Doe")),
        Just(json!("john@example.com")),
        Just(json!("+2348123456789")),
        Just(json!("PENDING")),
        Just(json!("shipped")),
        Just(json!("")),
        Just(json!(null)),
        Just(json!(42)),
        Just(json!(["a"])),
        "\\PC{0,64}".prop_map(Value::String),
        ".{0,3000}".prop_map(Value::String),
    ]
}

fn order_json() -> impl Strategy<Value = Value> {
    (
        prop::option::of((text(), text(), text())),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(|(customer, items, address, status, external)| {
            let mut o = Map::new();
            if let Some((name, email, phone)) = customer {
                o.insert(
                    "customer_details".into(),
                    json!({"name": name, "email": email, "phone": phone}),
                );
            }
            for (k, v) in [
                ("item_summary", items),
                ("address", address),
                ("tracking_status", status),
                ("external_order_id", external),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), v);
                }
            }
            Value::Object(o)
        })
}

fn parse(body: &[u8], idempotency: Option<&str>) -> Result<(), ApiError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = idempotency.and_then(|k| HeaderValue::from_str(k).ok()) {
        headers.insert("idempotency-key", key);
    }
    let order = parse_json::<OrderBody>(body).and_then(|b| parse_order(1, &headers, b))?;
    assert!(!order.item_summary.trim().is_empty());
    assert!(!order.address.trim().is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn order_bodies_parse_or_answer_400(v in order_json(), key in prop::option::of(".{0,80}")) {
        if let Err(e) = parse(v.to_string().as_bytes(), key.as_deref()) {
            prop_assert_eq!(e.status().as_u16(), 400, "{}", e.describe());
        }
    }

    #[test]
    fn raw_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        if let Err(e) = parse(&body, None) {
            prop_assert_eq!(e.status().as_u16(), 400);
        }
    }
}

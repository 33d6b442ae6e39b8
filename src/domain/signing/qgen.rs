//! Seed 000 (a QGEN-style guide): `SignatureHeaderKey` = hex HMAC-SHA256 of
//! `timestamp + "POST" + endpoint path + body` under the endpoint's secret,
//! beside `SignatureHeaderTimestampKey` and `SignatureHeaderEndpoint`.
//!
//! The seed's receiver parses the body, sorts its top-level keys and calls
//! `JSON.stringify` before checking; so the body goes out exactly as that
//! prints it: top-level keys sorted (by UTF-16 code unit, which for our ASCII
//! keys is byte order), no whitespace, non-ASCII kept, and numbers in
//! JavaScript's notation.
//!
//! The HMAC key is the `whsec_…` text itself, as the seed's Go and
//! JavaScript pass the `secret_key` string straight to HMAC (they never
//! decode it, unlike Standard Webhooks).

use serde::Serialize;
use serde_json::{ser::Formatter, Value};

use super::{
    super::{crypto::hmac_sha256, DomainError},
    float_parts, mantissa,
    standard_webhooks::EndpointSecret,
};

/// `serde_json`'s compact output, with numbers as JavaScript prints them.
/// Strings already match `JSON.stringify`: `"`, `\` and control characters
/// are escaped the same way (`\n`, `\u0001`), everything else kept as is.
struct JsFormatter;

impl Formatter for JsFormatter {
    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        w.write_all(js_number(value).as_bytes())
    }

    fn write_f32<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        value: f32,
    ) -> std::io::Result<()> {
        w.write_all(js_number(f64::from(value)).as_bytes())
    }
}

/// ECMAScript `Number::toString` for a finite value.
fn js_number(x: f64) -> String {
    let (negative, digits, n) = float_parts(x);
    if digits == "0" {
        return "0".into(); // JSON.stringify(-0) is "0" too
    }
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let sign = if e < 0 { '-' } else { '+' };
        let mantissa = mantissa(&digits);
        format!("{mantissa}e{sign}{}", e.abs())
    };
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

/// `value` as `JSON.stringify` prints it after the seed sorts its top-level keys.
///
/// # Errors
/// When `value` cannot be serialised.
pub fn sorted_json<T: Serialize>(value: &T) -> Result<Vec<u8>, DomainError> {
    let bad = |e: serde_json::Error| DomainError::new(e.to_string());
    let mut value = serde_json::to_value(value).map_err(bad)?;
    if let Value::Object(map) = &mut value {
        let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
        entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        // Without serde_json's `preserve_order` a map sorts itself by bytes,
        // which equals the UTF-16 order for the ASCII keys we send.
        *map = entries.into_iter().collect();
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JsFormatter);
    value.serialize(&mut ser).map_err(bad)?;
    Ok(out)
}

/// The body of an event for a qgen endpoint.
///
/// # Errors
/// When the envelope cannot be serialised.
pub fn body(envelope: &super::Envelope<'_>) -> Result<Vec<u8>, DomainError> {
    sorted_json(envelope)
}

/// hex HMAC-SHA256(secret text, timestamp + "POST" + path + body).
#[must_use]
pub fn signature(secret: &EndpointSecret, timestamp: &str, path: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(
        secret.expose().as_bytes(),
        &[timestamp.as_bytes(), b"POST", path.as_bytes(), body],
    ))
}

/// The seed's three headers.
#[must_use]
pub fn headers(
    secret: &EndpointSecret,
    timestamp: i64,
    path: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let ts = timestamp.to_string();
    vec![
        ("SignatureHeaderKey", signature(secret, &ts, path, body)),
        ("SignatureHeaderTimestampKey", ts),
        ("SignatureHeaderEndpoint", path.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Node prints for `JSON.stringify` of this object (keys sorted at
    /// every level, as serde_json holds them), computed with Node 20.
    #[test]
    fn tricky_values_print_as_json_stringify_does() {
        let input = r#"{"z": {"y": null, "x": true, "k": []}, "n": [1, -2, 1.5, 0.1, 1e21, 1e-7, 123.0, 1e16, 0.00001, -0.0, 5e-324, 1.7976931348623157e308], "e": {}, "b": "quote \" backslash \\ slash / nl \n tab \t ctrl \u0001 del \u007f", "a": "h\u00e9llo \u2713 \ud83d\ude00 \u2028"}"#;
        let value: Value = serde_json::from_str(input).unwrap();
        let expected = "{\"a\":\"h\u{e9}llo \u{2713} \u{1F600} \u{2028}\",\"b\":\"quote \\\" backslash \\\\ slash / nl \\n tab \\t ctrl \\u0001 del \u{7f}\",\"e\":{},\"n\":[1,-2,1.5,0.1,1e+21,1e-7,123,10000000000000000,0.00001,0,5e-324,1.7976931348623157e+308],\"z\":{\"k\":[],\"x\":true,\"y\":null}}";
        assert_eq!(
            String::from_utf8(sorted_json(&value).unwrap()).unwrap(),
            expected
        );
    }

    #[test]
    fn javascript_numbers() {
        for (x, js) in [
            (0.0, "0"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (0.000_001, "0.000001"),
            (-2.5, "-2.5"),
            (123_456.789, "123456.789"),
        ] {
            assert_eq!(js_number(x), js, "{x}");
        }
    }

    #[test]
    fn the_envelope_goes_out_with_sorted_top_level_keys() {
        let data = serde_json::json!({"order_id": "o1"});
        let env = super::super::Envelope {
            id: "evt_1",
            event_type: "order.created",
            timestamp: 1_735_420_916_804,
            data: &data,
        };
        assert_eq!(
            String::from_utf8(body(&env).unwrap()).unwrap(),
            r#"{"data":{"order_id":"o1"},"id":"evt_1","timestamp":1735420916804,"type":"order.created"}"#
        );
    }

    /// The seed's Go `sign`: HMAC over timestamp + method + endpoint + body,
    /// keyed with the secret string (here the seed 003 example secret).
    #[test]
    fn signs_timestamp_method_path_and_body_with_the_secret_text() {
        let secret = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"id":"evt_1"}"#;
        let h = headers(&secret, 1_735_421_209, "/hooks/qgen", body);
        assert_eq!(h[1], ("SignatureHeaderTimestampKey", "1735421209".into()));
        assert_eq!(h[2], ("SignatureHeaderEndpoint", "/hooks/qgen".into()));
        let expected = crate::domain::crypto::hmac_sha256_hex(
            b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            br#"1735421209POST/hooks/qgen{"id":"evt_1"}"#,
        );
        assert_eq!(h[0], ("SignatureHeaderKey", expected));
    }
}

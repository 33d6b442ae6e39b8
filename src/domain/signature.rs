//! The order webhook's signature: `X-Webhook-Signature: <hex>` (or
//! `sha256=<hex>`, any case) = HMAC-SHA256(api key, signed bytes), where the
//! signed bytes are the raw body, or `"<timestamp>.<raw body>"` when the
//! sender opts into replay protection with `X-Webhook-Timestamp`.

use super::{
    api_key::ApiKey,
    crypto::{strip_sha256_prefix, verify_hmac_hex, MacAlg},
    DomainError,
};

/// A syntactically valid signature header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexSignature(String);

impl HexSignature {
    /// # Errors
    /// When the value is not (prefixed) hexadecimal.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let hex = strip_sha256_prefix(raw.trim());
        if hex.is_empty() || hex.len() > 256 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DomainError::new("Invalid signature"));
        }
        Ok(Self(hex.to_ascii_lowercase()))
    }

    /// Checks the signature over `body`, or over `"<timestamp>.<body>"`, in
    /// constant time.
    #[must_use]
    pub fn verify(&self, key: &ApiKey, timestamp: Option<&str>, body: &[u8]) -> bool {
        let key = key.expose().as_bytes();
        match timestamp {
            None => verify_hmac_hex(MacAlg::Sha256, key, &[body], &self.0),
            Some(ts) => verify_hmac_hex(MacAlg::Sha256, key, &[ts.as_bytes(), b".", body], &self.0),
        }
    }
}

/// Whether `raw` (unix seconds) lies within `tolerance_secs` of `now`.
#[must_use]
pub fn timestamp_is_fresh(raw: &str, now: i64, tolerance_secs: u64) -> bool {
    raw.trim()
        .parse::<i64>()
        .is_ok_and(|t| now.abs_diff(t) <= tolerance_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::crypto::hmac_sha256_hex;

    #[test]
    fn accepts_bare_prefixed_and_upper_case_hex() {
        let key = ApiKey::generate();
        let sig = hmac_sha256_hex(key.expose().as_bytes(), b"{}");
        for raw in [
            sig.clone(),
            format!("sha256={sig}"),
            sig.to_uppercase(),
            format!("SHA256={sig}"),
        ] {
            assert!(
                HexSignature::parse(&raw).unwrap().verify(&key, None, b"{}"),
                "{raw}"
            );
        }
        assert!(!HexSignature::parse(&sig)
            .unwrap()
            .verify(&key, None, b"{ }"));
        assert!(HexSignature::parse("sha256=").is_err());
        assert!(HexSignature::parse("not hex").is_err());
    }

    #[test]
    fn a_timestamped_signature_covers_the_timestamp() {
        let key = ApiKey::generate();
        let sig = hmac_sha256_hex(key.expose().as_bytes(), b"1700000000.{}");
        let sig = HexSignature::parse(&sig).unwrap();
        assert!(sig.verify(&key, Some("1700000000"), b"{}"));
        assert!(!sig.verify(&key, Some("1700000001"), b"{}"));
        assert!(!sig.verify(&key, None, b"{}"));
    }

    #[test]
    fn freshness_never_overflows() {
        assert!(timestamp_is_fresh("100", 300, 300));
        assert!(!timestamp_is_fresh(
            "-9223372036854775808",
            1_700_000_000,
            300
        ));
        assert!(!timestamp_is_fresh(
            "9223372036854775807",
            1_700_000_000,
            300
        ));
        assert!(!timestamp_is_fresh("soon", 0, 300));
    }
}

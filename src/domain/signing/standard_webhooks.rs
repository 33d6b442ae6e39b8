//! Standard Webhooks v1 (the scheme Svix publishes as a specification):
//! `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature:
//! v1,<base64 HMAC-SHA256(secret bytes, "<id>.<timestamp>.<body>")>`, with
//! several signatures space-separated while a rotated-out secret is still in
//! its grace window.

use base64::{engine::general_purpose::STANDARD, Engine as _};

use super::super::{
    crypto::{hmac_sha256, random_bytes, sha256_hex},
    secret::Secret,
    DomainError,
};

pub const PREFIX: &str = "whsec_";

/// An endpoint's signing secret: `whsec_` + base64 of 24 CSPRNG bytes, the
/// Standard Webhooks format (its reference libraries strip the prefix and
/// decode the rest as the HMAC key). Never printed: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Secret<String>);

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret([REDACTED])")
    }
}

impl EndpointSecret {
    #[must_use]
    pub fn generate() -> Self {
        Self(Secret::new(format!(
            "{PREFIX}{}",
            STANDARD.encode(random_bytes::<24>())
        )))
    }

    /// A stored secret, read back: the prefix and base64 of at least 24 bytes.
    ///
    /// # Errors
    /// When the value is not a secret of this format.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::new("not a whsec_ secret");
        let body = raw.strip_prefix(PREFIX).ok_or_else(bad)?;
        let bytes = STANDARD.decode(body).map_err(|_| bad())?;
        if bytes.len() < 24 {
            return Err(bad());
        }
        Ok(Self(Secret::new(raw.to_string())))
    }

    /// The full `whsec_…` text, shown once to its owner.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The HMAC key: the base64-decoded part after the prefix.
    #[must_use]
    pub fn key_bytes(&self) -> Vec<u8> {
        let body = self.expose().trim_start_matches(PREFIX);
        // `parse` and `generate` only ever hold valid base64.
        STANDARD.decode(body).unwrap_or_default()
    }

    /// SHA-256 hex of the full secret (the lookup column, as seed 003 stores it).
    #[must_use]
    pub fn lookup_hash(&self) -> String {
        sha256_hex(self.expose().as_bytes())
    }
}

/// `v1,<base64 signature>` of one secret.
#[must_use]
pub fn signature(secret: &EndpointSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = hmac_sha256(
        &secret.key_bytes(),
        &[
            msg_id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body,
        ],
    );
    format!("v1,{}", STANDARD.encode(tag))
}

/// The three headers for `body`, signed by every secret in `secrets`
/// (current first), space-separated.
#[must_use]
pub fn headers(
    secrets: &[&EndpointSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let signatures: Vec<String> = secrets
        .iter()
        .map(|s| signature(s, msg_id, timestamp, body))
        .collect();
    vec![
        ("webhook-id", msg_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signatures.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (standard-webhooks, `spec/standard-webhooks.md`,
    /// and every reference library's tests).
    #[test]
    fn signs_the_specifications_example() {
        let secret = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// Seed 003's signed message: the id and timestamp go to headers, the
    /// event to the body. (Its printed `v1,` value is hex under a nanoid
    /// secret that is not base64, so it cannot be reproduced; the layout can.)
    #[test]
    fn the_seed_003_event_is_signed_over_id_timestamp_and_body() {
        let secret = EndpointSecret::generate();
        let body = br#"{"id":"evt_TirU2gmgTkd40HH7zhojY","type":"payment.created","timestamp":1735420916804,"data":{}}"#;
        let h = headers(&[&secret], "evt_TirU2gmgTkd40HH7zhojY", 1_735_421_209, body);
        assert_eq!(h[0], ("webhook-id", "evt_TirU2gmgTkd40HH7zhojY".into()));
        assert_eq!(h[1], ("webhook-timestamp", "1735421209".into()));
        let expected = hmac_sha256(
            &secret.key_bytes(),
            &[b"evt_TirU2gmgTkd40HH7zhojY.1735421209.", body],
        );
        assert_eq!(h[2].1, format!("v1,{}", STANDARD.encode(expected)));
    }

    #[test]
    fn during_rotation_both_secrets_sign_space_separated() {
        let (new, old) = (EndpointSecret::generate(), EndpointSecret::generate());
        let h = headers(&[&new, &old], "evt_1", 1, b"{}");
        let sigs: Vec<&str> = h[2].1.split(' ').collect();
        assert_eq!(sigs.len(), 2);
        assert_eq!(sigs[0], signature(&new, "evt_1", 1, b"{}"));
        assert_eq!(sigs[1], signature(&old, "evt_1", 1, b"{}"));
    }

    #[test]
    fn secrets_are_24_random_bytes_and_never_printed() {
        let s = EndpointSecret::generate();
        assert!(s.expose().starts_with(PREFIX));
        assert_eq!(s.key_bytes().len(), 24);
        assert_eq!(EndpointSecret::parse(s.expose()).unwrap(), s);
        assert!(!format!("{s:?}").contains(s.expose()));
        assert!(EndpointSecret::parse("whsec_short").is_err());
        assert!(EndpointSecret::parse("whsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_err());
    }
}

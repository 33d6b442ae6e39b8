use std::fmt;

use super::{
    crypto::{b64url, random_bytes, sha256_hex},
    DomainError,
};

pub const PREFIX: &str = "whsk_";

/// A webhook secret: `whsk_` + 32 CSPRNG bytes in URL-safe base64 (no
/// padding). `Debug` shows only the prefix; the full value is read with
/// `expose`, on purpose.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    #[must_use]
    pub fn generate() -> Self {
        Self(format!("{PREFIX}{}", b64url(&random_bytes::<32>())))
    }

    /// Accepts what a client sends in `X-API-Key`: the prefix and URL-safe
    /// base64 characters, nothing else.
    ///
    /// # Errors
    /// When the value cannot be one of our keys.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        let body = raw
            .strip_prefix(PREFIX)
            .ok_or_else(|| DomainError::new("Invalid API key"))?;
        if body.is_empty()
            || body.len() > 128
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(DomainError::new("Invalid API key"));
        }
        Ok(Self(raw.to_string()))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 hex of the key: the indexed lookup column.
    #[must_use]
    pub fn lookup_hash(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }

    /// The first characters, safe for logs (`whsk_AbCd…`).
    #[must_use]
    pub fn prefix(&self) -> String {
        self.0.chars().take(PREFIX.len() + 4).collect()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_prefix_and_43_base64url_chars() {
        let k = ApiKey::generate();
        assert!(k.expose().starts_with("whsk_"));
        assert_eq!(k.expose().len(), 5 + 43);
        assert_eq!(ApiKey::parse(k.expose()).unwrap(), k);
        assert_ne!(ApiKey::generate(), k);
    }

    #[test]
    fn parse_refuses_foreign_values() {
        for bad in ["", "whsk_", "sk_live_abc", "whsk_a b", "whsk_ä"] {
            assert!(ApiKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_shows_only_a_prefix() {
        let k = ApiKey::generate();
        assert!(!format!("{k:?}").contains(k.expose()));
    }
}

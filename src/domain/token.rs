//! Access tokens (HS512 JWT). The claims carry the account's token version, so
//! bumping it (password reset, logout) revokes every token issued before, and
//! the issuer and audience, checked on decode.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The account's public id.
    pub sub: Uuid,
    pub role: String,
    /// Token version at issue time.
    pub ver: i32,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// The signing secret, and the `iss` and `aud` every token carries and must
/// carry back.
#[derive(Clone, Copy)]
pub struct TokenKey<'a> {
    pub secret: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// # Errors
/// When the token cannot be encoded (never with a valid secret).
pub fn issue(
    key: &TokenKey<'_>,
    ttl_secs: u64,
    sub: Uuid,
    role: &str,
    ver: i32,
) -> Result<String, DomainError> {
    issue_at(
        key,
        chrono::Utc::now().timestamp(),
        ttl_secs,
        sub,
        role,
        ver,
    )
}

/// [`issue`] as if at `issued_at` (Unix seconds): the clock is an argument, so
/// a test of expiry issues a token in the past instead of waiting.
///
/// # Errors
/// When the token cannot be encoded.
pub fn issue_at(
    key: &TokenKey<'_>,
    issued_at: i64,
    ttl_secs: u64,
    sub: Uuid,
    role: &str,
    ver: i32,
) -> Result<String, DomainError> {
    let claims = Claims {
        sub,
        role: role.to_string(),
        ver,
        iat: issued_at,
        exp: issued_at.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2)),
        iss: key.issuer.to_string(),
        aud: key.audience.to_string(),
    };
    encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(key.secret.as_bytes()),
    )
    .map_err(|_| DomainError::new("could not issue token"))
}

/// Verifies signature, algorithm, expiry, issuer and audience.
///
/// # Errors
/// When the token is malformed, tampered with, expired, or not ours.
pub fn verify(key: &TokenKey<'_>, token: &str) -> Result<Claims, DomainError> {
    let mut validation = Validation::new(Algorithm::HS512);
    validation.leeway = 0;
    validation.set_issuer(&[key.issuer]);
    validation.set_audience(&[key.audience]);
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    decode::<Claims>(
        token,
        &DecodingKey::from_secret(key.secret.as_bytes()),
        &validation,
    )
    .map(|d| d.claims)
    .map_err(|_| DomainError::new("Invalid or expired token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: TokenKey<'static> = TokenKey {
        secret: "s3cret",
        issuer: "my-order-fellow",
        audience: "my-order-fellow-api",
    };

    #[test]
    fn round_trip_and_tamper() {
        let id = Uuid::new_v4();
        let t = issue(&KEY, 60, id, "business", 0).unwrap();
        assert_eq!(verify(&KEY, &t).unwrap().sub, id);
        let other = TokenKey {
            secret: "other",
            ..KEY
        };
        assert!(verify(&other, &t).is_err());
        let mut tampered = t.clone();
        tampered.insert(tampered.len() / 2, 'x');
        assert!(verify(&KEY, &tampered).is_err());
    }

    #[test]
    fn another_issuer_or_audience_is_refused() {
        let t = issue(&KEY, 60, Uuid::new_v4(), "business", 0).unwrap();
        for key in [
            TokenKey {
                issuer: "someone-else",
                ..KEY
            },
            TokenKey {
                audience: "another-api",
                ..KEY
            },
        ] {
            assert!(verify(&key, &t).is_err());
        }
    }

    #[test]
    fn expired_tokens_are_refused() {
        let t = issue(&KEY, 0, Uuid::new_v4(), "business", 0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(verify(&KEY, &t).is_err());
    }
}

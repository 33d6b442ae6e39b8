//! Access tokens (HS512 JWT). The claims carry the account's token version, so
//! bumping it (password reset) revokes every token issued before.

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
}

/// # Errors
/// When the token cannot be encoded (never with a valid secret).
pub fn issue(
    secret: &str,
    ttl_secs: u64,
    sub: Uuid,
    role: &str,
    ver: i32,
) -> Result<String, DomainError> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub,
        role: role.to_string(),
        ver,
        iat: now,
        exp: now + i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
    };
    encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|_| DomainError::new("could not issue token"))
}

/// Verifies signature, algorithm and expiry.
///
/// # Errors
/// When the token is malformed, tampered with or expired.
pub fn verify(secret: &str, token: &str) -> Result<Claims, DomainError> {
    let mut validation = Validation::new(Algorithm::HS512);
    validation.leeway = 0;
    decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|d| d.claims)
    .map_err(|_| DomainError::new("Invalid or expired token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let id = Uuid::new_v4();
        let t = issue("s3cret", 60, id, "business", 0).unwrap();
        assert_eq!(verify("s3cret", &t).unwrap().sub, id);
        assert!(verify("other", &t).is_err());
        let mut tampered = t.clone();
        tampered.insert(tampered.len() / 2, 'x');
        assert!(verify("s3cret", &tampered).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let t = issue("s3cret", 0, Uuid::new_v4(), "business", 0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(verify("s3cret", &t).is_err());
    }
}

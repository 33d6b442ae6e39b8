//! Passwords: a length-checked plaintext that is never printed, and its
//! argon2id hash (the crate's default parameters). Hashing is slow and
//! memory-hard on purpose: request paths run it through `Limiters::hash`.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use super::{crypto::random_bytes, secret::Secret, DomainError};

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

/// A candidate password of 10 to 128 characters.
#[derive(Debug)]
pub struct Password(Secret<String>);

impl Password {
    /// # Errors
    /// When shorter than 10 or longer than 128 characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let n = raw.chars().count();
        if n < MIN_LEN {
            return Err(DomainError::new(format!(
                "Password must be at least {MIN_LEN} characters long."
            )));
        }
        if n > MAX_LEN {
            return Err(DomainError::new(format!(
                "Password must be at most {MAX_LEN} characters long."
            )));
        }
        Ok(Self(Secret::new(raw.to_string())))
    }

    /// The argon2id PHC string for storage.
    ///
    /// # Panics
    /// Never with the default parameters and a 16-byte salt.
    #[must_use]
    pub fn hash(&self) -> String {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16-byte salt");
        Argon2::default()
            .hash_password(self.0.expose().as_bytes(), &salt)
            .expect("argon2 hash")
            .to_string()
    }

    /// Whether this is the password `phc` was hashed from.
    #[must_use]
    pub fn matches(&self, phc: &str) -> bool {
        verify(self.0.expose(), phc)
    }
}

/// Checks `candidate` against a stored PHC string. A malformed hash never matches.
#[must_use]
pub fn verify(candidate: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A valid hash of a random password, verified against when the account does
/// not exist so that both answers take about the same time.
#[must_use]
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        Password::parse(&hex::encode(random_bytes::<16>()))
            .expect("32 hex chars")
            .hash()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_are_enforced() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("long enough!").is_ok());
    }

    #[test]
    fn hash_verifies_only_the_same_password() {
        let phc = Password::parse("correct horse battery").unwrap().hash();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("wrong horse battery", &phc));
        assert!(!verify("anything", "not-a-hash"));
    }

    #[test]
    fn debug_does_not_leak() {
        let p = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}

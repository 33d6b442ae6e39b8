use std::fmt;

use super::{crypto::random_below, DomainError};

/// Exactly six ASCII digits. `Debug` hides the value; read it with `expose`.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    /// # Errors
    /// When the value is not exactly six digits.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let v = raw.trim();
        if v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(v.to_string()))
        } else {
            Err(DomainError::new("Invalid or expired code"))
        }
    }

    /// A fresh code from the CSPRNG, uniformly over 000000..=999999.
    #[must_use]
    pub fn generate() -> Self {
        Self(format!("{:06}", random_below(1_000_000)))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_six_digits() {
        for _ in 0..100 {
            let c = OtpCode::generate();
            assert!(OtpCode::parse(c.expose()).is_ok());
        }
    }

    #[test]
    fn parse_refuses_anything_else() {
        for bad in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦"] {
            assert!(OtpCode::parse(bad).is_err(), "{bad}");
        }
        assert!(!format!("{:?}", OtpCode::parse("123456").unwrap()).contains("123456"));
    }
}

//! What a business declares in its KYC application, parsed once.

use super::{text, DomainError};

/// A company registration number: 2 to 64 characters of letters, digits,
/// spaces, `-`, `/` and `.` (every registry's format fits; nothing else does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationNumber(String);

impl RegistrationNumber {
    /// # Errors
    /// When blank, out of bounds, or holding other characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let v = text::parse(raw, 2, 64, false)?;
        if v.chars()
            .all(|c| c.is_ascii_alphanumeric() || " -/.".contains(c))
        {
            Ok(Self(v))
        } else {
            Err(DomainError::new(
                "Use letters, digits, spaces, '-', '/' or '.' only.",
            ))
        }
    }

    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A company website: an absolute http(s) URL of at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Website(String);

impl Website {
    /// # Errors
    /// When not an http(s) URL, or too long.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let v = raw.trim();
        let ok = v.len() <= 200
            && (v.starts_with("https://") || v.starts_with("http://"))
            && validator::ValidateUrl::validate_url(&v);
        if ok {
            Ok(Self(v.to_string()))
        } else {
            Err(DomainError::new("Enter a valid http(s) URL."))
        }
    }

    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_numbers_keep_to_their_alphabet() {
        assert!(RegistrationNumber::parse("RC-123456").is_ok());
        assert!(RegistrationNumber::parse("12/345.6 A").is_ok());
        assert!(RegistrationNumber::parse("R").is_err());
        assert!(RegistrationNumber::parse("RC#1").is_err());
        assert!(RegistrationNumber::parse(&"9".repeat(65)).is_err());
    }

    #[test]
    fn websites_are_http_urls() {
        assert!(Website::parse(" https://engines.example.com ").is_ok());
        assert!(Website::parse("http://a.example").is_ok());
        assert!(Website::parse("ftp://a.example").is_err());
        assert!(Website::parse("javascript:alert(1)").is_err());
        assert!(Website::parse(&format!("https://{}.com", "a".repeat(200))).is_err());
    }
}

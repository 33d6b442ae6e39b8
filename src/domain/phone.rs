use super::DomainError;

/// An E.164-like phone number: an optional `+` and 7 to 15 digits; spaces,
/// dashes, dots and parentheses are accepted on input and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// # Errors
    /// When the digits are too few, too many, or mixed with other characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        let (plus, rest) = raw.strip_prefix('+').map_or((false, raw), |r| (true, r));
        let mut digits = String::with_capacity(rest.len() + 1);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(Self::invalid()),
            }
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(Self::invalid());
        }
        if plus {
            digits.insert(0, '+');
        }
        Ok(Self(digits))
    }

    fn invalid() -> DomainError {
        DomainError::new("Enter a valid phone number (E.164, e.g. +2348123456789).")
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
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
    fn accepts_e164_and_common_punctuation() {
        assert_eq!(
            Phone::parse("+234 812-345-6789").unwrap().as_str(),
            "+2348123456789"
        );
        assert_eq!(
            Phone::parse("(020) 7946 0958").unwrap().as_str(),
            "02079460958"
        );
    }

    #[test]
    fn rejects_letters_and_bad_lengths() {
        for bad in ["", "+12", "call me", "+1234567890123456", "++2348123456789"] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }
}

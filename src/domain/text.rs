use super::DomainError;

/// Free text from a client: trimmed, `min..=max` characters, and no control
/// characters (PostgreSQL refuses NUL; the rest has no business in a name or
/// an address). Line breaks and tabs are kept only where `multiline` says so.
///
/// # Errors
/// When blank, too short, too long, or holding control characters.
pub fn parse(raw: &str, min: usize, max: usize, multiline: bool) -> Result<String, DomainError> {
    let v = raw.trim();
    let n = v.chars().count();
    if n == 0 {
        return Err(DomainError::new("This field may not be blank."));
    }
    if n < min {
        return Err(DomainError::new(format!(
            "Ensure this field has at least {min} characters."
        )));
    }
    if n > max {
        return Err(DomainError::new(format!(
            "Ensure this field has no more than {max} characters."
        )));
    }
    if v.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(DomainError::new("Control characters are not allowed."));
    }
    Ok(v.to_string())
}

/// A single-line text of 1 to `max` characters.
///
/// # Errors
/// As [`parse`].
pub fn line(raw: &str, max: usize) -> Result<String, DomainError> {
    parse(raw, 1, max, false)
}

/// An optional note: `None` when absent or blank.
///
/// # Errors
/// As [`parse`], for a non-blank value.
pub fn optional(raw: Option<&str>, max: usize) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse(v, 1, max, true).map(Some),
    }
}

/// A note on a status change: optional, at most 500 characters, line
/// breaks allowed.
///
/// # Errors
/// As [`parse`], for a non-blank value.
pub fn note(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    optional(raw, 500)
}

/// An opaque client key (external order id, idempotency key): 1 to 128
/// visible ASCII characters.
///
/// # Errors
/// For anything else.
pub fn client_key(raw: &str) -> Result<String, DomainError> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DomainError::new("Use 1 to 128 visible ASCII characters."));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(line("  Ada  ", 10).unwrap(), "Ada");
        assert!(line("   ", 10).is_err());
        assert!(line("abcdef", 5).is_err());
        assert!(parse("ab", 3, 10, false).is_err());
    }

    #[test]
    fn refuses_control_characters() {
        assert!(line("Ada\u{0}", 10).is_err());
        assert!(line("Ada\nLovelace", 20).is_err());
        assert!(parse("12 Marina\nLagos", 1, 50, true).is_ok());
        assert!(parse("bell\u{7}", 1, 50, true).is_err());
    }

    #[test]
    fn optional_notes_and_client_keys() {
        assert_eq!(optional(Some("  "), 5).unwrap(), None);
        assert_eq!(optional(None, 5).unwrap(), None);
        assert!(optional(Some("toolong"), 5).is_err());
        assert!(client_key("ORD-1").is_ok());
        assert!(client_key("ORD 1").is_err());
        assert!(client_key(&"x".repeat(129)).is_err());
    }
}

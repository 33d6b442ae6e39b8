use serde::Deserialize;

use crate::errors::ApiError;

/// `?page=&page_size=`: page from 1, size 1..=100 (default 20). Kept as text
/// so that a malformed value answers a field error, not a parser message.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub page: Option<String>,
    pub page_size: Option<String>,
}

impl PageParams {
    /// # Errors
    /// 400 when not a number or out of range.
    pub fn resolve(&self) -> Result<(u64, u64), ApiError> {
        let parse = |raw: &Option<String>, default: u64, max: u64, field: &str, msg: &str| match raw
            .as_deref()
            .map(str::trim)
        {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| ApiError::field(field, msg)),
        };
        let page = parse(
            &self.page,
            1,
            1_000_000,
            "page",
            "Must be a positive page number.",
        )?;
        let size = parse(
            &self.page_size,
            20,
            100,
            "page_size",
            "Must be between 1 and 100.",
        )?;
        Ok((page, size))
    }
}

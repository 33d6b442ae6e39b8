//! Response shapes, one module per resource.
pub mod auth;
pub mod kyc;
pub mod orders;
pub mod pages;
pub mod webhook_endpoints;
pub mod webhook_secret;

use serde::Serialize;
use utoipa::ToSchema;

use crate::models::orders::Counted;

/// `{"message": "..."}`
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub message: &'static str,
}

/// A page of results: `count` in all, `next` page number if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: Serialize> {
    /// How many results in all; when `count_exact` is false, more than
    /// this (order lists count up to 1 000, or to the end of the page asked
    /// for if that is further).
    pub count: u64,
    pub count_exact: bool,
    pub page: u64,
    pub page_size: u64,
    pub next: Option<u64>,
    pub results: Vec<T>,
}

impl<T: Serialize> Page<T> {
    /// A page of `count` results in all.
    #[must_use]
    pub fn new(count: u64, page: u64, page_size: u64, results: Vec<T>) -> Self {
        Self::counted(Counted::exactly(count), page, page_size, results)
    }

    /// A page of a list counted up to a limit: past it there are more
    /// results than counted, and so a next page.
    #[must_use]
    pub fn counted(count: Counted, page: u64, page_size: u64, results: Vec<T>) -> Self {
        let next = (page * page_size < count.n || !count.exact).then_some(page + 1);
        Self {
            count: count.n,
            count_exact: count.exact,
            page,
            page_size,
            next,
            results,
        }
    }
}

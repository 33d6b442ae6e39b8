//! Response shapes, one module per resource.
pub mod auth;
pub mod kyc;
pub mod orders;
pub mod pages;
pub mod webhook_endpoints;
pub mod webhook_secret;

use serde::Serialize;
use utoipa::ToSchema;

/// `{"message": "..."}`
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub message: &'static str,
}

/// A page of results: `count` in all, `next` page number if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: Serialize> {
    pub count: u64,
    pub page: u64,
    pub page_size: u64,
    pub next: Option<u64>,
    pub results: Vec<T>,
}

impl<T: Serialize> Page<T> {
    #[must_use]
    pub fn new(count: u64, page: u64, page_size: u64, results: Vec<T>) -> Self {
        let next = (page * page_size < count).then_some(page + 1);
        Self {
            count,
            page,
            page_size,
            next,
            results,
        }
    }
}

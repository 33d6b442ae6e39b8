//! Response shapes, one module per resource.
pub mod auth;

use serde::Serialize;

/// `{"message": "..."}`
#[derive(Debug, Serialize)]
pub struct MessageView {
    pub message: &'static str,
}

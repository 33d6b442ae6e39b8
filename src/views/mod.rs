//! Response shapes, one module per resource.
pub mod auth;
pub mod kyc;
pub mod webhook_secret;

use serde::Serialize;

/// `{"message": "..."}`
#[derive(Debug, Serialize)]
pub struct MessageView {
    pub message: &'static str,
}

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use utoipa::ToSchema;

/// The one view that shows a plaintext secret, to its owner.
#[derive(Serialize, ToSchema)]
pub struct SecretView {
    pub secret_key: String,
    pub is_active: bool,
    pub expires_at: DateTime<FixedOffset>,
}

#[derive(Serialize, ToSchema)]
pub struct IssuedSecretView {
    pub secret_key: String,
    pub message: &'static str,
    pub status: &'static str,
    pub expires_at: DateTime<FixedOffset>,
}

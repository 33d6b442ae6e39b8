use sea_orm::entity::prelude::*;

/// A company's `whsk_` key: AES-256-GCM encrypted (`<iv hex>.<ct+tag hex>`),
/// found by the SHA-256 hex of the plaintext. `Debug` hides the ciphertext.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_secrets")]
pub struct Model {
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub secret_encrypted: String,
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// The first 12 hex digits of `secret_hash`: names a key in logs and support.
    pub fingerprint: String,
    pub is_active: bool,
    pub expires_at: DateTimeWithTimeZone,
    pub grace_until: Option<DateTimeWithTimeZone>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecret")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("fingerprint", &self.fingerprint)
            .field("is_active", &self.is_active)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

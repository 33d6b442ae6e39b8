use sea_orm::entity::prelude::*;

/// A business's event endpoint. Its secrets are stored sealed (AES-256-GCM,
/// `<iv hex>.<ciphertext+tag hex>`) beside the SHA-256 hex of the current one.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_endpoints")]
pub struct Model {
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub pid: Uuid,
    pub user_id: i64,
    pub url: String,
    pub description: Option<String>,
    pub event_types: String,
    pub scheme: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret_encrypted: Option<String>,
    pub secret_hash: Option<String>,
    pub previous_secret_encrypted: Option<String>,
    pub previous_secret_until: Option<DateTimeWithTimeZone>,
    pub client_key: Uuid,
    pub last_success_at: Option<DateTimeWithTimeZone>,
    pub failing_since: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

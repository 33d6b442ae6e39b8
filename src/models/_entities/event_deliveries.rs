use sea_orm::entity::prelude::*;

/// One event owed to one endpoint: the delivery worker's queue row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_deliveries")]
pub struct Model {
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_row_id: i64,
    pub endpoint_id: i64,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeWithTimeZone,
    pub locked_until: Option<DateTimeWithTimeZone>,
    pub last_error: Option<String>,
    pub succeeded_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

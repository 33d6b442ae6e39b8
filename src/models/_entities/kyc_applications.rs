use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kyc_applications")]
pub struct Model {
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub pid: Uuid,
    pub user_id: i64,
    pub business_name: String,
    pub registration_number: String,
    pub country: String,
    pub business_address: String,
    pub website: Option<String>,
    pub contact_phone: Option<String>,
    pub status: String,
    pub rejection_reason: Option<String>,
    pub resubmit_allowed: bool,
    pub needs_manual_review: bool,
    pub reviewed_at: Option<DateTimeWithTimeZone>,
    pub provider: Option<String>,
    pub provider_status: Option<String>,
    pub provider_applicant_id: Option<String>,
    pub submitted_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Users,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

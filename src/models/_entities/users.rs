use sea_orm::entity::prelude::*;

/// A business account (or an admin). `password` holds the argon2id PHC string;
/// `Debug` is implemented by hand so the hash never reaches a log line.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub pid: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    pub password: String,
    pub full_name: String,
    pub company_name: String,
    pub role: String,
    pub email_verified_at: Option<DateTimeWithTimeZone>,
    pub token_version: i32,
    /// Unused since the login throttles moved to `limits` (kept: no destructive migration).
    pub failed_logins: i32,
    pub failed_login_window_start: Option<DateTimeWithTimeZone>,
    /// The password-reset caps' current window and what it has seen.
    pub reset_window_started_at: Option<DateTimeWithTimeZone>,
    pub reset_codes_sent: i32,
    pub reset_codes_wrong: i32,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("pid", &self.pid)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("password", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::models::users;

/// What `/auth/me/` and login show of an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub company_name: String,
    pub email_verified: bool,
    pub role: String,
    pub created_at: DateTime<FixedOffset>,
}

impl From<&users::Model> for UserView {
    fn from(u: &users::Model) -> Self {
        Self {
            id: u.pid,
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            company_name: u.company_name.clone(),
            email_verified: u.is_verified(),
            role: u.role.clone(),
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginView {
    pub token: String,
    pub user: UserView,
}

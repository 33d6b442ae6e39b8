//! Business rules on the sea-orm entities (fat models). Controllers call these.
pub mod _entities;
pub mod kyc;
pub mod otp;
pub mod outbox;
pub mod users;
pub mod webhook_secrets;

use sea_orm::ActiveModelBehavior;

use self::_entities::{kyc_audit_logs, kyc_provider_events, order_status_changes, orders};

impl ActiveModelBehavior for kyc_audit_logs::ActiveModel {}
impl ActiveModelBehavior for kyc_provider_events::ActiveModel {}
impl ActiveModelBehavior for orders::ActiveModel {}
impl ActiveModelBehavior for order_status_changes::ActiveModel {}

//! Business rules on the sea-orm entities (fat models). Controllers call these.
pub mod _entities;
pub mod otp;
pub mod outbox;
pub mod users;

use sea_orm::ActiveModelBehavior;

use self::_entities::{
    kyc_applications, kyc_audit_logs, kyc_provider_events, order_status_changes, orders,
    webhook_secrets,
};

impl ActiveModelBehavior for kyc_applications::ActiveModel {}
impl ActiveModelBehavior for webhook_secrets::ActiveModel {}
impl ActiveModelBehavior for kyc_audit_logs::ActiveModel {}
impl ActiveModelBehavior for kyc_provider_events::ActiveModel {}
impl ActiveModelBehavior for orders::ActiveModel {}
impl ActiveModelBehavior for order_status_changes::ActiveModel {}

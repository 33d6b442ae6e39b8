//! `SeaORM` entities: one per table, mirroring `migration/`.
pub mod prelude;

pub mod event_deliveries;
pub mod event_delivery_attempts;
pub mod event_endpoints;
pub mod events;
pub mod kyc_applications;
pub mod kyc_audit_logs;
pub mod kyc_provider_events;
pub mod one_time_codes;
pub mod order_status_changes;
pub mod orders;
pub mod outbox_messages;
pub mod users;
pub mod webhook_secrets;

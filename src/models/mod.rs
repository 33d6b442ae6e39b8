//! Business rules on the sea-orm entities (fat models). Controllers call these.
//!
//! Dependencies between models run one way: `companies` → `kyc` →
//! `webhook_secrets`, and everything that writes → `outbox`, `tx`; those
//! that cause events → `events` → `endpoints` (leaves: they call none of
//! the others).
pub mod _entities;
pub mod companies;
pub mod endpoints;
pub mod event_outbox;
pub mod events;
pub mod known_keys;
pub mod kyc;
pub mod lease;
pub mod orders;
pub mod otp;
pub mod outbox;
pub mod sealed;
pub mod search;
pub mod seed;
pub mod tx;
pub mod users;
pub mod webhook_secrets;

use sea_orm::ActiveModelBehavior;

use self::_entities::{kyc_audit_logs, kyc_provider_events};

impl ActiveModelBehavior for kyc_audit_logs::ActiveModel {}
impl ActiveModelBehavior for kyc_provider_events::ActiveModel {}

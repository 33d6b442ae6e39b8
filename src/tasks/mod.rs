//! Operator commands: `cargo loco task <name> key:value ...`.
pub mod create_admin;
pub mod kyc_approve;
pub mod rotate_secrets_key;
pub mod seed_orders;

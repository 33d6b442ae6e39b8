pub use super::{
    kyc_applications::Entity as KycApplications, kyc_audit_logs::Entity as KycAuditLogs,
    kyc_provider_events::Entity as KycProviderEvents, one_time_codes::Entity as OneTimeCodes,
    order_status_changes::Entity as OrderStatusChanges, orders::Entity as Orders,
    outbox_messages::Entity as OutboxMessages, users::Entity as Users,
    webhook_secrets::Entity as WebhookSecrets,
};

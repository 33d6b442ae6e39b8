mod auth;
mod errors;
mod kyc;
mod kyc_webhooks;
mod order_webhook;
mod orders;
mod webhook_endpoints;
mod webhook_secret;

mod auth;
mod errors;
mod kyc;
mod kyc_webhooks;
mod webhook_secret;

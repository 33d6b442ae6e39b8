mod auth;
mod kyc;
mod webhook_secret;
mod errors;

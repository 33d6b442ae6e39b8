mod auth;
mod errors;

mod e2e;
mod models;
mod requests;
mod support;

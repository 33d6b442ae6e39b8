mod e2e;
mod models;
mod receivers;
mod requests;
mod support;

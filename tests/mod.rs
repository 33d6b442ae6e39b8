mod models;
mod requests;
mod support;

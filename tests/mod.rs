mod e2e;
mod fuzz;
mod models;
mod receivers;
mod requests;
mod support;

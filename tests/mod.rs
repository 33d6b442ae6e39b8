mod e2e;
mod requests;
mod support;

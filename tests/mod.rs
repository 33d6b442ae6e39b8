mod requests;
mod support;

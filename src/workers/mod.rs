//! Background work that runs beside the server.
pub mod outbox;

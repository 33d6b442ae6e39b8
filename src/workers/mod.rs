//! Background work that runs beside the server.
pub mod order_writer;
pub mod outbox;

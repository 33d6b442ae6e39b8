//! Background work that runs beside the server.
pub mod deliveries;
pub mod order_writer;
pub mod outbox;

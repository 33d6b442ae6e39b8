mod outbox;
mod settings;

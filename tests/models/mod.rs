mod event_settings;
mod outbox;
mod settings;

mod event_settings;
mod landed_migrations;
mod outbox;
mod seed;
mod settings;

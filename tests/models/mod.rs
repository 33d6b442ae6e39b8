mod event_settings;
mod events;
mod landed_migrations;
mod outbox;
mod seed;
mod settings;

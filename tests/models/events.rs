//! Events recorded in the caller's transaction: an event that must happen
//! once (its dedupe key) is recorded once, however often it is raised;
//! events without a key are all recorded.
use order_fellow::{
    domain::event_type::EventType,
    models::{
        events::{self, events as rows, NewEvent},
        tx::Tx,
        users,
    },
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::support::*;

async fn record(ctx: &loco_rs::app::AppContext, batch: Vec<NewEvent>) -> usize {
    let tx = Tx::begin(&ctx.db).await.unwrap();
    let recorded = events::record_many(&tx, batch).await.unwrap();
    tx.commit().await.unwrap();
    recorded
}

#[tokio::test]
async fn an_event_with_a_once_key_is_recorded_once_and_events_without_a_key_every_time() {
    with_app(|server, ctx| async move {
        given_a_verified_business(&server, &ctx, "once@example.com").await;
        let user = users::Entity::find().one(&ctx.db).await.unwrap().unwrap();
        let expiring =
            || NewEvent::new(user.id, EventType::WebhookSecretExpiring, json!({})).once("key-1:7d");
        let ping = || NewEvent::new(user.id, EventType::Ping, json!({}));

        assert_eq!(record(&ctx, vec![expiring()]).await, 1);
        assert_eq!(record(&ctx, vec![expiring(), ping()]).await, 1);
        assert_eq!(record(&ctx, vec![ping(), ping()]).await, 2);

        assert_eq!(rows::Entity::find().count(&ctx.db).await.unwrap(), 4);
    })
    .await;
}

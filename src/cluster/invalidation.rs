//! Key-cache invalidation between instances: after a transaction that
//! changed a webhook key commits, its instance publishes on one Redis
//! channel, and every instance's subscriber drops its cached keys
//! (`webhook_secrets::changed_elsewhere`). A publish reaches the other
//! instances in about a millisecond; the key cache's 5 s lifetime remains
//! the backstop for a message lost while Redis was away, and a subscriber
//! that reconnects drops its cache too, since it may have missed some.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;

use super::{Cluster, PREFIX};
use crate::models::webhook_secrets;

fn channel() -> String {
    format!("{PREFIX}webhook_keys")
}

impl Cluster {
    /// Tells every instance that a key changed (in the background: this runs
    /// after a commit, outside any request's time).
    pub fn announce_key_change(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let cluster = self.clone();
        runtime.spawn(async move {
            let published = cluster
                .call(|mut conn| async move {
                    redis::cmd("PUBLISH")
                        .arg(channel())
                        .arg("changed")
                        .query_async::<i64>(&mut conn)
                        .await
                })
                .await;
            if published.is_none() {
                metrics::counter!("key_invalidations_unpublished_total").increment(1);
            }
        });
    }

    /// Subscribes to key changes until the process ends, reconnecting
    /// every [`super::RETRY_AFTER`] while Redis is away.
    pub fn spawn_invalidation_listener(self: &Arc<Self>) {
        let cluster = self.clone();
        tokio::spawn(async move {
            loop {
                cluster.listen().await;
                cluster.health.subscription(false);
                tokio::time::sleep(super::RETRY_AFTER).await;
            }
        });
    }

    /// One subscription, until its connection breaks.
    async fn listen(&self) {
        let subscribed = tokio::time::timeout(Duration::from_secs(2), async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(channel()).await?;
            redis::RedisResult::Ok(pubsub)
        })
        .await;
        let Ok(Ok(mut pubsub)) = subscribed else {
            return;
        };
        self.health.subscription(true);
        // Changes published while we were away are lost: start afresh.
        webhook_secrets::changed_elsewhere();
        let mut messages = pubsub.on_message();
        while messages.next().await.is_some() {
            metrics::counter!("key_invalidations_received_total").increment(1);
            webhook_secrets::changed_elsewhere();
        }
    }
}

//! The outbox: queued in the caller's transaction, delivered by the worker,
//! retried with backoff, given up on after the bounded number of tries.
use chrono::Duration;
use order_fellow::{
    domain::now,
    mailers::Mail,
    models::{
        lease,
        outbox::{self, NewMail, FAILED, PENDING, SENT},
        tx::{Script, Tx},
    },
    settings::AppSettings,
    workers::outbox::deliver_due,
};
use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::support::*;

fn confirmation(to: &str) -> NewMail {
    NewMail::new(
        Mail::OrderConfirmation,
        to,
        json!({"customer_name": "Ada", "company_name": "Shop", "order_id": "o-1", "item_summary": "Tea", "address": "Lagos", "status": "Pending"}),
    )
}

/// Queues `mail` in a transaction of its own.
async fn queue(ctx: &loco_rs::app::AppContext, mail: NewMail) {
    let app = AppSettings::get(ctx);
    let tx = Tx::begin(&ctx.db).await.unwrap();
    outbox::enqueue(&tx, &app.keys.mail, mail).await.unwrap();
    tx.commit().await.unwrap();
}

async fn only_row(ctx: &loco_rs::app::AppContext) -> outbox::Model {
    let rows = outbox::Entity::find().all(&ctx.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    rows.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_queued_mail_is_delivered_once_and_its_payload_blanked() {
    with_app(|_server, ctx| async move {
        queue(&ctx, confirmation("ada@example.com")).await;
        let row = only_row(&ctx).await;
        assert_eq!(row.status, PENDING);
        assert!(!row.payload.contains("Ada"), "payload is encrypted at rest");

        assert_eq!(deliver_due(&ctx).await.unwrap(), 1);
        assert_eq!(deliver_due(&ctx).await.unwrap(), 0, "never twice");
        let row = only_row(&ctx).await;
        assert_eq!(row.status, SENT);
        assert!(row.payload.is_empty());
        assert!(row.sent_at.is_some());
        assert_eq!(mails_to(&ctx, "ada@example.com").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_mail_queued_in_a_rolled_back_transaction_never_exists() {
    with_app(|_server, ctx| async move {
        let app = AppSettings::get(&ctx);
        let tx = Tx::begin(&ctx.db).await.unwrap();
        outbox::enqueue(&tx, &app.keys.mail, confirmation("ada@example.com"))
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert!(outbox::Entity::find()
            .all(&ctx.db)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_same_dedupe_key_is_queued_once() {
    with_app(|_server, ctx| async move {
        for _ in 0..3 {
            queue(
                &ctx,
                confirmation("ada@example.com").dedupe("order:1:confirmation"),
            )
            .await;
        }
        only_row(&ctx).await;
    })
    .await;
}

#[tokio::test]
async fn a_failed_send_is_retried_later_with_backoff_then_given_up() {
    with_app(|_server, ctx| async move {
        let app = AppSettings::get(&ctx);
        // An address the transport refuses: every attempt fails.
        queue(&ctx, confirmation("not an address")).await;
        let before = now();
        assert_eq!(deliver_due(&ctx).await.unwrap(), 0);
        let row = only_row(&ctx).await;
        assert_eq!((row.status.as_str(), row.attempts), (PENDING, 1));
        assert!(
            row.next_attempt_at >= before + Duration::seconds(2),
            "backoff"
        );
        assert!(row.last_error.is_some());
        assert!(row.locked_until.is_none());

        // Not due yet: nothing happens.
        deliver_due(&ctx).await.unwrap();
        assert_eq!(only_row(&ctx).await.attempts, 1);

        let max = app.settings.outbox_max_attempts;
        for _ in 1..max {
            outbox::Entity::update_many()
                .col_expr(
                    outbox::Column::NextAttemptAt,
                    Expr::value(now() - Duration::seconds(1)),
                )
                .exec(&ctx.db)
                .await
                .unwrap();
            deliver_due(&ctx).await.unwrap();
        }
        let row = only_row(&ctx).await;
        assert_eq!((row.status.as_str(), row.attempts), (FAILED, max));
        let (pending, failed) = outbox::counts(&ctx.db).await.unwrap();
        assert_eq!((pending, failed), (0, 1));
    })
    .await;
}

#[tokio::test]
async fn a_message_leased_by_another_worker_is_left_alone_until_the_lease_ends() {
    with_app(|_server, ctx| async move {
        queue(&ctx, confirmation("ada@example.com")).await;
        let id = only_row(&ctx).await.id;
        // A worker that crashed mid-send left its lease behind.
        let claimed = outbox::claim_batch(&ctx.db, &[id], Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(outbox::claim_batch(&ctx.db, &[id], Duration::seconds(60))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(deliver_due(&ctx).await.unwrap(), 0);
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::LockedUntil,
                Expr::value(now() - Duration::seconds(1)),
            )
            .exec(&ctx.db)
            .await
            .unwrap();
        assert_eq!(
            deliver_due(&ctx).await.unwrap(),
            1,
            "picked up after the lease"
        );
    })
    .await;
}

#[tokio::test]
async fn mail_handed_to_the_worker_is_marked_under_its_lease_or_sent_by_the_scan_once_it_ends() {
    with_app(|_server, ctx| async move {
        let app = AppSettings::get(&ctx);
        let token = lease::token(Duration::seconds(60));
        let tx = Tx::begin(&ctx.db).await.unwrap();
        let mut script = Script::new();
        let handed = outbox::enqueue_handed_over(
            &tx,
            &mut script,
            &app.keys.mail,
            vec![
                confirmation("ada@example.com").dedupe("order:a:confirmation"),
                confirmation("bob@example.com").dedupe("order:b:confirmation"),
                confirmation("cy@example.com"),
            ],
            token,
        );
        script.run(&tx).await.unwrap();
        tx.commit().await.unwrap();
        let handed: Vec<&str> = handed.mails.iter().map(|m| m.to.as_str()).collect();
        assert_eq!(handed, ["ada@example.com", "bob@example.com"]);

        // Cy's mail has no key to be marked by: the scan sends it. The scan
        // leaves the two handed over alone while their lease lasts.
        assert_eq!(deliver_due(&ctx).await.unwrap(), 1);
        assert_eq!(mails_to(&ctx, "cy@example.com").await.len(), 1);
        assert!(mails_to(&ctx, "ada@example.com").await.is_empty());

        // The worker sent Ada's and marks it, under its own lease only.
        let another = lease::token(Duration::seconds(60));
        let ada = [(another, "order:a:confirmation")];
        assert_eq!(outbox::mark_sent_by_key(&ctx.db, &ada).await.unwrap(), 0);
        let ada = [(token, "order:a:confirmation")];
        assert_eq!(outbox::mark_sent_by_key(&ctx.db, &ada).await.unwrap(), 1);

        // Bob's send failed, or the process died: once the lease runs out,
        // the scan sends it like any other.
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::LockedUntil,
                Expr::value(now() - Duration::seconds(1)),
            )
            .filter(outbox::Column::Status.eq(PENDING))
            .exec(&ctx.db)
            .await
            .unwrap();
        assert_eq!(deliver_due(&ctx).await.unwrap(), 1);
        assert_eq!(mails_to(&ctx, "bob@example.com").await.len(), 1);
        let rows = outbox::Entity::find().all(&ctx.db).await.unwrap();
        assert!(rows.iter().all(|r| r.status == SENT && r.attempts == 1));
    })
    .await;
}

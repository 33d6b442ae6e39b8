//! The order writer's held SQLite connection: a batch's script runs as one
//! transaction of its own, and a failure part-way stores nothing and leaves
//! the connection fit for the next batch and, once handed back, the pool.
use order_fellow::{
    errors::is_unique_violation,
    models::tx::{self, Script},
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::support::*;

fn mail_row(id: i64) -> Statement {
    Statement::from_string(
        DbBackend::Sqlite,
        format!(
            "INSERT INTO outbox_messages (id, template, recipient, payload, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ({id}, 'order_confirmation', \
             'a@example.com', '', 'sent', 1, '2026-01-01 00:00:00+00:00', \
             '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')"
        ),
    )
}

async fn stored(db: &impl ConnectionTrait, id: i64) -> bool {
    db.query_one_raw(Statement::from_string(
        DbBackend::Sqlite,
        format!("SELECT id FROM outbox_messages WHERE id = {id}"),
    ))
    .await
    .unwrap()
    .is_some()
}

#[tokio::test]
async fn a_held_script_failing_part_way_stores_nothing_and_the_connection_stays_usable() {
    with_app(|_server, ctx| async move {
        if ctx.db.get_database_backend() != DbBackend::Sqlite {
            return; // the held connection is SQLite's
        }
        let held = tx::hold(&ctx.db).await.unwrap();

        let mut failing = Script::new();
        failing.push(mail_row(900_001));
        failing.push(mail_row(900_001)); // the same primary key: refused
        let err = failing.commit_held(&held).await.unwrap_err();
        assert!(is_unique_violation(&err), "{err}");

        let mut next = Script::new();
        next.push(mail_row(900_002));
        next.push(mail_row(900_003));
        next.commit_held(&held).await.unwrap();
        tx::release(held).await;

        // Through the pool: the first script left nothing, the second all.
        assert!(!stored(&ctx.db, 900_001).await);
        assert!(stored(&ctx.db, 900_002).await);
        assert!(stored(&ctx.db, 900_003).await);
    })
    .await;
}

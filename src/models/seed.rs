//! Made-up orders in bulk, for measuring the service at scale
//! (`make bench SEED=1000000`, the `seed_orders` task): a company's history
//! of `count` orders spread over the past year, each with its first history
//! row, as the intake would have stored them, but written directly in
//! multi-row inserts, so a million take seconds instead of the minutes the
//! HTTP intake would need. No mail or event is queued: these orders are
//! long past.
//!
//! The customers are drawn from 60 first names × 120 surnames, so a search
//! for a surname finds about 1 in 120 orders, and every e-mail and external
//! id (`seed-<n>`) is unique.

use chrono::Duration;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QuerySelect,
};

use super::{_entities::orders, tx::Tx};
use crate::domain::{now, tracking::TrackingStatus};

/// Rows per INSERT statement (13 columns: well under both databases' limits
/// on bound parameters).
const ROWS_PER_STATEMENT: usize = 1000;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 20_000;

const FIRST: [&str; 60] = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Donald",
    "Radia",
    "Edsger",
    "Hedy",
    "John",
    "Katherine",
    "Tim",
    "Joan",
    "Vint",
    "Sophie",
    "Bjarne",
    "Anita",
    "Niklaus",
    "Shafi",
    "Leslie",
    "Karen",
    "Tony",
    "Mary",
    "Guido",
    "Lynn",
    "Brian",
    "Adele",
    "Butler",
    "Evelyn",
    "Robin",
    "Jean",
    "Alonzo",
    "Carol",
    "Peter",
    "Ida",
    "Yukihiro",
    "Marian",
    "Claude",
    "Rosalind",
    "James",
    "Elena",
    "Rob",
    "Nina",
    "Paul",
    "Amara",
    "Kofi",
    "Ines",
    "Mateo",
    "Priya",
    "Chen",
    "Fatima",
    "Olu",
    "Sven",
    "Aiko",
    "Lucia",
    "Omar",
];

const SURNAMES: [&str; 120] = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Knuth",
    "Perlman",
    "Dijkstra",
    "Lamarr",
    "Backus",
    "Johnson",
    "Berners",
    "Clarke",
    "Cerf",
    "Wilson",
    "Stroustrup",
    "Borg",
    "Wirth",
    "Goldwasser",
    "Lamport",
    "Jones",
    "Hoare",
    "Keller",
    "Rossum",
    "Conway",
    "Kernighan",
    "Goldberg",
    "Lampson",
    "Berezin",
    "Milner",
    "Sammet",
    "Church",
    "Shaw",
    "Naur",
    "Rhodes",
    "Matsumoto",
    "Croft",
    "Shannon",
    "Picard",
    "Gosling",
    "Ostrom",
    "Pike",
    "Amsel",
    "Graham",
    "Okafor",
    "Mensah",
    "Duarte",
    "Alvarez",
    "Raman",
    "Wei",
    "Haddad",
    "Adeyemi",
    "Lindqvist",
    "Tanaka",
    "Moretti",
    "Farouk",
    "Nakamura",
    "Kowalski",
    "Novak",
    "Petrov",
    "Larsen",
    "Costa",
    "Silva",
    "Murphy",
    "Kelly",
    "Walsh",
    "Schmidt",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Dubois",
    "Laurent",
    "Lefebvre",
    "Moreau",
    "Rossi",
    "Russo",
    "Bianchi",
    "Romano",
    "Garcia",
    "Martinez",
    "Lopez",
    "Gonzalez",
    "Perez",
    "Sanchez",
    "Ramirez",
    "Torres",
    "Nguyen",
    "Tran",
    "Pham",
    "Huang",
    "Zhang",
    "Liu",
    "Kim",
    "Park",
    "Choi",
    "Sato",
    "Suzuki",
    "Takahashi",
    "Ito",
    "Watanabe",
    "Yamamoto",
    "Singh",
    "Kumar",
    "Sharma",
    "Patel",
    "Gupta",
    "Khan",
    "Ali",
    "Hassan",
    "Ibrahim",
    "Mohamed",
    "Ahmed",
    "Osei",
    "Banda",
];

const ITEMS: [&str; 6] = [
    "1x Espresso machine",
    "2x Running shoes",
    "1x Desk lamp, 1x Bulb",
    "3x Notebook",
    "1x Headphones",
    "1x Backpack",
];

/// Stores `count` made-up orders for company `user_id`; returns how many.
///
/// # Errors
/// On database failure; transactions already committed stay.
pub async fn orders(db: &DatabaseConnection, user_id: i64, count: u64) -> Result<u64, DbErr> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..8];
    let end = now();
    let span = Duration::days(365);
    let step_ms =
        (span.num_milliseconds() / i64::try_from(count.max(1)).unwrap_or(i64::MAX)).max(1);
    let start = end - span;
    let mut done = 0u64;
    while done < count {
        let tx = Tx::begin(db).await?;
        let first_id = next_id(&tx).await?;
        let upto = (done + ROWS_PER_TRANSACTION as u64).min(count);
        let mut n = done;
        while n < upto {
            let last = (n + ROWS_PER_STATEMENT as u64).min(upto);
            let rows = (n..last).map(|i| {
                let at = start + Duration::milliseconds(step_ms * i64::try_from(i).unwrap_or(0));
                order(user_id, run, i, at)
            });
            orders::Entity::insert_many(rows)
                .exec_without_returning(&tx)
                .await?;
            n = last;
        }
        // Each order's first history row, from the rows just written.
        tx.execute_raw(sea_orm::Statement::from_sql_and_values(
            tx.get_database_backend(),
            match tx.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO order_status_changes \
                     (order_id, from_status, to_status, source, created_at, updated_at) \
                     SELECT id, NULL, tracking_status, 'webhook', created_at, created_at \
                     FROM orders WHERE id >= $1 AND user_id = $2"
                }
                _ => {
                    "INSERT INTO order_status_changes \
                     (order_id, from_status, to_status, source, created_at, updated_at) \
                     SELECT id, NULL, tracking_status, 'webhook', created_at, created_at \
                     FROM orders WHERE id >= ? AND user_id = ?"
                }
            },
            [first_id.into(), user_id.into()],
        ))
        .await?;
        tx.commit().await?;
        done = upto;
    }
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // After a bulk load the planner's statistics are stale and the GIN
        // search index's pending list is full until autovacuum comes by,
        // which it then does under the next load (intake p99 of seconds
        // right after a seed); do that work now instead.
        db.execute_unprepared("VACUUM (ANALYZE) orders, order_status_changes")
            .await?;
    }
    Ok(done)
}

/// The smallest id the next inserted order can get.
async fn next_id(tx: &Tx) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = orders::Entity::find()
        .select_only()
        .column_as(orders::Column::Id.max(), "max")
        .into_tuple()
        .one(tx)
        .await?;
    Ok(max.flatten().unwrap_or(0) + 1)
}

fn order(
    user_id: i64,
    run: &str,
    i: u64,
    at: chrono::DateTime<chrono::FixedOffset>,
) -> orders::ActiveModel {
    // A cheap, fixed shuffle, so neighbours differ.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
    let first = FIRST[(h % 60) as usize];
    let surname = SURNAMES[((h / 60) % 120) as usize];
    // Old orders have mostly arrived; the newest are still on their way.
    let status = match h % 20 {
        0 => TrackingStatus::Cancelled,
        1 => TrackingStatus::Returned,
        2..=4 => TrackingStatus::Shipped,
        5 => TrackingStatus::Pending,
        _ => TrackingStatus::Delivered,
    };
    orders::ActiveModel {
        pid: Set(uuid::Uuid::new_v4()),
        user_id: Set(user_id),
        external_order_id: Set(Some(format!("seed-{run}-{i:07}"))),
        idempotency_key: Set(None),
        customer_name: Set(format!("{first} {surname}")),
        customer_email: Set(format!(
            "{}.{}.{i}@example.com",
            first.to_lowercase(),
            surname.to_lowercase()
        )),
        customer_phone: Set(format!("+4420{:08}", h % 100_000_000)),
        item_summary: Set(ITEMS[(h % 6) as usize].to_string()),
        address: Set(format!("{} Market Street, London", 1 + h % 400)),
        tracking_status: Set(status.as_str().to_string()),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
}

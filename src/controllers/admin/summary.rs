//! `GET /admin/`: the counters `/metrics` has, for a person.

use axum::extract::State;
use chrono::{TimeZone, Utc};
use loco_rs::prelude::AppContext;
use serde_json::json;

use crate::{
    controllers::web::{AdminSession, PageResult},
    db::Readers,
    domain::kyc_status::KycStatus,
    models::{
        event_outbox,
        kyc::{self, ReviewFilter},
        orders, outbox,
    },
};

/// `GET /admin/` → KYC waiting, orders today, refusals by reason, outbox.
pub async fn show(State(ctx): State<AppContext>, session: AdminSession) -> PageResult {
    let readers = Readers::get(&ctx);
    let pending = ReviewFilter {
        status: Some(KycStatus::Pending),
        manual_review: None,
    };
    let flagged = ReviewFilter {
        manual_review: Some(true),
        ..pending
    };
    let (kyc_pending, _) = kyc::Model::list_for_review(&readers, pending, 1, 1).await?;
    let (kyc_flagged, _) = kyc::Model::list_for_review(&readers, flagged, 1, 1).await?;
    let midnight = Utc
        .from_utc_datetime(&Utc::now().date_naive().and_time(chrono::NaiveTime::MIN))
        .fixed_offset();
    let orders_today = orders::count_since(&readers, midnight).await?;
    let (outbox_pending, outbox_failed) = outbox::counts(&readers).await?;
    let (deliveries_pending, deliveries_failed) = event_outbox::counts(&readers).await?;
    let refusals: Vec<_> = crate::metrics::refusals_by_reason()
        .into_iter()
        .map(|(reason, count)| json!({"reason": reason, "count": count}))
        .collect();
    session.page(
        "admin/summary.html",
        json!({
            "kyc_pending": kyc_pending,
            "kyc_flagged": kyc_flagged,
            "orders_today": orders_today,
            "outbox_pending": outbox_pending,
            "outbox_failed": outbox_failed,
            "deliveries_pending": deliveries_pending,
            "deliveries_failed": deliveries_failed,
            "refusals": refusals,
        }),
    )
}

//! Companies: search the business accounts; a company's page shows its
//! account, KYC state, webhook secret status (never the secret), order
//! counts by status and recent orders.

use axum::extract::State;
use loco_rs::prelude::AppContext;
use serde::Deserialize;
use serde_json::json;

use crate::{
    controllers::{
        extract::{ApiQuery, Pid},
        pagination::PageParams,
        web::{AdminSession, PageResult},
    },
    db::Readers,
    errors::ApiError,
    models::{kyc, orders, users, webhook_secrets},
    views::{auth::UserView, kyc::KycView, orders::OrderView, Page},
};

#[derive(Deserialize)]
pub struct ListParams {
    q: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// `GET /admin/companies?q=&page=` → business accounts, newest first.
pub async fn list(
    State(ctx): State<AppContext>,
    session: AdminSession,
    q: Result<ApiQuery<ListParams>, ApiError>,
) -> PageResult {
    let ApiQuery(q) = q?;
    let (page_no, size) = q.page.resolve()?;
    let readers = Readers::get(&ctx);
    let (count, rows) =
        users::Model::search_businesses(&readers, q.q.as_deref(), page_no, size).await?;
    let results: Vec<_> = rows.iter().map(UserView::from).collect();
    session.page(
        "admin/companies.html",
        json!({
            "page": Page::new(count, page_no, size, results),
            "q": q.q.unwrap_or_default(),
        }),
    )
}

/// `GET /admin/companies/<id>` (the account's public id).
pub async fn detail(
    State(ctx): State<AppContext>,
    session: AdminSession,
    id: Result<Pid, ApiError>,
) -> PageResult {
    let Pid(id) = id?;
    let readers = Readers::get(&ctx);
    let user = users::Model::find_by_pid(&readers, id)
        .await?
        .filter(|u| !u.is_admin())
        .ok_or_else(ApiError::not_found)?;
    let application = kyc::Model::current_for(&readers, user.id).await?;
    let secret = webhook_secrets::active_for(&readers, user.id).await?;
    let counts = orders::counts_by_status(&readers, user.id).await?;
    let recent = orders::newest_for_company(&readers, user.id, 10).await?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    session.page(
        "admin/company.html",
        json!({
            "company": UserView::from(&user),
            "kyc": application.as_ref().map(KycView::from),
            "secret": secret.map(|s| json!({
                "is_active": s.is_active,
                "expired": s.is_expired(),
                "expires_at": s.expires_at,
                "grace_until": s.grace_until,
                "created_at": s.created_at,
            })),
            "counts": counts.iter().map(|(status, n)| json!({"status": status, "count": n})).collect::<Vec<_>>(),
            "total": total,
            "recent": recent.iter().map(OrderView::from).collect::<Vec<_>>(),
        }),
    )
}

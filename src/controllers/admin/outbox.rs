//! The mail outbox: messages pending or given up on, with their last error,
//! and "retry now".

use axum::{
    extract::{rejection::FormRejection, State},
    http::HeaderMap,
    Form,
};
use loco_rs::prelude::AppContext;
use serde::Deserialize;
use serde_json::json;

use crate::{
    controllers::{
        extract::{ApiPath, ApiQuery},
        pagination::PageParams,
        sign_in::CsrfForm,
        web::{bad_form, see_other, AdminSession, PageResult},
    },
    db::Readers,
    errors::ApiError,
    models::outbox,
    views::Page,
};

#[derive(Deserialize)]
pub struct ListParams {
    /// `pending`, `failed`, or blank for both.
    status: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// `GET /admin/outbox?status=&page=` → unsent messages, oldest first.
pub async fn list(
    State(ctx): State<AppContext>,
    session: AdminSession,
    q: Result<ApiQuery<ListParams>, ApiError>,
) -> PageResult {
    let ApiQuery(p) = q?;
    let status = match p.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s @ (outbox::PENDING | outbox::FAILED)) => Some(s),
        Some(_) => {
            return Err(ApiError::field("status", "Must be pending, failed or blank.").into())
        }
    };
    let (page_no, size) = p.page.resolve()?;
    let (count, rows) = outbox::list_unsent(&Readers::get(&ctx), status, page_no, size).await?;
    let results: Vec<_> = rows
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "template": m.template,
                "recipient": m.recipient,
                "status": m.status,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "next_attempt_at": m.next_attempt_at,
                "created_at": m.created_at,
            })
        })
        .collect();
    session.page(
        "admin/outbox.html",
        json!({
            "page": Page::new(count, page_no, size, results),
            "status": status.unwrap_or_default(),
        }),
    )
}

/// `POST /admin/outbox/<id>/retry` `csrf` → due now; back to the list.
pub async fn retry(
    State(ctx): State<AppContext>,
    session: AdminSession,
    headers: HeaderMap,
    id: Result<ApiPath<i64>, ApiError>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| bad_form())?;
    session.check(&headers, form.csrf.as_deref())?;
    let ApiPath(id) = id.map_err(|_| ApiError::not_found())?;
    if !outbox::retry_now(&ctx.db, id).await? {
        return Err(ApiError::NotFound("No such unsent message".into()).into());
    }
    Ok(see_other("/admin/outbox"))
}

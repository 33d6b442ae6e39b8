//! The outbox: e-mails and outbound event deliveries pending or given up
//! on, across companies, with their last error, and "retry now".

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
    domain::endpoint_url::EndpointUrl,
    errors::ApiError,
    models::{event_outbox, outbox},
    views::Page,
};

#[derive(Deserialize)]
pub struct ListParams {
    /// `pending`, `failed`, or blank for both.
    status: Option<String>,
    #[serde(flatten)]
    page: PageParams,
    /// The event deliveries' page (the e-mails use `page`).
    deliveries_page: Option<String>,
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
    let (dpage_no, _) = PageParams {
        page: p.deliveries_page,
        page_size: None,
    }
    .resolve()?;
    let readers = Readers::get(&ctx);
    let (count, rows) = outbox::list_unsent(&readers, status, page_no, size).await?;
    let (dcount, unsent) = event_outbox::list_unsent(&readers, status, dpage_no, size).await?;
    let deliveries: Vec<_> = unsent.iter().map(delivery_row).collect();
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
            "deliveries": Page::new(dcount, dpage_no, size, deliveries),
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

/// A delivery as the page shows it: the endpoint's host only (a URL's path
/// or query may carry the receiver's token).
fn delivery_row(u: &event_outbox::Unsent) -> serde_json::Value {
    let d = &u.delivery;
    json!({
        "id": d.id,
        "event_id": u.event.as_ref().map(|e| e.event_id.as_str()),
        "event_type": u.event.as_ref().map(|e| e.event_type.as_str()),
        "endpoint_host": u.endpoint.as_ref()
            .and_then(|e| EndpointUrl::from_stored(&e.url).ok())
            .map(|url| url.host_port()),
        "endpoint_enabled": u.endpoint.as_ref().is_some_and(|e| e.enabled),
        "company": u.company.as_ref().map(|c| c.company_name.as_str()),
        "company_pid": u.company.as_ref().map(|c| c.pid),
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "next_attempt_at": d.next_attempt_at,
        "created_at": d.created_at,
    })
}

/// `POST /admin/outbox/deliveries/<id>/retry` `csrf` → due now with a fresh
/// retry schedule; back to the list. 404 when not pending or failed, 409
/// when its endpoint is disabled.
pub async fn retry_delivery(
    State(ctx): State<AppContext>,
    session: AdminSession,
    headers: HeaderMap,
    id: Result<ApiPath<i64>, ApiError>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| bad_form())?;
    session.check(&headers, form.csrf.as_deref())?;
    let ApiPath(id) = id.map_err(|_| ApiError::not_found())?;
    event_outbox::retry_now(&ctx.db, id).await?;
    Ok(see_other("/admin/outbox"))
}

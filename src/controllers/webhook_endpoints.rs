//! `/api/v1/webhook/endpoints/`, `/api/v1/webhook/events/<id>/replay/`: a
//! KYC-approved business manages where its events go, tests, replays and
//! recovers them (JWT). Also the public key of the qitech scheme, as PEM
//! and as a JWKS (no authentication: it is public).

use axum::{
    extract::{FromRequestParts, State},
    http::{header, request::Parts, StatusCode},
    response::IntoResponse,
    Json,
};
use chrono::DateTime;
use loco_rs::prelude::{get, post, AppContext, Routes};
use serde::Deserialize;
use serde_json::Value;

use super::{
    extract::{optional_field, parse_pid, ApiJson, ApiPath, ApiQuery, CurrentUser},
    pagination::PageParams,
};
use crate::{
    db::Readers,
    domain::{
        endpoint_url::EndpointUrl, event_type::EventFilter, kyc_status::KycStatus, signing::Scheme,
        text, DomainError,
    },
    errors::{ApiError, ApiResult, FieldCheck},
    models::{
        endpoints::{self, EndpointPatch, NewEndpoint},
        events::{self, AttemptFilter},
        kyc, users,
    },
    settings::AppSettings,
    views::{
        webhook_endpoints::{
            AttemptView, CreatedEndpointView, EndpointSecretView, EndpointView, RecoverView,
            ReplayView,
        },
        Page,
    },
    workers::deliveries,
};

/// Longest endpoint description.
const DESCRIPTION_MAX: usize = 500;

/// A signed-in business whose KYC is approved; 403 `KYC approval required` otherwise.
pub struct ApprovedBusiness(pub users::Model);

impl FromRequestParts<AppContext> for ApprovedBusiness {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &AppContext,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, ctx).await?;
        let approved = match kyc::Model::current_for(&Readers::get(ctx), user.id).await? {
            Some(application) => application.status()? == KycStatus::Approved,
            None => false,
        };
        if approved {
            Ok(Self(user))
        } else {
            Err(kyc::kyc_required())
        }
    }
}

#[derive(Deserialize)]
struct CreateBody {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /webhook/endpoints/` → 201 with the secret, once.
async fn create(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult {
    let app = AppSettings::get(&ctx);
    let mut check = FieldCheck::new();
    let url = check.take(
        "url",
        EndpointUrl::parse(&body.url, app.settings.events.targets),
    );
    let filter = check.take("events", EventFilter::parse(&body.events));
    let scheme = check.take(
        "scheme",
        body.scheme
            .as_deref()
            .map_or(Ok(Scheme::Standard), str::parse),
    );
    let description = check.take(
        "description",
        text::optional(body.description.as_deref(), DESCRIPTION_MAX),
    );
    let new = check.build(|| {
        Some(NewEndpoint {
            url: url?,
            filter: filter?,
            scheme: scheme?,
            description: description?,
        })
    })?;
    let (row, secret) = endpoints::create(&ctx.db, &app, user.id, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpointView {
            endpoint: EndpointView::new(&row)?,
            secret: secret.map(|s| s.expose().to_string()),
        }),
    )
        .into_response())
}

/// `GET /webhook/endpoints/` → the company's endpoints, oldest first.
async fn list(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
) -> ApiResult {
    let rows = endpoints::list_for_company(&Readers::get(&ctx), user.id).await?;
    let views = rows
        .iter()
        .map(EndpointView::new)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(views).into_response())
}

async fn load(ctx: &AppContext, user: &users::Model, id: &str) -> ApiResult<endpoints::Model> {
    endpoints::find_for_company(&Readers::get(ctx), user.id, parse_pid(id)?).await
}

/// `GET /webhook/endpoints/<id>/`; another company's → 404.
async fn detail(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let row = load(&ctx, &user, &id).await?;
    Ok(Json(EndpointView::new(&row)?).into_response())
}

#[derive(Deserialize)]
struct PatchBody {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    /// Absent: unchanged; null or blank: cleared.
    #[serde(default, deserialize_with = "present")]
    description: Option<Value>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// A field that is present, even as `null` (plain `Option` reads null as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn description_change(raw: Option<&Value>) -> Result<Option<Option<String>>, DomainError> {
    match raw {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => text::optional(Some(s), DESCRIPTION_MAX).map(Some),
        Some(_) => Err(DomainError::new("Must be a string or null.")),
    }
}

/// `PATCH /webhook/endpoints/<id>/` `{url?, events?, description?, enabled?}`.
async fn update(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> ApiResult {
    let pid = parse_pid(&id)?;
    let app = AppSettings::get(&ctx);
    let mut check = FieldCheck::new();
    let url = body
        .url
        .as_deref()
        .and_then(|u| check.take("url", EndpointUrl::parse(u, app.settings.events.targets)));
    let filter = body
        .events
        .as_deref()
        .and_then(|e| check.take("events", EventFilter::parse(e)));
    let description = check
        .take("description", description_change(body.description.as_ref()))
        .flatten();
    check.finish()?;
    let patch = EndpointPatch {
        url,
        filter,
        description,
        enabled: body.enabled,
    };
    let row = endpoints::update(&ctx.db, user.id, pid, patch).await?;
    Ok(Json(EndpointView::new(&row)?).into_response())
}

/// `DELETE /webhook/endpoints/<id>/` → 204.
async fn remove(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    endpoints::delete(&ctx.db, user.id, parse_pid(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /webhook/endpoints/<id>/secret/` → the current secret.
async fn secret(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let row = load(&ctx, &user, &id).await?;
    let secret = row
        .current_secret(&AppSettings::get(&ctx).keys.endpoint_secrets)?
        .ok_or_else(endpoints::no_secret)?;
    Ok(Json(EndpointSecretView {
        secret: secret.expose().to_string(),
        previous_secret_valid_until: None,
    })
    .into_response())
}

/// `POST /webhook/endpoints/<id>/rotate-secret/` → the new secret; the old
/// one keeps signing beside it for `ENDPOINT_SECRET_GRACE_SECS`.
async fn rotate_secret(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let app = AppSettings::get(&ctx);
    let (row, secret) = endpoints::rotate_secret(&ctx.db, &app, user.id, parse_pid(&id)?).await?;
    Ok(Json(EndpointSecretView {
        secret: secret.expose().to_string(),
        previous_secret_valid_until: row.previous_secret_until,
    })
    .into_response())
}

/// `POST /webhook/endpoints/<id>/test/` → sends a `ping` now; 200 with the attempt.
async fn test(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let row = load(&ctx, &user, &id).await?;
    let (attempt, event) = deliveries::send_test(&ctx, &row).await?;
    Ok(Json(AttemptView::new(&attempt, &event)).into_response())
}

#[derive(Deserialize)]
struct AttemptParams {
    status: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// `GET /webhook/endpoints/<id>/deliveries/?status=succeeded|failed&page=&page_size=`
/// → the endpoint's attempts, newest first.
async fn attempts(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<AttemptParams>,
) -> ApiResult {
    let filter = optional_field("status", q.status.as_deref())?.unwrap_or(AttemptFilter::All);
    let (page, size) = q.page.resolve()?;
    let row = load(&ctx, &user, &id).await?;
    let (count, rows) =
        events::attempts_for_endpoint(&Readers::get(&ctx), row.id, filter, page, size).await?;
    let results = rows.iter().map(|(a, e)| AttemptView::new(a, e)).collect();
    Ok(Json(Page::new(count, page, size, results)).into_response())
}

#[derive(Deserialize)]
struct RecoverBody {
    since: String,
}

/// `POST /webhook/endpoints/<id>/recover/` `{"since": "<RFC 3339>"}` → every
/// delivery that failed since then is queued again.
async fn recover(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RecoverBody>,
) -> ApiResult {
    let since = DateTime::parse_from_rfc3339(body.since.trim()).map_err(|_| {
        ApiError::field(
            "since",
            "Enter a date and time in RFC 3339 format, such as 2026-11-27T09:00:00Z.",
        )
    })?;
    let row = load(&ctx, &user, &id).await?;
    let recovered = events::recover(&ctx.db, &row, since).await?;
    Ok((StatusCode::ACCEPTED, Json(RecoverView { recovered })).into_response())
}

#[derive(Deserialize)]
struct ReplayParams {
    endpoint: Option<String>,
}

/// `POST /webhook/events/<event_id>/replay/?endpoint=<id>` → the event is
/// queued again for that endpoint, or every endpoint subscribed to it.
async fn replay(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    ApiPath(event_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReplayParams>,
) -> ApiResult {
    let readers = Readers::get(&ctx);
    let event = events::find_for_company(&readers, user.id, event_id.trim()).await?;
    let only = match q
        .endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(id) => Some(load(&ctx, &user, id).await?),
        None => None,
    };
    let queued = events::replay(&ctx.db, &event, only.as_ref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayView {
            event_id: event.event_id,
            queued,
        }),
    )
        .into_response())
}

/// `GET /webhook/public-key/` → the qitech scheme's public key, SPKI PEM.
async fn public_key(State(ctx): State<AppContext>) -> ApiResult {
    let pem = AppSettings::get(&ctx)
        .settings
        .events
        .signing_key
        .public_key_pem()
        .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

/// `GET /.well-known/jwks.json` → the same key as a JWK set.
async fn jwks(State(ctx): State<AppContext>) -> ApiResult {
    let jwk = AppSettings::get(&ctx).settings.events.signing_key.jwk();
    Ok(Json(serde_json::json!({ "keys": [jwk] })).into_response())
}

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/api/v1/webhook")
        .add("/endpoints", get(list).post(create))
        .add("/endpoints/{id}", get(detail).patch(update).delete(remove))
        .add("/endpoints/{id}/secret", get(secret))
        .add("/endpoints/{id}/rotate-secret", post(rotate_secret))
        .add("/endpoints/{id}/test", post(test))
        .add("/endpoints/{id}/deliveries", get(attempts))
        .add("/endpoints/{id}/recover", post(recover))
        .add("/events/{event_id}/replay", post(replay))
        .add("/public-key", get(public_key))
}

/// `/.well-known/jwks.json`, outside the API prefix.
pub fn well_known() -> Routes {
    Routes::new().add("/.well-known/jwks.json", get(jwks))
}

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
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::{
    extract::{optional_field, parse_pid, ApiJson, ApiPath, ApiQuery, CurrentUser, Pid},
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
    openapi::ErrorBody,
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

#[derive(OpenApi)]
#[openapi(paths(
    list,
    create,
    detail,
    update,
    remove,
    secret,
    rotate_secret,
    test,
    attempts,
    recover,
    replay,
    public_key
))]
pub struct Api;

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

#[derive(Deserialize, ToSchema)]
#[schema(as = NewEndpointBody, example = json!({"url": "https://shop.example/hooks/orders", "events": ["order.created", "order.status_changed"], "scheme": "standard", "description": "Warehouse"}))]
struct CreateBody {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /webhook/endpoints/` → 201 with the secret, once.
#[utoipa::path(post, path = "/api/v1/webhook/endpoints", tag = "events", security(("bearer" = [])), request_body = CreateBody,
    responses(
        (status = 201, description = "The endpoint and, this once, its signing secret", body = CreatedEndpointView),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 403, description = "KYC not approved", body = ErrorBody),
        (status = 409, description = "Too many endpoints or a duplicate", body = ErrorBody),
    ))]
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
#[utoipa::path(get, path = "/api/v1/webhook/endpoints", tag = "events", security(("bearer" = [])),
    responses(
        (status = 200, description = "The company's endpoints, oldest first", body = Vec<EndpointView>),
        (status = 403, description = "KYC not approved", body = ErrorBody),
    ))]
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

async fn load(ctx: &AppContext, user: &users::Model, id: Uuid) -> ApiResult<endpoints::Model> {
    endpoints::find_for_company(&Readers::get(ctx), user.id, id).await
}

/// `GET /webhook/endpoints/<id>/`; another company's → 404.
#[utoipa::path(get, path = "/api/v1/webhook/endpoints/{id}", tag = "events", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint id (UUID)")),
    responses((status = 200, description = "The endpoint", body = EndpointView), (status = 403, description = "KYC not approved", body = ErrorBody), (status = 404, description = "No such endpoint of this company", body = ErrorBody)))]
async fn detail(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    Pid(id): Pid,
) -> ApiResult {
    let row = load(&ctx, &user, id).await?;
    Ok(Json(EndpointView::new(&row)?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = EndpointPatchBody)]
struct PatchBody {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    /// Absent: unchanged; null or blank: cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
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
#[utoipa::path(patch, path = "/api/v1/webhook/endpoints/{id}", tag = "events", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint id (UUID)")), request_body = PatchBody,
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 403, description = "KYC not approved", body = ErrorBody), (status = 404, description = "No such endpoint of this company", body = ErrorBody),
    ))]
async fn update(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    Pid(id): Pid,
    ApiJson(body): ApiJson<PatchBody>,
) -> ApiResult {
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
    let row = endpoints::update(&ctx.db, user.id, id, patch).await?;
    Ok(Json(EndpointView::new(&row)?).into_response())
}

/// `DELETE /webhook/endpoints/<id>/` → 204.
#[utoipa::path(delete, path = "/api/v1/webhook/endpoints/{id}", tag = "events", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint id (UUID)")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "KYC not approved", body = ErrorBody), (status = 404, description = "No such endpoint of this company", body = ErrorBody)))]
async fn remove(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    Pid(id): Pid,
) -> ApiResult {
    endpoints::delete(&ctx.db, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /webhook/endpoints/<id>/secret/` → the current secret.
#[utoipa::path(get, path = "/api/v1/webhook/endpoints/{id}/secret", tag = "events", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint id (UUID)")),
    responses((status = 200, description = "The current signing secret", body = EndpointSecretView),
        (status = 400, description = "A qitech endpoint has no secret", body = ErrorBody), (status = 403, description = "KYC not approved", body = ErrorBody), (status = 404, description = "No such endpoint of this company", body = ErrorBody)))]
async fn secret(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    Pid(id): Pid,
) -> ApiResult {
    let row = load(&ctx, &user, id).await?;
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
#[utoipa::path(post, path = "/api/v1/webhook/endpoints/{id}/rotate-secret", tag = "events", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint id (UUID)")),
    responses(
        (status = 200, description = "The new secret; the previous one keeps signing beside it for the grace window", body = EndpointSecretView),
        (status = 403, description = "KYC not approved", body = ErrorBody), (status = 404, description = "No such endpoint of this company", body = ErrorBody),
        (status = 400, description = "A qitech endpoint has no secret", body = ErrorBody),
    ))]
async fn rotate_secret(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    Pid(id): Pid,
) -> ApiResult {
    let app = AppSettings::get(&ctx);
    let (row, secret) = endpoints::rotate_secret(&ctx.db, &app, user.id, id).await?;
    Ok(Json(EndpointSecretView {
        secret: secret.expose().to_string(),
        previous_secret_valid_until: row.previous_secret_until,
    })
    .into_response())
}

/// `POST /webhook/endpoints/<id>/test/` → sends a `ping` now; 200 with the attempt.
#[utoipa::path(post, path = "/api/v1/webhook/endpoints/{id}/test", tag = "events", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint id (UUID)")),
    responses(
        (status = 200, description = "A `ping` was sent now: the attempt", body = AttemptView),
        (status = 403, description = "KYC not approved", body = ErrorBody), (status = 404, description = "No such endpoint of this company", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = ErrorBody),
    ))]
async fn test(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    Pid(id): Pid,
) -> ApiResult {
    let row = load(&ctx, &user, id).await?;
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
#[utoipa::path(get, path = "/api/v1/webhook/endpoints/{id}/deliveries", tag = "events", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The endpoint id (UUID)"),
        ("status" = Option<String>, Query, description = "succeeded or failed"),
        ("page" = Option<String>, Query, description = "From 1"),
        ("page_size" = Option<String>, Query, description = "1 to 100, default 20"),
    ),
    responses(
        (status = 200, description = "The endpoint's attempts, newest first", body = Page<AttemptView>),
        (status = 400, description = "Invalid filter or page", body = ErrorBody),
        (status = 403, description = "KYC not approved", body = ErrorBody), (status = 404, description = "No such endpoint of this company", body = ErrorBody),
    ))]
async fn attempts(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    Pid(id): Pid,
    ApiQuery(q): ApiQuery<AttemptParams>,
) -> ApiResult {
    let filter = optional_field("status", q.status.as_deref())?.unwrap_or(AttemptFilter::All);
    let (page, size) = q.page.resolve()?;
    let row = load(&ctx, &user, id).await?;
    let (count, rows) =
        events::attempts_for_endpoint(&Readers::get(&ctx), row.id, filter, page, size).await?;
    let results = rows.iter().map(|(a, e)| AttemptView::new(a, e)).collect();
    Ok(Json(Page::new(count, page, size, results)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = RecoverBody, example = json!({"since": "2026-11-27T09:00:00Z"}))]
struct RecoverBody {
    since: String,
}

/// `POST /webhook/endpoints/<id>/recover/` `{"since": "<RFC 3339>"}` → every
/// delivery that failed since then is queued again.
#[utoipa::path(post, path = "/api/v1/webhook/endpoints/{id}/recover", tag = "events", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint id (UUID)")), request_body = RecoverBody,
    responses(
        (status = 202, description = "Failed deliveries since then are queued again", body = RecoverView),
        (status = 400, description = "Invalid date", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = ErrorBody),
        (status = 403, description = "KYC not approved", body = ErrorBody), (status = 404, description = "No such endpoint of this company", body = ErrorBody),
    ))]
async fn recover(
    State(ctx): State<AppContext>,
    ApprovedBusiness(user): ApprovedBusiness,
    Pid(id): Pid,
    ApiJson(body): ApiJson<RecoverBody>,
) -> ApiResult {
    let since = DateTime::parse_from_rfc3339(body.since.trim()).map_err(|_| {
        ApiError::field(
            "since",
            "Enter a date and time in RFC 3339 format, such as 2026-11-27T09:00:00Z.",
        )
    })?;
    let row = load(&ctx, &user, id).await?;
    let recovered = events::recover(&ctx.db, &row, since).await?;
    Ok((StatusCode::ACCEPTED, Json(RecoverView { recovered })).into_response())
}

#[derive(Deserialize)]
struct ReplayParams {
    endpoint: Option<String>,
}

/// `POST /webhook/events/<event_id>/replay/?endpoint=<id>` → the event is
/// queued again for that endpoint, or every endpoint subscribed to it.
#[utoipa::path(post, path = "/api/v1/webhook/events/{event_id}/replay", tag = "events", security(("bearer" = [])),
    params(
        ("event_id" = String, Path, description = "The event id (`evt_...`)"),
        ("endpoint" = Option<String>, Query, description = "Only this endpoint (UUID); default every subscribed endpoint"),
    ),
    responses(
        (status = 202, description = "Deliveries queued", body = ReplayView),
        (status = 409, description = "The endpoint is disabled", body = ErrorBody),
        (status = 403, description = "KYC not approved", body = ErrorBody),
        (status = 404, description = "No such event or endpoint of this company", body = ErrorBody),
    ))]
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
        Some(id) => Some(load(&ctx, &user, parse_pid(id)?).await?),
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
#[utoipa::path(get, path = "/api/v1/webhook/public-key", tag = "events",
    responses((status = 200, description = "The qitech scheme's public key (SPKI PEM)", content_type = "application/x-pem-file", body = String)))]
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

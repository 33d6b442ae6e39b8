//! `/api/v1/kyc/`: a business submits and reads its KYC application.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use loco_rs::prelude::{get, AppContext, Routes};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use super::extract::{ApiJson, CurrentUser};
use crate::{
    domain::{
        business::{RegistrationNumber, Website},
        country::Country,
        phone::Phone,
        text,
    },
    errors::{ApiError, ApiResult, FieldCheck},
    models::kyc::{self, Submission},
    openapi::ErrorBody,
    views::kyc::KycView,
};

#[derive(OpenApi)]
#[openapi(paths(submit, current))]
pub struct Api;

#[derive(Deserialize, ToSchema)]
#[schema(as = KycSubmission, example = json!({"business_name": "Acme Ltd", "registration_number": "RC-123456", "country": "NG", "business_address": "12 Marina Road, Lagos", "website": "https://acme.example", "contact_phone": "+2348123456789"}))]
pub(crate) struct SubmitBody {
    business_name: String,
    registration_number: String,
    country: String,
    business_address: String,
    #[serde(default)]
    website: Option<String>,
    #[serde(default)]
    contact_phone: Option<String>,
}

impl TryFrom<SubmitBody> for Submission {
    type Error = ApiError;

    fn try_from(b: SubmitBody) -> Result<Self, ApiError> {
        let mut c = FieldCheck::new();
        let business_name = c.take(
            "business_name",
            text::parse(&b.business_name, 2, 200, false),
        );
        let registration_number = c.take(
            "registration_number",
            RegistrationNumber::parse(&b.registration_number),
        );
        let country = c.take("country", Country::parse(&b.country));
        let business_address = c.take(
            "business_address",
            text::parse(&b.business_address, 5, 500, true),
        );
        let website = match b.website.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(w) => c.take("website", Website::parse(w)).map(Some),
        };
        let contact_phone = match b.contact_phone.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(p) => c.take("contact_phone", Phone::parse(p)).map(Some),
        };
        c.build(|| {
            Some(Self {
                business_name: business_name?,
                registration_number: registration_number?,
                country: country?,
                business_address: business_address?,
                website: website?,
                contact_phone: contact_phone?,
            })
        })
    }
}

/// `POST /kyc/` → 201 with the pending application; 409 while one is open.
#[utoipa::path(post, path = "/api/v1/kyc", tag = "kyc", security(("bearer" = [])), request_body = SubmitBody,
    responses(
        (status = 201, description = "The pending application", body = KycView),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 409, description = "An application is already open, or resubmission is not allowed", body = ErrorBody),
    ))]
async fn submit(
    State(ctx): State<AppContext>,
    CurrentUser(user): CurrentUser,
    ApiJson(body): ApiJson<SubmitBody>,
) -> ApiResult {
    let application = kyc::Model::submit(&ctx.db, &user, Submission::try_from(body)?).await?;
    Ok((StatusCode::CREATED, Json(KycView::from(&application))).into_response())
}

/// `GET /kyc/` → the current application, 404 if none.
#[utoipa::path(get, path = "/api/v1/kyc", tag = "kyc", security(("bearer" = [])),
    responses(
        (status = 200, description = "The current application", body = KycView),
        (status = 404, description = "No application yet", body = ErrorBody),
    ))]
async fn current(State(ctx): State<AppContext>, CurrentUser(user): CurrentUser) -> ApiResult {
    let application = kyc::Model::current_for(&ctx.db, user.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No KYC application submitted yet".into()))?;
    Ok(Json(KycView::from(&application)).into_response())
}

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/api/v1/kyc")
        .add("/", get(current).post(submit))
}

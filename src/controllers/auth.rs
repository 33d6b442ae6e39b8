//! `/api/v1/auth/*`: registration, e-mail verification, login, password reset.

use std::net::IpAddr;

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use loco_rs::prelude::{get, post, AppContext, Routes};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use super::extract::{ApiJson, ClientAddr, CurrentUser};
use crate::{
    domain::{email::Email, otp::OtpCode, password::Password, secret::Secret, text, token},
    errors::{ApiError, ApiResult, FieldCheck},
    limits::Limiters,
    models::users::{self, Registration, INVALID_CODE},
    openapi::ErrorBody,
    settings::AppSettings,
    views::{
        auth::{LoginView, UserView},
        MessageView,
    },
};

#[derive(OpenApi)]
#[openapi(paths(
    register,
    verify_email,
    resend_otp,
    login,
    me,
    logout,
    forgot_password,
    reset_password
))]
pub struct Api;

#[derive(Deserialize, ToSchema)]
struct RegisterBody {
    email: String,
    password: String,
    full_name: String,
    company_name: String,
}

impl TryFrom<RegisterBody> for Registration {
    type Error = ApiError;

    fn try_from(b: RegisterBody) -> Result<Self, ApiError> {
        let mut check = FieldCheck::new();
        let email = check.take("email", Email::parse(&b.email));
        let password = check.take("password", Password::parse(&b.password));
        let full_name = check.take("full_name", text::line(&b.full_name, 150));
        let company_name = check.take("company_name", text::line(&b.company_name, 200));
        check.build(|| {
            Some(Self {
                email: email?,
                password: password?,
                full_name: full_name?,
                company_name: company_name?,
            })
        })
    }
}

const REGISTERED: MessageView = MessageView {
    message: "Registration received. Check your e-mail for a 6-digit verification code.",
};

/// `POST /register/` → 201, identical whether or not the address had an
/// account; 429 past the client address's sign-up budget.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses(
        (status = 201, description = "Registration received (the same answer whether or not the address had an account)", body = MessageView),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address", body = ErrorBody),
        (status = 503, description = "Service busy", body = ErrorBody),
    ))]
async fn register(
    State(ctx): State<AppContext>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult {
    let reg = Registration::try_from(body)?;
    let limits = Limiters::get(&ctx);
    limits.signup(client)?;
    users::Model::register(&ctx.db, &AppSettings::get(&ctx), &limits, reg).await?;
    Ok((StatusCode::CREATED, Json(REGISTERED)).into_response())
}

#[derive(Deserialize, ToSchema)]
struct VerifyBody {
    email: String,
    otp: String,
}

/// Parses an e-mail and a code; a malformed one is just an invalid code.
fn email_and_code(email: &str, otp: &str) -> Result<(Email, OtpCode), ApiError> {
    let invalid = |_| ApiError::BadRequest(INVALID_CODE.into());
    Ok((
        Email::parse(email).map_err(invalid)?,
        OtpCode::parse(otp).map_err(invalid)?,
    ))
}

/// `POST /verify-email/` → 200, or 400 for a wrong, expired, used or dead code.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = VerifyBody,
    responses(
        (status = 200, description = "E-mail verified", body = MessageView),
        (status = 400, description = "Wrong, expired, used or dead code", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
    ))]
async fn verify_email(
    State(ctx): State<AppContext>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> ApiResult {
    let (email, code) = email_and_code(&body.email, &body.otp)?;
    users::Model::verify_email(&ctx.db, &AppSettings::get(&ctx), &email, &code).await?;
    Ok(Json(MessageView {
        message: "Email verified",
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
struct EmailBody {
    email: String,
}

/// The `email` field, parsed: a malformed (or over-long) address is a 400
/// before any limiter, hash or query.
fn email_field(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(|e| ApiError::field("email", e.0))
}

/// A request that mails a code: a well-formed address, within the client
/// address's sign-up budget.
fn mail_request(ctx: &AppContext, client: IpAddr, body: &EmailBody) -> Result<Email, ApiError> {
    let email = email_field(&body.email)?;
    Limiters::get(ctx).signup(client)?;
    Ok(email)
}

/// 202 with `message`, whatever became of the request.
fn accepted(message: &'static str) -> ApiResult {
    Ok((StatusCode::ACCEPTED, Json(MessageView { message })).into_response())
}

/// `POST /resend-otp/` → 202 for any address; 429 past the client address's
/// sign-up budget.
#[utoipa::path(post, path = "/api/v1/auth/resend-otp", tag = "auth", request_body = EmailBody,
    responses(
        (status = 202, description = "A new code is on its way if the account exists and is unverified", body = MessageView),
        (status = 400, description = "Invalid e-mail", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
    ))]
async fn resend_otp(
    State(ctx): State<AppContext>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<EmailBody>,
) -> ApiResult {
    let email = mail_request(&ctx, client, &body)?;
    users::Model::resend_verification(&ctx.db, &AppSettings::get(&ctx), &email).await?;
    accepted("If the account exists and is not verified yet, a new code is on its way.")
}

#[derive(Deserialize, ToSchema)]
struct LoginBody {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: Secret<String>,
}

/// `POST /login/` → 200 with a JWT; 401, 403 (unverified), 429 (throttled)
/// or 503 (busy).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "A JWT and the account", body = LoginView),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 401, description = "Wrong e-mail or password", body = ErrorBody, example = json!({"error": "Invalid email or password"})),
        (status = 403, description = "E-mail not verified yet", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many failed logins", body = ErrorBody),
        (status = 503, description = "Service busy", body = ErrorBody),
    ))]
async fn login(
    State(ctx): State<AppContext>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult {
    let email = email_field(&body.email)?;
    let app = AppSettings::get(&ctx);
    let limits = Limiters::get(&ctx);
    let user = users::Model::login(&ctx.db, &limits, &email, body.password, client).await?;
    let token = token::issue(
        &app.token_key(),
        app.jwt_ttl.as_secs(),
        user.pid,
        &user.role,
        user.token_version,
    )
    .map_err(ApiError::internal)?;
    Ok(Json(LoginView {
        token,
        user: UserView::from(&user),
    })
    .into_response())
}

/// `GET /me/` → the account behind the token.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The account behind the token", body = UserView)))]
async fn me(CurrentUser(user): CurrentUser) -> ApiResult {
    Ok(Json(UserView::from(&user)).into_response())
}

/// `POST /logout/` → 204; every token of the account stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every token of the account stopped working")))]
async fn logout(State(ctx): State<AppContext>, CurrentUser(user): CurrentUser) -> ApiResult {
    users::Model::revoke_tokens(&ctx.db, user.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /forgot-password/` → 202 for any address; 429 past the client
/// address's sign-up budget.
#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth", request_body = EmailBody,
    responses(
        (status = 202, description = "A reset code is on its way if the account exists", body = MessageView),
        (status = 400, description = "Invalid e-mail", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
    ))]
async fn forgot_password(
    State(ctx): State<AppContext>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<EmailBody>,
) -> ApiResult {
    let email = mail_request(&ctx, client, &body)?;
    users::Model::forgot_password(&ctx.db, &AppSettings::get(&ctx), &email).await?;
    accepted("If the account exists, a password reset code is on its way.")
}

#[derive(Deserialize, ToSchema)]
struct ResetBody {
    email: String,
    otp: String,
    new_password: String,
}

/// `POST /reset-password/` → 200; every earlier token stops working.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth", request_body = ResetBody,
    responses(
        (status = 200, description = "Password reset; earlier tokens stopped working", body = MessageView),
        (status = 400, description = "Invalid password or code", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
        (status = 503, description = "Service busy", body = ErrorBody),
    ))]
async fn reset_password(
    State(ctx): State<AppContext>,
    ApiJson(body): ApiJson<ResetBody>,
) -> ApiResult {
    let password =
        Password::parse(&body.new_password).map_err(|e| ApiError::field("new_password", e.0))?;
    let (email, code) = email_and_code(&body.email, &body.otp)?;
    let app = AppSettings::get(&ctx);
    let limits = Limiters::get(&ctx);
    users::Model::reset_password(&ctx.db, &app, &limits, &email, &code, password).await?;
    Ok(Json(MessageView {
        message: "Password has been reset. Log in with your new password.",
    })
    .into_response())
}

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/api/v1/auth")
        .add("/register", post(register))
        .add("/verify-email", post(verify_email))
        .add("/resend-otp", post(resend_otp))
        .add("/login", post(login))
        .add("/me", get(me))
        .add("/logout", post(logout))
        .add("/forgot-password", post(forgot_password))
        .add("/reset-password", post(reset_password))
}

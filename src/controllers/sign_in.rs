//! Sign-in and sign-out of the browser pages, for both sides: `ADMIN` for
//! the admin console (a business account is refused), not for the business
//! dashboard (an admin account is refused). Sign-in goes through the same
//! model method, throttles and password hasher as `POST /api/v1/auth/login`
//! (so an unverified e-mail is refused too).

use axum::{
    extract::{rejection::FormRejection, State},
    http::{header, HeaderMap},
    Form,
};
use loco_rs::prelude::AppContext;
use serde::Deserialize;
use serde_json::json;

use crate::{
    controllers::{
        extract::ClientAddr,
        web::{
            check_csrf, cookie, csrf_token, login_path, page, see_other, side, PageError,
            PageResult, Session, CSRF_FIELD, SESSION_COOKIE,
        },
    },
    domain::{email::Email, secret::Secret, token},
    errors::ApiError,
    limits::Limiters,
    models::users,
    settings::AppSettings,
};

/// Where a signed-in account of the side lands.
const fn landing(admin: bool) -> &'static str {
    if admin {
        "/admin/kyc"
    } else {
        "/dashboard/"
    }
}

/// `GET /admin/login`, `GET /dashboard/login`
pub async fn form<const ADMIN: bool>(
    State(ctx): State<AppContext>,
    headers: HeaderMap,
) -> PageResult {
    let (csrf, set) = csrf_token(&ctx, &headers)?;
    page(
        "login.html",
        &json!({"side": side(ADMIN), "csrf": csrf, "csrf_field": CSRF_FIELD, "email": ""}),
        set,
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: Secret<String>,
    #[serde(default)]
    csrf: Option<String>,
}

/// The sign-in page again, with `error` above the form and the given status.
fn refused(
    admin: bool,
    ctx: &AppContext,
    headers: &HeaderMap,
    email: &str,
    err: &ApiError,
) -> PageResult {
    let (csrf, set) = csrf_token(ctx, headers)?;
    let message = match err {
        ApiError::Internal(_) => "Internal server error".to_string(),
        other => other.to_string(),
    };
    let mut res = page(
        "login.html",
        &json!({
            "side": side(admin),
            "csrf": csrf,
            "csrf_field": CSRF_FIELD,
            "email": email,
            "error": message,
        }),
        set,
    )?;
    *res.status_mut() = err.status();
    if let ApiError::RateLimited { retry_after, .. } = err {
        if let Ok(v) = retry_after.max(&1).to_string().parse() {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    Ok(res)
}

/// `POST /admin/login`, `POST /dashboard/login` `email, password, csrf` →
/// the session cookie and a redirect to the side's first page; the form
/// again with 400, 401, 403 or 429.
pub async fn sign_in<const ADMIN: bool>(
    State(ctx): State<AppContext>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| crate::controllers::web::bad_form())?;
    check_csrf(&headers, form.csrf.as_deref())?;
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(e) => {
            return refused(
                ADMIN,
                &ctx,
                &headers,
                &form.email,
                &ApiError::BadRequest(e.0),
            )
        }
    };
    let limits = Limiters::get(&ctx);
    let user = match users::Model::login(&ctx.db, &limits, &email, form.password, client).await {
        Ok(u) if u.is_admin() == ADMIN => u,
        Ok(_) => {
            let error = if ADMIN {
                "This console is for admin accounts. Businesses sign in at /dashboard/."
            } else {
                "This dashboard is for business accounts. Admins sign in at /admin/."
            };
            let refusal = ApiError::Forbidden {
                error: error.into(),
                message: None,
            };
            return refused(ADMIN, &ctx, &headers, &form.email, &refusal);
        }
        Err(e) => return refused(ADMIN, &ctx, &headers, &form.email, &e),
    };
    let app = AppSettings::get(&ctx);
    let ttl = app.jwt_ttl.as_secs();
    let session = token::issue(
        &app.token_key(),
        ttl,
        user.pid,
        &user.role,
        user.token_version,
    )
    .map_err(ApiError::internal)?;
    let mut res = see_other(landing(ADMIN));
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(&ctx, SESSION_COOKIE, &session, ttl)?,
    );
    Ok(res)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: Option<String>,
}

/// `POST /admin/logout`, `POST /dashboard/logout` → every session and token
/// of the account ends.
pub async fn sign_out<const ADMIN: bool>(
    State(ctx): State<AppContext>,
    session: Session<ADMIN>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> PageResult {
    let Form(form) = form.map_err(|_| crate::controllers::web::bad_form())?;
    check_csrf(&headers, form.csrf.as_deref())?;
    users::Model::revoke_tokens(&ctx.db, session.user.id)
        .await
        .map_err(PageError::from)?;
    let mut res = see_other(login_path(ADMIN));
    res.headers_mut()
        .append(header::SET_COOKIE, cookie(&ctx, SESSION_COOKIE, "", 0)?);
    Ok(res)
}

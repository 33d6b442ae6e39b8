//! What the browser pages (`/admin/`, `/dashboard/`) share: the session cookie, the CSRF
//! token, rendering a page, and the styled error page. A page never answers
//! JSON: an error becomes an HTML page with the same status, and a missing
//! or expired session a redirect to the sign-in page. Admins (`/admin/`)
//! and businesses (`/dashboard/`) share all of it; a session of one side is
//! refused by the other.
//!
//! The session cookie holds a login token (the API's JWT, same key, same
//! lifetime, same revocation): signing out bumps the account's token
//! version, which ends every session and token of the account at once. The
//! CSRF token is a random value in a second cookie that every form repeats
//! in a hidden field (double submit); both cookies are `HttpOnly;
//! SameSite=Strict` and `Secure` outside development.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use loco_rs::{app::AppContext, environment::Environment};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::extract::user_of_token;
use crate::{errors::ApiError, models::users, views::pages};

pub const SESSION_COOKIE: &str = "of_session";
pub const CSRF_COOKIE: &str = "of_csrf";
/// The hidden form field that repeats the CSRF cookie.
pub const CSRF_FIELD: &str = "csrf";

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/`, `Secure`
/// outside development, expiring after `max_age` seconds (0 deletes it).
///
/// # Errors
/// An internal error for a value a header cannot hold (ours are hex or JWT
/// characters, so this would be a bug).
pub fn cookie(
    ctx: &AppContext,
    name: &str,
    value: &str,
    max_age: u64,
) -> Result<HeaderValue, ApiError> {
    let secure = if ctx.environment == Environment::Development {
        ""
    } else {
        "; Secure"
    };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text)
        .map_err(|_| ApiError::invariant(format!("cookie {name}: not a header value")))
}

/// The value of the cookie `name`, if the request carries it.
#[must_use]
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The request's CSRF token, or a new one (with the cookie that sets it).
///
/// # Errors
/// As [`cookie`].
pub fn csrf_token(
    ctx: &AppContext,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), ApiError> {
    match read_cookie(headers, CSRF_COOKIE) {
        Some(token) if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok((token.to_string(), None))
        }
        _ => {
            let token = hex::encode(rand::random::<[u8; 32]>());
            let set = cookie(ctx, CSRF_COOKIE, &token, 60 * 60 * 24)?;
            Ok((token, Some(set)))
        }
    }
}

/// 403 unless the form's `csrf` field equals the CSRF cookie.
///
/// # Errors
/// A 403 page for a missing or wrong token.
pub fn check_csrf(headers: &HeaderMap, submitted: Option<&str>) -> Result<(), PageError> {
    let cookie = read_cookie(headers, CSRF_COOKIE).unwrap_or_default();
    let submitted = submitted.unwrap_or_default();
    if !cookie.is_empty() && bool::from(cookie.as_bytes().ct_eq(submitted.as_bytes())) {
        Ok(())
    } else {
        Err(PageError(ApiError::Forbidden {
            error: "This form has expired or did not come from this site. Reload the page and try again.".into(),
            message: None,
        }))
    }
}

/// A page, with an optional `Set-Cookie` (a new CSRF cookie).
///
/// # Errors
/// An error page when the template fails.
pub fn page(
    template: &str,
    locals: &Value,
    set_cookie: Option<HeaderValue>,
) -> Result<Response, PageError> {
    let html = pages::render(template, locals)?;
    let mut res = html_response(StatusCode::OK, html);
    if let Some(c) = set_cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

/// The policy every page sends: scripts and styles from this origin only
/// (`/static/copy.js`; no inline script), never framed, forms post here.
const PAGE_CSP: &str =
    "default-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// An HTML answer with the headers every page sends, error pages included:
/// not stored (pages show secrets and personal data), not framed, the CSP.
fn html_response(status: StatusCode, html: String) -> Response {
    let mut res = (status, html).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    page_security(headers);
    res
}

fn page_security(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Outermost layer: every answer under `/admin` and `/dashboard`, including
/// those no handler wrote (a middleware's 408 or 503, a panic's 500), is
/// not stored, not framed and carries the pages' CSP.
pub async fn page_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let page = super::is_page(req.uri());
    let mut res = next.run(req).await;
    if page {
        page_security(res.headers_mut());
    }
    res
}

/// A 303 to `to` (after a form post).
#[must_use]
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// An [`ApiError`] shown to a browser: the styled error page, same status.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

pub type PageResult = Result<Response, PageError>;

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if let ApiError::Internal(cause) = &self.0 {
            tracing::error!(error.cause = %format!("{cause:#}"), "internal error (page)");
        }
        let message = match &self.0 {
            ApiError::Internal(_) => "Internal server error".to_string(),
            ApiError::Validation(details) => details
                .iter()
                .map(|(field, msgs)| format!("{field}: {}", msgs.join(" ")))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        error_page(status, &message)
    }
}

/// The styled error page with `status` and `message`.
#[must_use]
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let locals = json!({
        "status": status.as_u16(),
        "title": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    // The page that reports errors must not fail itself: plain text then.
    let html = pages::render("error.html", &locals).unwrap_or_else(|e| {
        tracing::error!(error = %e.describe(), "error page template failed");
        message.to_string()
    });
    html_response(status, html)
}

/// A signed-in account of the page's side (session cookie): an admin for
/// `/admin/` (`ADMIN`), a business for `/dashboard/`; with the CSRF token
/// for the page's forms. Without a valid session: a redirect to the side's
/// sign-in page; an account of the other side: 403.
pub struct Session<const ADMIN: bool> {
    pub user: users::Model,
    pub csrf: String,
    /// Set when the CSRF cookie was missing: send it with the page.
    pub set_csrf: Option<HeaderValue>,
}

pub type AdminSession = Session<true>;
pub type BusinessSession = Session<false>;

/// A side's path segment, as the templates use it.
#[must_use]
pub const fn side(admin: bool) -> &'static str {
    if admin {
        "admin"
    } else {
        "dashboard"
    }
}

/// The sign-in page of a side.
#[must_use]
pub const fn login_path(admin: bool) -> &'static str {
    if admin {
        "/admin/login"
    } else {
        "/dashboard/login"
    }
}

/// Why a page's session was refused.
pub enum SessionRejection {
    SignIn(&'static str),
    Page(PageError),
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn(to) => see_other(to),
            Self::Page(e) => e.into_response(),
        }
    }
}

impl<const ADMIN: bool> FromRequestParts<AppContext> for Session<ADMIN> {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &AppContext,
    ) -> Result<Self, Self::Rejection> {
        let sign_in = SessionRejection::SignIn(login_path(ADMIN));
        let Some(raw) = read_cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in);
        };
        let user = user_of_token(ctx, raw)
            .await
            .map_err(|e| SessionRejection::Page(PageError(e)))?
            .ok_or(sign_in)?;
        if user.is_admin() != ADMIN {
            let error = if ADMIN {
                "Admin access required"
            } else {
                "This dashboard is for business accounts"
            };
            return Err(SessionRejection::Page(PageError(ApiError::Forbidden {
                error: error.into(),
                message: None,
            })));
        }
        let (csrf, set_csrf) =
            csrf_token(ctx, &parts.headers).map_err(|e| SessionRejection::Page(PageError(e)))?;
        Ok(Self {
            user,
            csrf,
            set_csrf,
        })
    }
}

impl<const ADMIN: bool> Session<ADMIN> {
    /// Renders a page: `locals` plus the side (`admin` or `dashboard`), the
    /// signed-in account's e-mail (`who`) and the CSRF token its forms repeat.
    ///
    /// # Errors
    /// An error page when the template fails.
    pub fn page(self, template: &str, mut locals: Value) -> PageResult {
        if let Some(map) = locals.as_object_mut() {
            map.insert("side".into(), Value::String(side(ADMIN).into()));
            map.insert("who".into(), Value::String(self.user.email));
            map.insert("csrf".into(), Value::String(self.csrf));
            map.insert("csrf_field".into(), Value::String(CSRF_FIELD.into()));
        }
        page(template, &locals, self.set_csrf)
    }

    /// Checks a form's CSRF field against the cookie.
    ///
    /// # Errors
    /// A 403 page for a missing or wrong token.
    pub fn check(&self, headers: &HeaderMap, submitted: Option<&str>) -> Result<(), PageError> {
        check_csrf(headers, submitted)
    }
}

/// 400 page for a form that could not be read.
#[must_use]
pub fn bad_form() -> PageError {
    PageError(ApiError::BadRequest("The form could not be read.".into()))
}

//! The one error type of the HTTP surface and its single mapping to responses.
//! Every error body is JSON: `{"error": "<sentence>"}`, plus `details` for
//! field validation. Internal causes are logged, never shown.

use std::collections::BTreeMap;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use loco_rs::model::ModelError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use serde_json::{json, Map, Value};

use crate::domain::DomainError;

/// Field name -> messages, as returned in `details`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

pub type ApiResult<T = Response> = Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Invalid request data")]
    Validation(FieldErrors),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{error}")]
    Forbidden {
        error: String,
        message: Option<String>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{error}")]
    Conflict {
        error: String,
        current_status: Option<String>,
    },
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// 503 with `Retry-After`: the server cannot take the request now (see
    /// [`ApiError::busy`] and [`ApiError::unavailable`]).
    #[error("{message}")]
    Unavailable {
        message: &'static str,
        retry_after: u64,
    },
    /// Anything the client cannot fix. The cause (with its chain) goes to the
    /// log line and to the CLI tasks; the HTTP body says only "Internal server error".
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 with one field's message in `details`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut details = FieldErrors::new();
        details.insert(field.to_string(), vec![message.into()]);
        Self::Validation(details)
    }

    pub fn not_found() -> Self {
        Self::NotFound("Not found".into())
    }

    pub fn conflict(error: impl Into<String>, current_status: Option<String>) -> Self {
        Self::Conflict {
            error: error.into(),
            current_status,
        }
    }

    /// 503 `Service busy`: every slot of a bounded resource (the password
    /// hasher) stayed taken for the whole allowed wait.
    #[must_use]
    pub const fn busy(retry_after: u64) -> Self {
        Self::Unavailable {
            message: "Service busy",
            retry_after,
        }
    }

    /// 503 `Service unavailable`: a dependency (the database) is down.
    #[must_use]
    pub const fn unavailable(retry_after: u64) -> Self {
        Self::Unavailable {
            message: "Service unavailable",
            retry_after,
        }
    }

    /// An internal error carrying `cause` (an error or a message).
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    /// An internal error described by `message` (a broken invariant, say).
    pub fn invariant(message: impl std::fmt::Display) -> Self {
        Self::Internal(anyhow::anyhow!("{message}"))
    }

    /// The text for a log line or a CLI task: the public sentence, and for an
    /// internal error its whole cause chain.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Internal(cause) => format!("internal error: {cause:#}"),
            other => other.to_string(),
        }
    }

    #[must_use]
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.to_string()));
        match &self {
            Self::Validation(details) => {
                body.insert("details".into(), json!(details));
            }
            Self::Forbidden {
                message: Some(m), ..
            } => {
                body.insert("message".into(), Value::String(m.clone()));
            }
            Self::Conflict {
                current_status: Some(s),
                ..
            } => {
                body.insert("current_status".into(), Value::String(s.clone()));
            }
            Self::Internal(cause) => {
                tracing::error!(error.cause = %format!("{cause:#}"), "internal error");
            }
            _ => {}
        }
        let mut res = (status, Json(Value::Object(body))).into_response();
        if let Self::RateLimited { retry_after, .. } | Self::Unavailable { retry_after, .. } = self
        {
            if let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

/// Whether `err` is a unique-index violation (the one place that asks).
#[must_use]
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// The driver's own error inside `err`, for the questions sea-orm's
/// `SqlErr` does not answer.
fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            Some(e.as_ref())
        }
        _ => None,
    }
}

/// Whether PostgreSQL broke a deadlock by failing this transaction (it is
/// safe to run again).
#[must_use]
pub fn is_deadlock(err: &DbErr) -> bool {
    sqlx_error(err)
        .and_then(|e| e.as_database_error())
        .and_then(|d| d.code())
        .is_some_and(|code| code == "40P01")
}

/// Whether `err` says the database cannot be reached (refused, cut, no
/// connection free in time), as opposed to a query it refused.
#[must_use]
pub fn is_unavailable(err: &DbErr) -> bool {
    matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
        || matches!(
            sqlx_error(err),
            Some(
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::Tls(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::WorkerCrashed
                    | sea_orm::sqlx::Error::Protocol(_)
            )
        )
}

/// Seconds a client is asked to wait while the database is unreachable.
const DATABASE_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    /// A database failure: 503 while the database cannot be reached, else 500.
    #[must_use]
    pub fn database(err: DbErr) -> Self {
        if is_unavailable(&err) {
            metrics::counter!("database_unavailable_total").increment(1);
            tracing::warn!(error = %err, "database unavailable");
            Self::unavailable(DATABASE_RETRY_AFTER_SECS)
        } else {
            Self::internal(err)
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if matches!(err, DbErr::RecordNotFound(_)) {
            return Self::not_found();
        }
        if is_unique_violation(&err) {
            return Self::conflict("Resource already exists", None);
        }
        Self::database(err)
    }
}

impl From<ModelError> for ApiError {
    fn from(err: ModelError) -> Self {
        match err {
            ModelError::EntityNotFound => Self::not_found(),
            ModelError::EntityAlreadyExists => Self::conflict("Resource already exists", None),
            ModelError::DbErr(e) => e.into(),
            other => Self::internal(other),
        }
    }
}

impl From<loco_rs::Error> for ApiError {
    fn from(err: loco_rs::Error) -> Self {
        match err {
            loco_rs::Error::Model(e) => e.into(),
            loco_rs::Error::DB(e) => e.into(),
            loco_rs::Error::NotFound => Self::not_found(),
            loco_rs::Error::Unauthorized(_) => Self::Unauthorized("Unauthorized".into()),
            other => Self::internal(other),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        Self::BadRequest(err.0)
    }
}

/// Collects field errors while parsing a request, then fails once with all of them.
#[derive(Default)]
pub struct FieldCheck(FieldErrors);

impl FieldCheck {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the parsed value, or records the message under `field`.
    pub fn take<T>(&mut self, field: &str, parsed: Result<T, DomainError>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.0);
                None
            }
        }
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    /// Fails with every recorded message, or builds the value from the parsed
    /// parts (`build` uses `?` on the `Option`s that `take` returned).
    ///
    /// # Errors
    /// A 400 with every recorded message, if any.
    pub fn build<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        self.finish()?;
        build().ok_or_else(|| ApiError::invariant("field check passed with a missing value"))
    }

    /// # Errors
    /// A 400 with every recorded message, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let res = ApiError::invariant("password=hunter2").into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(body, r#"{"error":"Internal server error"}"#);
    }

    #[tokio::test]
    async fn rate_limited_sets_retry_after() {
        let res = ApiError::RateLimited {
            message: "Too many requests".into(),
            retry_after: 3,
        }
        .into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "3");
    }

    #[tokio::test]
    async fn busy_and_unavailable_are_503_with_retry_after() {
        for (err, text) in [
            (ApiError::busy(1), "Service busy"),
            (ApiError::unavailable(5), "Service unavailable"),
        ] {
            let res = err.into_response();
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(res.headers().contains_key(header::RETRY_AFTER));
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            assert_eq!(body, format!(r#"{{"error":"{text}"}}"#));
        }
    }
}

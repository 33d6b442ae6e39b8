//! Request extractors whose every rejection is an [`ApiError`] (JSON body).

use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request},
    http::{header, request::Parts, HeaderMap},
};
use loco_rs::app::AppContext;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    db::Readers,
    domain::{token, DomainError},
    errors::{ApiError, ApiResult, FieldErrors},
    models::users,
    settings::{AppSettings, TrustedProxies},
};

/// A header's value, trimmed; `None` when absent, blank or not visible ASCII.
#[must_use]
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
#[must_use]
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = header_str(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An optional request value (a query filter, say) parsed into its domain
/// type; absent or blank is `None`, anything else must parse.
///
/// # Errors
/// 400 naming `field` with the domain's message.
pub fn optional_field<T: FromStr<Err = DomainError>>(
    field: &str,
    raw: Option<&str>,
) -> Result<Option<T>, ApiError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|e: DomainError| ApiError::field(field, e.0)),
    }
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
///
/// # Errors
/// 413 when the body is larger than `limit`.
pub async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(ApiError::PayloadTooLarge);
        }
    }
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)
}

/// Parses JSON bytes into `T`, mapping every failure to a 400 that names the
/// field: malformed JSON, a missing field, a wrong type.
///
/// # Errors
/// 400 `Invalid JSON`, or 400 with `details`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ApiError::BadRequest("Request body must be a JSON object".into()),
                Err(_) => ApiError::BadRequest("Invalid JSON".into()),
            },
        );
    }
    // The plain parser first; only a failure pays for the path tracking.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(de);
    parsed.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if !inner.is_data() {
            return ApiError::BadRequest("Invalid JSON".into());
        }
        let msg = inner.to_string();
        let msg = msg
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string();
        let mut details = FieldErrors::new();
        if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            let key = if path == "." {
                field.to_string()
            } else {
                format!("{path}.{field}")
            };
            details.insert(key, vec!["This field is required.".into()]);
        } else if path == "." {
            return ApiError::BadRequest("Request body must be a JSON object".into());
        } else {
            details.insert(path, vec![msg]);
        }
        ApiError::Validation(details)
    })
}

/// Whether the request says its body is JSON (`application/json` or `+json`).
fn says_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
}

/// A JSON request body: requires `Content-Type: application/json`, bounded by
/// `json_max_body_bytes`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppContext> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, ctx: &AppContext) -> Result<Self, Self::Rejection> {
        if !says_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = AppSettings::get(ctx).settings.json_max_body_bytes;
        let bytes = read_body(req, limit).await?;
        parse_json(&bytes).map(Self)
    }
}

/// An optional JSON body: none at all is `T::default()`; anything else is
/// read as [`ApiJson`] reads it.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppContext> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, ctx: &AppContext) -> Result<Self, Self::Rejection> {
        let json = says_json(req.headers());
        let limit = AppSettings::get(ctx).settings.json_max_body_bytes;
        let bytes = read_body(req, limit).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(Self)
    }
}

/// A path parameter; one that cannot be decoded answers 400 JSON.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| ApiError::BadRequest("Invalid path parameter".into()))
    }
}

/// A public id (UUID) as the one path parameter: a path that cannot be
/// decoded answers 400 like [`ApiPath`]; one that is not a UUID names
/// nothing, so 404 like an id that exists nowhere.
pub struct Pid(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Pid {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiPath(raw) = ApiPath::<String>::from_request_parts(parts, state).await?;
        parse_pid(&raw).map(Self)
    }
}

/// Query-string parameters; a malformed one answers 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| {
                ApiError::BadRequest(format!("Invalid query parameters: {}", e.body_text()))
            })
    }
}

/// The account behind a valid `Authorization: Bearer <JWT>`.
#[derive(Debug)]
pub struct CurrentUser(pub users::Model);

impl FromRequestParts<AppContext> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &AppContext,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            ApiError::Unauthorized(
                "Authentication credentials were not provided or are invalid".into(),
            )
        };
        let raw = bearer_token(&parts.headers).ok_or_else(unauthorized)?;
        let user = user_of_token(ctx, raw).await?.ok_or_else(unauthorized)?;
        Ok(Self(user))
    }
}

/// The verified account a login token (a bearer token, or the console's
/// session cookie) stands for: `None` when the token is invalid, expired or
/// revoked (the account's token version moved on).
///
/// # Errors
/// On database failure.
pub async fn user_of_token(ctx: &AppContext, raw: &str) -> ApiResult<Option<users::Model>> {
    let app = AppSettings::get(ctx);
    let Ok(claims) = token::verify(&app.token_key(), raw) else {
        return Ok(None);
    };
    Ok(users::Model::find_by_pid(&Readers::get(ctx), claims.sub)
        .await?
        .filter(|u| u.token_version == claims.ver && u.is_verified()))
}

/// A [`CurrentUser`] whose role is admin; a business token answers 403.
#[derive(Debug)]
pub struct AdminUser(pub users::Model);

impl FromRequestParts<AppContext> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &AppContext,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, ctx).await?;
        if !user.is_admin() {
            return Err(ApiError::Forbidden {
                error: "Admin access required".into(),
                message: None,
            });
        }
        Ok(Self(user))
    }
}

/// The client's address, as the throttles see it: the socket's peer or,
/// when the peer is one of `TRUSTED_PROXIES`, the right-most entry of
/// `X-Forwarded-For` that is not itself a trusted proxy (entries left of it
/// are whatever the client chose to send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppContext> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &AppContext,
    ) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .ok_or_else(|| {
                ApiError::invariant(
                    "no peer address: serve with into_make_service_with_connect_info",
                )
            })?;
        let trusted = &AppSettings::get(ctx).settings.trusted_proxies;
        Ok(Self(client_address(peer.ip(), &parts.headers, trusted)))
    }
}

/// See [`ClientAddr`]. A malformed entry stops the walk: it was not written
/// by a trusted proxy, so the last trusted hop's view stands.
#[must_use]
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, bracketed IPv6, or either with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// Parses a public id (from a path, a body or the command line); anything
/// that is not a UUID is simply not found.
///
/// # Errors
/// 404 when `raw` is not a UUID.
pub fn parse_pid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = TrustedProxies::default();
        let proxies = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
        let spoofed = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_address(ip("192.0.2.1"), &spoofed, &none),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_address(ip("192.0.2.1"), &spoofed, &proxies),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &spoofed, &proxies),
            ip("203.0.113.9")
        );
        // Right-most untrusted: what the client put on the left does not count.
        let chain = forwarded(&["198.51.100.1, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(
            client_address(ip("10.1.2.3"), &chain, &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("::1"), &forwarded(&["[2001:db8::1]:443"]), &proxies),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_address(
                ip("::ffff:10.0.0.1"),
                &forwarded(&["192.0.2.7:80"]),
                &proxies
            ),
            ip("192.0.2.7")
        );
        // No header, or garbage: the nearest proxy.
        assert_eq!(
            client_address(ip("10.1.2.3"), &HeaderMap::new(), &proxies),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &forwarded(&["garbage"]), &proxies),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                &forwarded(&["203.0.113.9, nope, 10.0.0.9"]),
                &proxies
            ),
            ip("10.0.0.9")
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        n: u32,
    }

    #[test]
    fn json_errors_name_the_field() {
        assert!(
            matches!(parse_json::<Body>(b"{"), Err(ApiError::BadRequest(m)) if m == "Invalid JSON")
        );
        let Err(ApiError::Validation(d)) = parse_json::<Body>(br#"{"n": 1}"#) else {
            panic!()
        };
        assert!(d.contains_key("email"));
        let Err(ApiError::Validation(d)) = parse_json::<Body>(br#"{"email": "a", "n": "x"}"#)
        else {
            panic!()
        };
        assert!(d.contains_key("n"));
        assert!(matches!(
            parse_json::<Body>(b"[1]"),
            Err(ApiError::BadRequest(_))
        ));
    }
}

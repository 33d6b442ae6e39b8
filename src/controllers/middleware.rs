//! Middleware of our own beside loco's stack: a panic answers the one JSON
//! error body, a request answered before its body was read closes its
//! connection gracefully, and a body that trickles in is cut at a deadline.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Router as AxumRouter,
};
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};
use loco_rs::{app::AppContext, controller::middleware::MiddlewareLayer};
use tower_http::catch_panic::CatchPanicLayer;

use crate::errors::ApiError;

/// loco's `catch_panic`, answering `{"error": "Internal server error"}` like
/// every other 500 (the panic's message goes to the log line, inside the
/// request's span with its id).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct JsonCatchPanic;

impl MiddlewareLayer for JsonCatchPanic {
    fn name(&self) -> &'static str {
        "catch_panic"
    }

    fn config(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }

    fn apply(&self, app: AxumRouter<AppContext>) -> loco_rs::Result<AxumRouter<AppContext>> {
        Ok(app.layer(CatchPanicLayer::custom(panic_response)))
    }
}

#[allow(clippy::needless_pass_by_value)]
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    ApiError::invariant(format!("handler panicked: {message}")).into_response()
}

/// The most of an unread body drained after an early answer, and how long
/// for; a client still sending past either meets a reset.
const DRAIN_MAX_BYTES: usize = 4 * 1024 * 1024;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

/// Outermost middleware. When the answer is ready before the request's body
/// was read to its end (413, 415, 401 on a bad key, 429, any early
/// refusal), the response says `Connection: close` and the rest of the body
/// is read and discarded in the background, bounded, before hyper closes
/// the connection. Closing a socket with unread data makes the kernel send a
/// reset, which destroys the answer in flight and breaks the next request
/// of a client that pools connections.
pub async fn close_gracefully(req: Request, next: Next) -> Response {
    let expects_continue = req.headers().contains_key(header::EXPECT);
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let slot = Arc::new(Mutex::new(Slot {
        body: Some(body),
        finished: false,
    }));
    let tracked = Body::new(Tracked(slot.clone()));
    let mut res = next.run(Request::from_parts(parts, tracked)).await;
    let rest = {
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let rest = slot.body.take();
        rest.filter(|b| !slot.finished && !b.is_end_stream())
    };
    if let Some(rest) = rest {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        // A client waiting for `100 Continue` has sent nothing: reading
        // would ask it for the body we are refusing.
        if !expects_continue {
            tokio::spawn(drain(rest));
        }
    }
    res
}

async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut read = 0usize;
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len();
            if read > DRAIN_MAX_BYTES {
                break;
            }
        }
    })
    .await;
}

struct Slot {
    body: Option<Body>,
    /// The handler read the body to its end.
    finished: bool,
}

/// The request body as the handler sees it, while the middleware keeps hold
/// of what the handler leaves unread.
struct Tracked(Arc<Mutex<Slot>>);

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(body) = slot.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            slot.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.finished || slot.body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

/// Outermost middleware: a request's body must have arrived in full within
/// `READ_TIMEOUT_SECS` of its headers, however slowly it trickles (a
/// slowloris sends a byte every few seconds, so an idle timeout would never
/// fire). Past the deadline the handler's read fails, and the answer is 408
/// `{"error": "Request timeout"}` with `Connection: close`, whatever the
/// handler made of the failed read. (Headers have their own deadline in
/// hyper, see `server.rs`.)
pub async fn read_deadline(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        Body::new(Deadline {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            expired: expired.clone(),
        })
    });
    let res = next.run(req).await;
    if expired.load(Ordering::Acquire) {
        metrics::counter!("http_read_timeouts_total").increment(1);
        let mut res = (
            StatusCode::REQUEST_TIMEOUT,
            axum::Json(serde_json::json!({"error": "Request timeout"})),
        )
            .into_response();
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    res
}

/// A request body that fails once its deadline has passed.
struct Deadline {
    body: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.expired.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(axum::Error::new("request body read timeout"))));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Pending if this.deadline.as_mut().poll(cx).is_ready() => {
                this.expired.store(true, Ordering::Release);
                Poll::Ready(Some(Err(axum::Error::new("request body read timeout"))))
            }
            polled => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use axum::{http::StatusCode, routing::get, Router};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panic_answers_the_json_500() {
        async fn boom() {
            panic!("password=hunter2 went missing")
        }
        let app = Router::new()
            .route("/", get(boom))
            .layer(CatchPanicLayer::custom(panic_response));
        let res = app
            .oneshot(Request::builder().uri("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(body, r#"{"error":"Internal server error"}"#);
    }
}

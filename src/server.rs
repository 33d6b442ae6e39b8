//! The HTTP server loop: axum's router on hyper, with the two things
//! `axum::serve` does not offer.
//!
//! - **A read timeout** (`READ_TIMEOUT_SECS`, 10 s): hyper cuts a connection
//!   whose request headers have not all arrived in time (it needs a timer for
//!   that, which `axum::serve` never gives it); the body's deadline is the
//!   [`crate::controllers::middleware::read_deadline`] middleware, on every
//!   route.
//! - **A bounded graceful shutdown**: on SIGTERM or Ctrl-C the listener is
//!   closed at once (new connections are refused), idle keep-alive
//!   connections are closed, requests in flight run to their answer, and
//!   whatever still holds a connection after [`DRAIN_TIMEOUT`] is dropped, so
//!   the process exits within 10 s even with a client that never finishes.
//!   Then the background workers finish their current batch ([`Shutdown`]).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{body::Body, extract::ConnectInfo, Router};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{watch, RwLock, RwLockReadGuard},
};
use tower::ServiceExt;

/// How long requests in flight get to finish after the signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(6);
/// How long the workers then get to finish their current batch; with
/// [`DRAIN_TIMEOUT`] well inside the 10 s an orchestrator waits before SIGKILL.
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(3);

/// The process is shutting down: the background workers stop taking new
/// work once it has begun, and the server waits (bounded) for the batch each
/// is working on.
#[derive(Default)]
pub struct Shutdown {
    begun: watch::Sender<bool>,
    /// Read-held by a worker for one batch; the shutdown takes it for writing.
    batches: RwLock<()>,
}

impl Shutdown {
    /// The shutdown of this app (stored at boot); `None` only in an app
    /// built without `App::after_context`.
    #[must_use]
    pub fn of(ctx: &loco_rs::app::AppContext) -> Option<Arc<Self>> {
        ctx.shared_store.get::<Arc<Self>>()
    }

    #[must_use]
    pub fn is_begun(&self) -> bool {
        *self.begun.borrow()
    }

    /// Resolves once the shutdown has begun.
    pub async fn begun(&self) {
        let mut rx = self.begun.subscribe();
        let _ = rx.wait_for(|begun| *begun).await;
    }

    /// Leave to work on one batch, held until the guard drops; `None` once
    /// the shutdown has begun (the worker should stop).
    pub async fn batch(&self) -> Option<RwLockReadGuard<'_, ()>> {
        if self.is_begun() {
            return None;
        }
        let guard = self.batches.read().await;
        (!self.is_begun()).then_some(guard)
    }

    /// Begins the shutdown and waits, at most `timeout`, for the batches in
    /// progress. Returns whether they all finished.
    pub async fn finish(&self, timeout: Duration) -> bool {
        self.begun.send_replace(true);
        tokio::time::timeout(timeout, self.batches.write())
            .await
            .is_ok()
    }
}

/// Serves `app` on `listener` until `signal` resolves, then drains (see the
/// module docs).
///
/// # Errors
/// Never after the listener is bound: accept errors (too many open files,
/// say) are logged and retried.
pub async fn serve(
    app: Router,
    listener: TcpListener,
    read_timeout: Duration,
    signal: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(remote));
                req.map(Body::new)
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A client that goes away mid-request is not our error.
            let _ = conn.await;
        });
    }
    drop(listener);
    let started = Instant::now();
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            after_ms = started.elapsed().as_millis(),
            "connections still open at the shutdown deadline: closing them"
        );
    }
    Ok(())
}

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use axum::Router as AxumRouter;
use loco_rs::{
    app::{AppContext, Hooks, Initializer},
    bgworker::Queue,
    boot::{create_app, shutdown_signal, BootResult, ServeParams, StartMode},
    config::Config,
    controller::{
        middleware::{default_middleware_stack, MiddlewareLayer, MiddlewareStackExt},
        AppRoutes,
    },
    environment::Environment,
    task::Tasks,
    Result,
};
use migration::Migrator;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::{
    cluster::Cluster,
    controllers,
    controllers::middleware::{close_gracefully, read_deadline, JsonCatchPanic},
    limits::Limiters,
    models::known_keys::KnownKeys,
    server::Shutdown,
    settings::AppSettings,
    tasks, workers,
    workers::{deliveries::Deliverer, order_writer::OrderWriter, outbox::Handoff},
};

pub struct App;

#[async_trait]
impl Hooks for App {
    fn app_name() -> &'static str {
        env!("CARGO_CRATE_NAME")
    }

    fn app_version() -> String {
        format!(
            "{} ({})",
            env!("CARGO_PKG_VERSION"),
            option_env!("BUILD_SHA").unwrap_or("dev")
        )
    }

    async fn boot(
        mode: StartMode,
        environment: &Environment,
        config: Config,
    ) -> Result<BootResult> {
        create_app::<Self, Migrator>(mode, environment, config).await
    }

    /// Parses the settings once (and refuses bad or unsafe values), then
    /// opens the writer and the read pool (`db.rs`).
    async fn after_context(mut ctx: AppContext) -> Result<AppContext> {
        let settings = AppSettings::load(&ctx.environment, &ctx.config)?;
        let config = ctx.config.database.clone();
        ctx.db = crate::db::open(&ctx, &config, settings.settings.db_read_connections).await?;
        let cluster = match &settings.settings.redis_url {
            Some(url) => {
                let cluster = Cluster::new(url).map_err(|e| loco_rs::Error::string(&e))?;
                Cluster::install(&cluster);
                ctx.shared_store.insert(cluster.clone());
                Some(cluster)
            }
            None => None,
        };
        ctx.shared_store
            .insert(Arc::new(Limiters::new(&settings.settings, cluster)));
        ctx.shared_store.insert(Arc::new(Shutdown::default()));
        let mail = Arc::new(Handoff::default());
        ctx.shared_store.insert(mail.clone());
        ctx.shared_store.insert(Arc::new(OrderWriter::new(mail)));
        ctx.shared_store.insert(Arc::new(KnownKeys::default()));
        let deliverer = Deliverer::new(settings.settings.events.targets)
            .map_err(|e| loco_rs::Error::string(&format!("event delivery client: {e}")))?;
        ctx.shared_store.insert(Arc::new(deliverer));
        AppSettings::install(&ctx, settings);
        Ok(ctx)
    }

    async fn initializers(_ctx: &AppContext) -> Result<Vec<Box<dyn Initializer>>> {
        Ok(vec![])
    }

    /// Every route, under loco's per-request middleware (request id and
    /// access log, timeout, panic → JSON 500) — the order webhook too
    /// (`controllers::order_webhook::routes`, which bounds its own body and
    /// logs its own refusals).
    fn routes(ctx: &AppContext) -> AppRoutes {
        AppRoutes::with_default_routes()
            .add_route(controllers::health::routes())
            .add_route(controllers::auth::routes())
            .add_route(controllers::kyc::routes())
            .add_route(controllers::admin_kyc::routes())
            .add_route(controllers::webhook_secret::routes())
            .add_route(controllers::webhook_endpoints::routes())
            .add_route(controllers::webhook_endpoints::well_known())
            .add_route(controllers::kyc_webhooks::routes())
            .add_route(controllers::orders::routes())
            .add_route(controllers::order_webhook::routes(ctx))
            .add_route(crate::metrics::routes())
            .add_route(crate::openapi::routes())
            .add_route(controllers::static_files::routes())
            .add_route(controllers::admin::routes())
            .add_route(controllers::dashboard::routes())
    }

    /// loco's stack, with a panic answering our JSON error body, and without
    /// two layers that cost every request (the order intake's too) and give
    /// nothing here: `etag` (no response of ours carries an `ETag`) and
    /// `powered_by` (an `X-Powered-By` header only tells an attacker the
    /// framework).
    fn middlewares(ctx: &AppContext) -> Vec<Box<dyn MiddlewareLayer>> {
        let mut stack = default_middleware_stack(ctx);
        stack
            .replace("catch_panic", Box::new(JsonCatchPanic))
            .delete("etag")
            .delete("powered_by");
        stack
    }

    /// JSON 404/405 for unknown routes, and every path answers with or without
    /// its trailing slash (the path is normalised before routing, so a POST
    /// body is never lost to a redirect). Outside that, an answer given before
    /// the request's body was read closes its connection gracefully; and
    /// a body must arrive within `READ_TIMEOUT_SECS`; and outermost, every
    /// answer under the browser pages gets their no-store and CSP headers.
    async fn after_routes(router: AxumRouter, ctx: &AppContext) -> Result<AxumRouter> {
        let read_timeout = AppSettings::get(ctx).settings.read_timeout;
        crate::metrics::handle();
        let inner = router
            .layer(axum::middleware::from_fn(crate::metrics::track))
            .fallback(controllers::not_found)
            .method_not_allowed_fallback(controllers::method_not_allowed);
        Ok(AxumRouter::new()
            .fallback_service(NormalizePathLayer::trim_trailing_slash().layer(inner))
            .layer(axum::middleware::from_fn(close_gracefully))
            .layer(axum::middleware::from_fn_with_state(
                read_timeout,
                read_deadline,
            ))
            .layer(axum::middleware::from_fn(controllers::web::page_headers)))
    }

    /// Serves HTTP and, beside it, the mail and event delivery workers (and,
    /// with Redis, the key-change subscription). On SIGTERM: no new
    /// connections, requests in flight answered, the workers' current batch
    /// finished, all within 10 s (`server.rs`).
    async fn serve(app: AxumRouter, ctx: &AppContext, params: &ServeParams) -> Result<()> {
        if let Some(cluster) = ctx.shared_store.get::<Arc<Cluster>>() {
            cluster.spawn_invalidation_listener();
        }
        workers::outbox::spawn(ctx.clone());
        workers::deliveries::spawn(ctx.clone());
        let listener =
            tokio::net::TcpListener::bind(&format!("{}:{}", params.binding, params.port)).await?;
        let read_timeout = AppSettings::get(ctx).settings.read_timeout;
        crate::server::serve(app, listener, read_timeout, shutdown_signal()).await?;
        if let Some(shutdown) = Shutdown::of(ctx) {
            if !shutdown.finish(crate::server::WORKER_TIMEOUT).await {
                tracing::warn!("a worker batch was still running at the shutdown deadline");
            }
        }
        tracing::info!("shut down");
        Ok(())
    }

    async fn connect_workers(_ctx: &AppContext, _queue: &Queue) -> Result<()> {
        Ok(())
    }

    fn register_tasks(tasks: &mut Tasks) {
        tasks.register(tasks::create_admin::CreateAdmin);
        tasks.register(tasks::kyc_approve::KycApprove);
        tasks.register(tasks::rotate_secrets_key::RotateSecretsKey);
        tasks.register(tasks::seed_orders::SeedOrders);
    }

    async fn truncate(_ctx: &AppContext) -> Result<()> {
        Ok(())
    }

    async fn seed(_ctx: &AppContext, _base: &Path) -> Result<()> {
        Ok(())
    }
}

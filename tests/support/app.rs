//! Boots the real app on a database of its own for each test: a fresh SQLite
//! file, or a fresh PostgreSQL database when `DATABASE_URL` says postgres
//! (dropped again afterwards, with `FORCE`, once the pool is closed).

use std::{future::Future, net::SocketAddr};

use loco_rs::{
    app::{AppContext, Hooks},
    boot::StartMode,
    environment::Environment,
    TestServer,
};
use order_fellow::app::App;
use sea_orm::{ConnectionTrait, Database};

struct TestDb {
    uri: String,
    pg: Option<(String, String)>,
    _dir: Option<tempdir::Dir>,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn fresh_db(configured: &str) -> TestDb {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    if configured.starts_with("postgres") {
        let mut root = url::Url::parse(configured).unwrap();
        root.set_path("/postgres");
        let name = format!("of_test_{}", &tag[..16]);
        let admin = Database::connect(root.as_str()).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(configured).unwrap();
        url.set_path(&format!("/{name}"));
        TestDb {
            uri: url.to_string(),
            pg: Some((root.to_string(), name)),
            _dir: None,
        }
    } else {
        let dir = std::env::temp_dir().join(format!("order_fellow_test_{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        TestDb {
            uri: format!("sqlite://{}?mode=rwc", dir.join("test.sqlite").display()),
            pg: None,
            _dir: Some(tempdir::Dir(dir)),
        }
    }
}

/// Boots the app on its own database; returns the context and the router.
/// `tweak` may change the `settings:` block first.
pub async fn boot(
    tweak: impl FnOnce(&mut serde_json::Value),
) -> (
    AppContext,
    axum::Router,
    impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = ()>>>,
) {
    let mut config = App::load_config(&Environment::Test).await.unwrap();
    if let Some(settings) = config.settings.as_mut() {
        tweak(settings);
    }
    let db = fresh_db(&config.database.uri).await;
    config.database.uri = db.uri.clone();
    let boot = App::boot(StartMode::ServerOnly, &Environment::Test, config)
        .await
        .unwrap();
    let ctx = boot.app_context.clone();
    let router = boot.router.unwrap();
    let ctx2 = ctx.clone();
    let cleanup = move || -> std::pin::Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let _ = ctx2.db.clone().close().await;
            if let Some((root, name)) = &db.pg {
                if let Ok(admin) = Database::connect(root.as_str()).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            }
            drop(db);
        })
    };
    (ctx, router, cleanup)
}

/// Runs `f` against the real router, on a database of its own.
pub async fn with_app<F, Fut>(f: F)
where
    F: FnOnce(TestServer, AppContext) -> Fut,
    Fut: Future<Output = ()>,
{
    with_app_settings(|_| {}, f).await;
}

/// Like [`with_app`], with changed settings (e.g. a provider left unconfigured).
pub async fn with_app_settings<F, Fut>(tweak: impl FnOnce(&mut serde_json::Value), f: F)
where
    F: FnOnce(TestServer, AppContext) -> Fut,
    Fut: Future<Output = ()>,
{
    let (ctx, router, cleanup) = boot(tweak).await;
    let server =
        TestServer::new(router.into_make_service_with_connect_info::<SocketAddr>()).unwrap();
    f(server, ctx).await;
    cleanup().await;
}

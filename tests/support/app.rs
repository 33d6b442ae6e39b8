//! Boots the real app on a database of its own for each test: a copy of a
//! template SQLite file, or a PostgreSQL database created from a template
//! database when `DATABASE_URL` says postgres (dropped again afterwards, with
//! `FORCE`, once the pool is closed). The template is migrated once per run.

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

/// Every test starts from a copy of one database migrated once per run, not
/// from a migration of its own: SQLite copies the template file, PostgreSQL
/// creates the database `TEMPLATE` it. (loco's `auto_migrate` then finds
/// nothing to do.)
static TEMPLATE: tokio::sync::OnceCell<Template> = tokio::sync::OnceCell::const_new();

enum Template {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

/// A name that changes whenever a migration file does, so a PostgreSQL
/// template left by an earlier run is reused only while it is still right.
fn migrations_digest() -> String {
    use std::hash::{Hash, Hasher};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migration/src");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        std::fs::read(&file).unwrap().hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

async fn migrate(uri: &str) {
    use migration::MigratorTrait;
    let db = Database::connect(uri).await.unwrap();
    migration::Migrator::up(&db, None).await.unwrap();
    db.close().await.unwrap();
}

async fn template(configured: &str) -> &'static Template {
    TEMPLATE
        .get_or_init(|| async {
            if configured.starts_with("postgres") {
                let name = format!("of_tmpl_{}", migrations_digest());
                let mut root = url::Url::parse(configured).unwrap();
                root.set_path("/postgres");
                let admin = Database::connect(root.as_str()).await.unwrap();
                let exists = admin
                    .query_one_raw(sea_orm::Statement::from_string(
                        admin.get_database_backend(),
                        format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
                    ))
                    .await
                    .unwrap()
                    .is_some();
                if !exists {
                    // Built under a name of its own, then renamed: a run that
                    // races this one keeps whichever template lands first.
                    let building =
                        format!("{name}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
                    admin
                        .execute_unprepared(&format!("CREATE DATABASE {building}"))
                        .await
                        .unwrap();
                    let mut url = url::Url::parse(configured).unwrap();
                    url.set_path(&format!("/{building}"));
                    migrate(url.as_str()).await;
                    let renamed = admin
                        .execute_unprepared(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                        .await;
                    if renamed.is_err() {
                        let _ = admin
                            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {building}"))
                            .await;
                    }
                }
                admin.close().await.unwrap();
                Template::Postgres(name)
            } else {
                let dir = std::env::temp_dir().join(format!(
                    "order_fellow_template_{}_{}",
                    std::process::id(),
                    migrations_digest()
                ));
                std::fs::create_dir_all(&dir).unwrap();
                let file = dir.join("template.sqlite");
                let _ = std::fs::remove_file(&file);
                migrate(&format!("sqlite://{}?mode=rwc", file.display())).await;
                Template::Sqlite(file)
            }
        })
        .await
}

async fn fresh_db(configured: &str) -> TestDb {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    match template(configured).await {
        Template::Postgres(template) => {
            let mut root = url::Url::parse(configured).unwrap();
            root.set_path("/postgres");
            let name = format!("of_test_{}", &tag[..16]);
            let admin = Database::connect(root.as_str()).await.unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
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
        }
        Template::Sqlite(template) => {
            let dir = std::env::temp_dir().join(format!("order_fellow_test_{tag}"));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("test.sqlite");
            std::fs::copy(template, &file).unwrap();
            TestDb {
                uri: format!("sqlite://{}?mode=rwc", file.display()),
                pg: None,
                _dir: Some(tempdir::Dir(dir)),
            }
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

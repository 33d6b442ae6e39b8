//! The database a bench run uses: SQLite in the server's temp dir (the
//! default), or a fresh PostgreSQL database created with `psql` and dropped
//! when the run ends.

use std::process::Command;

pub enum Database {
    Sqlite,
    Postgres {
        /// The server URL with the maintenance database `postgres`.
        admin: String,
        name: String,
        url: String,
    },
}

fn psql(admin: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin, "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e} (install PostgreSQL's client)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `url` with its path (the database name) replaced by `name`.
fn with_database(url: &str, name: &str) -> Result<String, String> {
    let (server, _) = url
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("://"))
        .ok_or_else(|| format!("{url}: not a postgres://…/database URL"))?;
    Ok(format!("{server}/{name}"))
}

impl Database {
    /// # Errors
    /// On an unknown kind, or when the PostgreSQL database cannot be created.
    pub fn for_bench(kind: &str, pg_url: &str) -> Result<Self, String> {
        match kind {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "pg" => {
                let name = format!(
                    "of_bench_{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                );
                let admin = with_database(pg_url, "postgres")?;
                psql(&admin, &format!("CREATE DATABASE {name}"))?;
                let url = with_database(pg_url, &name)?;
                Ok(Self::Postgres { admin, name, url })
            }
            other => Err(format!("--db {other}: expected sqlite or postgres")),
        }
    }

    /// The server's `DATABASE_URL`, when not its own SQLite file.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres { url, .. } => Some(url),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite => "SQLite in a temp dir".into(),
            Self::Postgres { name, .. } => format!("PostgreSQL database {name}"),
        }
    }

    /// `sqlite` or `postgres`, for the table.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Self::Postgres { admin, name, .. } = self {
            if let Err(e) = psql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ) {
                eprintln!("bench: {e}");
            }
        }
    }
}

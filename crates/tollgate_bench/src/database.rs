//! The run's own database: a fresh SQLite file, or a PostgreSQL database it creates and drops (and never any other).

use std::path::Path;

use anyhow::{Context, bail};
use sqlx::Connection;

#[derive(Debug)]
pub enum Database {
    Sqlite {
        url: String,
    },
    Postgres {
        /// The URL given on the command line: where we connect to create and drop ours.
        admin_url: String,
        /// `tollgate_bench_<random>`: created by this run, the only database it drops.
        name: String,
        url: String,
        /// `host:port`, for the report (the URL may hold a password).
        server: String,
    },
}

impl Database {
    /// `sqlite` (a file in `scratch`) or a `postgres://` URL on a loopback host.
    pub async fn create(spec: &str, scratch: &Path) -> anyhow::Result<Self> {
        if spec == "sqlite" {
            let path = scratch.join("tollgate.db");
            return Ok(Database::Sqlite {
                url: format!("sqlite://{}", path.display()),
            });
        }
        if !(spec.starts_with("postgres://") || spec.starts_with("postgresql://")) {
            bail!("--database must be `sqlite` or a postgres:// URL");
        }
        let mut url = reqwest::Url::parse(spec).context("--database is not a valid URL")?;
        let host = url.host_str().unwrap_or_default().to_string();
        if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]" | "::1") {
            bail!(
                "--database must point at a loopback host (127.0.0.1, localhost, ::1); got {host:?}"
            );
        }
        let server = format!("{host}:{}", url.port().unwrap_or(5432));
        let name = format!("tollgate_bench_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(spec)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {server}"))?;
        // `name` is ours: lowercase letters, digits and underscores, no quoting needed.
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let _ = admin.close().await;
        url.set_path(&format!("/{name}"));
        Ok(Database::Postgres {
            admin_url: spec.to_string(),
            name,
            url: url.to_string(),
            server,
        })
    }

    pub fn url(&self) -> &str {
        match self {
            Database::Sqlite { url } | Database::Postgres { url, .. } => url,
        }
    }

    /// The PostgreSQL database's name, when there is one.
    pub fn postgres_name(&self) -> Option<&str> {
        match self {
            Database::Sqlite { .. } => None,
            Database::Postgres { name, .. } => Some(name),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite { .. } => "SQLite (a fresh file in the run's temp dir)".to_string(),
            Database::Postgres { name, server, .. } => {
                format!("PostgreSQL (fresh database {name} on {server})")
            }
        }
    }

    /// Drops the PostgreSQL database this run created (nothing to do for SQLite: the file goes
    /// with the temp dir). `WITH (FORCE)` ends any connection a killed server left behind.
    pub async fn remove(&self) -> anyhow::Result<()> {
        let Database::Postgres {
            admin_url, name, ..
        } = self
        else {
            return Ok(());
        };
        let mut admin = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("dropping database {name}"))?;
        let _ = admin.close().await;
        Ok(())
    }
}

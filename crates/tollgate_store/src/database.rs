//! Connecting to SQLite or PostgreSQL and applying migrations. The only place that knows
//! which database is behind the pools; SQLite gets a single writer so writers never fight.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tollgate_core::store::HealthStore;

use crate::columns::db_error;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("database url must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("cannot create the database directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the {backend} database: {message}")]
    Connect {
        backend: &'static str,
        message: String,
    },
    #[error("migration failed: {0}")]
    Migrate(String),
    #[error("cannot open the inbox journal {path}: {source}")]
    Journal {
        path: String,
        source: std::io::Error,
    },
}

impl ConnectError {
    /// The inbox journal is held by another process (a running server).
    pub fn is_journal_held(&self) -> bool {
        matches!(self, Self::Journal { source, .. } if source.kind() == std::io::ErrorKind::WouldBlock)
    }
}

/// The store over a pool of connections; cheap to clone.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) read: AnyPool,
    /// Every write goes through here. On SQLite it holds one connection, so write
    /// transactions queue in the pool instead of failing with SQLITE_BUSY; on PostgreSQL it
    /// is the same pool as `read`.
    pub(crate) write: AnyPool,
    backend: Backend,
    /// The SQLite database file (not for `:memory:` nor PostgreSQL).
    sqlite_file: Option<PathBuf>,
    /// Set by `with_inbox_journal`: webhook events are journaled before they are rows.
    pub(crate) journal: Option<Arc<crate::inbox::JournaledInbox>>,
    /// Set by `with_row_level_security`: scoped transactions enter the tenant role (`tenant_scope.rs`).
    pub(crate) row_level_security: bool,
}

/// The migrations this build knows, embedded in the binary; numbered and never edited once landed.
pub fn migrator(backend: Backend) -> Migrator {
    let migration = |version: i64, description: &'static str, sql: &'static str| {
        Migration::new(
            version,
            Cow::Borrowed(description),
            MigrationType::Simple,
            Cow::Borrowed(sql),
            false,
        )
    };
    Migrator {
        migrations: Cow::Owned(vec![
            migration(
                1,
                "foundation",
                include_str!("../migrations/0001_foundation.sql"),
            ),
            migration(2, "billing", include_str!("../migrations/0002_billing.sql")),
            migration(3, "credits", include_str!("../migrations/0003_credits.sql")),
            migration(4, "mentors", include_str!("../migrations/0004_mentors.sql")),
            // The migrations whose text differs by dialect (5, 8); each database only ever sees its own.
            migration(
                5,
                "inbox storage",
                match backend {
                    Backend::Postgres => {
                        include_str!("../migrations/0005_inbox_storage.postgres.sql")
                    }
                    Backend::Sqlite => include_str!("../migrations/0005_inbox_storage.sqlite.sql"),
                },
            ),
            migration(
                6,
                "failed events index",
                include_str!("../migrations/0006_failed_events_index.sql"),
            ),
            migration(
                7,
                "subscription fetch window",
                include_str!("../migrations/0007_subscription_fetch_window.sql"),
            ),
            migration(
                8,
                "tenant admin role",
                match backend {
                    Backend::Postgres => {
                        include_str!("../migrations/0008_tenant_admin_role.postgres.sql")
                    }
                    Backend::Sqlite => {
                        include_str!("../migrations/0008_tenant_admin_role.sqlite.sql")
                    }
                },
            ),
            migration(9, "tenants", include_str!("../migrations/0009_tenants.sql")),
            migration(
                10,
                "tenant billing",
                include_str!("../migrations/0010_tenant_billing.sql"),
            ),
            migration(
                11,
                "api key scopes",
                include_str!("../migrations/0011_api_key_scopes.sql"),
            ),
            migration(
                12,
                "tenant contracts",
                include_str!("../migrations/0012_tenant_contracts.sql"),
            ),
        ]),
        ignore_missing: false,
        // Several instances starting at once on one PostgreSQL take an advisory lock in turn.
        locking: true,
        no_tx: false,
    }
}

impl SqlStore {
    /// Connects without migrating. `sqlite:` URLs get their directory created and are opened
    /// read-write-create; `postgres://` URLs are used as given.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        install_default_drivers();
        let backend = Backend::of_url(url).ok_or(ConnectError::UnsupportedUrl)?;
        let connect_error = |e: sqlx::Error| ConnectError::Connect {
            backend: backend.name(),
            message: e.to_string(),
        };
        match backend {
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(connect_error)?;
                Ok(Self {
                    read: pool.clone(),
                    write: pool,
                    backend,
                    sqlite_file: None,
                    journal: None,
                    row_level_security: false,
                })
            }
            Backend::Sqlite => {
                let url = sqlite_url(url)?;
                let in_memory = url.contains(":memory:");
                let options = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(|conn, _meta| {
                            Box::pin(async move {
                                // WAL lets readers run beside the writer. FULL syncs the WAL
                                // at every commit, so a committed row survives a power loss
                                // too (invariant 4: Stripe never resends an event we
                                // acknowledged). NORMAL would lose the commits since the last
                                // checkpoint then; with group commit FULL costs one fsync per
                                // batch, ≈8% more CPU per delivery (docs/benchmarks.md); see
                                // <https://www.sqlite.org/pragma.html#pragma_synchronous>.
                                // 16 KiB pages hold five 3 kB webhook events where a 4 KiB
                                // page holds one: about 8% less CPU per delivery measured
                                // (docs/benchmarks.md). It only applies to a new database,
                                // so it comes before anything writes the header.
                                conn.execute(
                                    "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                                     PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;",
                                )
                                .await?;
                                Ok(())
                            })
                        })
                };
                let write = options(1).connect(&url).await.map_err(connect_error)?;
                // An in-memory database exists once per connection: readers must share the writer's.
                let read = if in_memory {
                    write.clone()
                } else {
                    options(max_connections.max(1))
                        .connect(&url)
                        .await
                        .map_err(connect_error)?
                };
                Ok(Self {
                    read,
                    write,
                    backend,
                    sqlite_file: (!in_memory).then(|| sqlite_file(&url)),
                    journal: None,
                    row_level_security: false,
                })
            }
        }
    }

    /// Applies the migrations not yet applied; running it again is a no-op. Returns the
    /// versions it applied.
    pub async fn migrate(&self) -> Result<Vec<i64>, ConnectError> {
        let before = self.applied_version().await.unwrap_or(0);
        let failed = |e: sqlx::Error| ConnectError::Migrate(e.to_string());
        match self.backend {
            Backend::Postgres => migrator(self.backend)
                .run(&self.write)
                .await
                .map_err(|e| ConnectError::Migrate(e.to_string()))?,
            Backend::Sqlite => {
                // A table rebuild (0008) must not cascade deletes to the rows that reference
                // it, and foreign keys can only be switched off outside a transaction: on the
                // writer's one connection, around the migrator's transactions.
                let mut conn = self.write.acquire().await.map_err(failed)?;
                conn.execute("PRAGMA foreign_keys = OFF")
                    .await
                    .map_err(failed)?;
                let outcome = migrator(self.backend).run(&mut *conn).await;
                conn.execute("PRAGMA foreign_keys = ON")
                    .await
                    .map_err(failed)?;
                outcome.map_err(|e| ConnectError::Migrate(e.to_string()))?;
                let broken = sqlx::query("PRAGMA foreign_key_check")
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(failed)?;
                if !broken.is_empty() {
                    return Err(ConnectError::Migrate(format!(
                        "{} rows break a foreign key after migrating",
                        broken.len()
                    )));
                }
            }
        }
        let applied: Vec<i64> = migrator(self.backend)
            .migrations
            .iter()
            .map(|m| m.version)
            .filter(|v| *v > before)
            .collect();
        if applied.contains(&4) {
            // member_billing is derived by Rust rules: fill it for members who already pay.
            self.backfill_member_billing()
                .await
                .map_err(|e| ConnectError::Migrate(format!("member_billing backfill: {e}")))?;
        }
        Ok(applied)
    }

    /// Puts the inbox journal (`journal.rs`) in front of the webhook inbox, in the directory
    /// beside the database file; the one process that serves webhooks calls it. A no-op on
    /// PostgreSQL, whose instances share the inbox, and on an in-memory SQLite database.
    /// Fails when another process (or store) still holds that journal after `wait`.
    pub async fn with_inbox_journal(mut self, wait: Duration) -> Result<Self, ConnectError> {
        let Some(file) = &self.sqlite_file else {
            return Ok(self);
        };
        let dir = crate::journal::InboxJournal::dir_for(file);
        let deadline = tokio::time::Instant::now() + wait;
        let journal = loop {
            match crate::journal::InboxJournal::open(&dir) {
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                outcome => {
                    break outcome.map_err(|source| ConnectError::Journal {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
            }
        };
        self.remember_stored_events(&journal)
            .await
            .map_err(|e| ConnectError::Journal {
                path: dir.display().to_string(),
                source: std::io::Error::other(format!("reading the stored event ids: {e}")),
            })?;
        let rows = crate::journal_thread::Rows {
            pool: self.read.clone(),
            backend: self.backend,
            runtime: tokio::runtime::Handle::current(),
        };
        let journal = crate::inbox::JournaledInbox::new(journal, rows).map_err(|source| {
            ConnectError::Journal {
                path: dir.display().to_string(),
                source,
            }
        })?;
        self.journal = Some(Arc::new(journal));
        Ok(self)
    }

    /// Moves every event still in the inbox journal into the inbox table (as any read of the
    /// inbox does first); for a clean shutdown. A no-op without a journal.
    pub async fn fold_inbox_journal(&self) -> Result<(), tollgate_core::StoreError> {
        self.fold_journal().await
    }

    /// Makes the inbox journal refuse appends (a disk failure) until called with `false`.
    /// Returns whether this store has a journal.
    #[cfg(feature = "testing")]
    pub fn refuse_journal_writes(&self, refuse: bool) -> bool {
        match &self.journal {
            Some(journal) => {
                journal.file.refuse_writes(refuse);
                true
            }
            None => false,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    pub(crate) async fn applied_version(&self) -> Result<i64, sqlx::Error> {
        let row: (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.read)
                .await?;
        Ok(row.0.unwrap_or(0))
    }
}

#[async_trait]
impl HealthStore for SqlStore {
    async fn ready(&self) -> Result<(), tollgate_core::StoreError> {
        let applied = self.applied_version().await.map_err(db_error)?;
        let expected = migrator(self.backend())
            .migrations
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        if applied < expected {
            return Err(tollgate_core::StoreError::Unavailable(format!(
                "migrations pending: database at {applied}, this build expects {expected}"
            )));
        }
        Ok(())
    }
}

/// The file of a `sqlite:` URL prepared by `sqlite_url`.
fn sqlite_file(url: &str) -> PathBuf {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

/// Creates the database file's directory and adds `mode=rwc` so a first run creates the file.
fn sqlite_url(url: &str) -> Result<String, ConnectError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    if rest.starts_with(":memory:") {
        return Ok(url.to_string());
    }
    let path = rest.split('?').next().unwrap_or(rest);
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| ConnectError::Directory {
            path: parent.display().to_string(),
            source,
        })?;
    }
    if url.contains("mode=") {
        Ok(url.to_string())
    } else if url.contains('?') {
        Ok(format!("{url}&mode=rwc"))
    } else {
        Ok(format!("{url}?mode=rwc"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_recognised_by_scheme() {
        assert_eq!(Backend::of_url("sqlite://data/x.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://u@h/db"), None);
    }

    #[test]
    fn a_sqlite_url_is_opened_read_write_create() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/sub/t.db", dir.path().display());
        assert_eq!(sqlite_url(&url).expect("ok"), format!("{url}?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
    }

    /// 0008 rebuilds `users` on SQLite: the rows that reference users (sessions, API keys,
    /// credits…) must survive it, and the foreign keys must still hold afterwards.
    #[tokio::test]
    async fn rebuilding_users_keeps_the_rows_that_reference_them() {
        let database = crate::testing::TestDatabase::sqlite();
        let store = SqlStore::connect(&database.url, 2).await.expect("connect");
        let mut before_tenants = migrator(Backend::Sqlite);
        before_tenants.migrations = Cow::Owned(
            before_tenants
                .migrations
                .iter()
                .filter(|m| m.version < 8)
                .cloned()
                .collect(),
        );
        before_tenants
            .run(&store.write)
            .await
            .expect("migrate to 7");
        for statement in [
            "INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('u1', 'a@b.co', 'user', 1, 1)",
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ('h1', 'u1', 'c', 1, 2)",
        ] {
            sqlx::query(statement)
                .execute(&store.write)
                .await
                .expect(statement);
        }
        let later: Vec<i64> = migrator(Backend::Sqlite)
            .migrations
            .iter()
            .map(|m| m.version)
            .filter(|v| *v >= 8)
            .collect();
        assert_eq!(store.migrate().await.expect("migrate"), later);
        let (sessions,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE user_id = 'u1'")
                .fetch_one(&store.read)
                .await
                .expect("count");
        assert_eq!(sessions, 1, "the session outlived the rebuild");
        sqlx::query("INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('u2', 'c@d.co', 'tenant_admin', 1, 1)")
            .execute(&store.write)
            .await
            .expect("the new role is allowed");
        let orphan = sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ('h2', 'nobody', 'c', 1, 2)")
            .execute(&store.write)
            .await;
        assert!(orphan.is_err(), "foreign keys are enforced again");
        let stranger = sqlx::query("INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('u3', 'e@f.co', 'root', 1, 1)")
            .execute(&store.write)
            .await;
        assert!(stranger.is_err(), "the role check still holds");
        sqlx::query("DELETE FROM users WHERE id = 'u1'")
            .execute(&store.write)
            .await
            .expect("delete");
        let (sessions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions")
            .fetch_one(&store.read)
            .await
            .expect("count");
        assert_eq!(
            sessions, 0,
            "deletes cascade to the rebuilt table's sessions"
        );
    }
}

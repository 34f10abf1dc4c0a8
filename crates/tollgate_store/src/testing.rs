//! Throwaway databases for tests: a SQLite file in a temp dir always, and a fresh PostgreSQL
//! database per test when `TOLLGATE_TEST_POSTGRES_URL` names a server. Each is removed when
//! dropped; nothing else on the server is touched.

use sqlx::{Connection, Executor, PgConnection};

use crate::{Backend, SqlStore};

pub const POSTGRES_URL_VAR: &str = "TOLLGATE_TEST_POSTGRES_URL";

pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    /// For PostgreSQL: the server URL to connect to for the drop, and the database we created.
    created: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for a test database");
        let url = format!("sqlite://{}/tollgate.db", dir.path().display());
        Self {
            url,
            backend: Backend::Sqlite,
            created: None,
            _dir: Some(dir),
        }
    }

    /// A new, empty database on the server named by `server_url`.
    pub async fn postgres(server_url: &str) -> Self {
        let name = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(server_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} does not answer: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create a test database");
        conn.close().await.ok();
        Self {
            url: with_database(server_url, &name),
            backend: Backend::Postgres,
            created: Some((server_url.to_string(), name)),
            _dir: None,
        }
    }

    /// SQLite always; PostgreSQL too when the environment names a server.
    pub async fn all() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        if let Some(url) = postgres_url() {
            databases.push(Self::postgres(&url).await);
        }
        databases
    }

    pub async fn store(&self) -> SqlStore {
        let store = SqlStore::connect(&self.url, 5)
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
}

/// The same server URL with another database name in its path.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server_url, name)) = self.created.take() else {
            return;
        };
        // Drop runs outside any async context we can rely on: use a thread with its own runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping a test database");
            runtime.block_on(async move {
                let mut conn = PgConnection::connect(&server_url).await?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}

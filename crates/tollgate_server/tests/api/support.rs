//! Starting a server per test on its own database, and small request helpers.

use std::sync::Arc;

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tollgate_server::config::DatabaseUrl;
use tollgate_server::{Config, Running, serve};
use tollgate_store::SqlStore;
use tollgate_store::testing::TestDatabase;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub url: String,
    pub store: SqlStore,
    running: Running,
    _database: TestDatabase,
}

impl TestApp {
    pub async fn spawn(database: TestDatabase, configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::default();
        config.server.bind = "127.0.0.1:0".parse().expect("address");
        config.database.url = DatabaseUrl::new(database.url.clone());
        config.database.max_connections = 5;
        configure(&mut config);
        let store = serve::open_store(&config).await.expect("open the store");
        let running = serve::start(config, Arc::new(store.clone()))
            .await
            .expect("start the server");
        Self {
            url: running.url(),
            store,
            running,
            _database: database,
        }
    }

    /// One server per configured database, default configuration.
    pub async fn all() -> Vec<Self> {
        Self::all_with(|_| {}).await
    }

    pub async fn all_with(configure: impl Fn(&mut Config)) -> Vec<Self> {
        let mut apps = Vec::new();
        for database in TestDatabase::all().await {
            apps.push(Self::spawn(database, &configure).await);
        }
        apps
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn running(&self) -> &Running {
        &self.running
    }

    pub async fn stop(self) -> TestDatabase {
        self.running.shutdown().await;
        self.store.close().await;
        self._database
    }

    /// Signs up with a fresh cookie jar; returns the client and the session's CSRF token.
    pub async fn signup(&self, email: &str) -> (Client, String) {
        let client = browser();
        let response = client
            .post(self.url("/api/v1/auth/signup"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("signup request");
        assert_eq!(response.status(), StatusCode::CREATED, "signup of {email}");
        let body: Value = response.json().await.expect("json");
        let csrf = body["csrf_token"].as_str().expect("csrf token").to_string();
        (client, csrf)
    }
}

/// A client that keeps cookies, as a browser does.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

pub async fn error_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let body: Value = response.json().await.expect("an error body is JSON");
    (status, body["error"].clone())
}

//! Starting a server per test on its own database, and small request helpers.

use std::sync::Arc;

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tollgate_server::config::DatabaseUrl;
use tollgate_server::{Config, Running, serve};
use tollgate_store::SqlStore;
use tollgate_store::testing::TestDatabase;

/// The binary's local Stripe (the emulator), so tests start the service as `tollgate serve`.
#[path = "../../../tollgate/src/local_stripe.rs"]
mod local_stripe;

pub const PASSWORD: &str = "correct horse battery";
pub const TEST_WEBHOOK_SECRET: &str = "whsec_tests_know_this_one";

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
        // Each test's emulator keeps its state in memory only.
        config.emulator.state_file = String::new();
        // A secret the tests know, beside the one tollgate registers with its emulator.
        config.stripe.webhook_secrets =
            vec![tollgate_core::Secret::new(TEST_WEBHOOK_SECRET.to_string())];
        config.worker.poll_interval_ms = 50;
        configure(&mut config);
        let store = serve::open_serving_store(&config)
            .await
            .expect("open the store");
        let running = serve::start(config, Arc::new(store.clone()), &local_stripe::Emulator)
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

    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    pub fn running(&self) -> &Running {
        &self.running
    }

    pub async fn stop(self) -> TestDatabase {
        self.running.shutdown().await;
        self.store.close().await;
        self._database
    }

    /// The id of the user `client` is signed in as.
    pub async fn user_id(&self, client: &Client) -> tollgate_core::UserId {
        let me: Value = client
            .get(self.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        tollgate_core::UserId::parse(me["user"]["id"].as_str().expect("id")).expect("uuid")
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

/// Polls `check` until it returns `Some`, or fails the test after `seconds`.
pub async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Signs a body as Stripe does, with the secret the tests know.
pub fn stripe_signature(body: &str, timestamp: i64) -> String {
    tollgate_server::notify::signature(TEST_WEBHOOK_SECRET, timestamp, body)
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TestApp {
    /// Turns on the emulator's chaos knobs: each delivery duplicated with probability
    /// `duplicate`, and some reordered, delayed and failed on their first attempt.
    pub async fn set_chaos(&self, duplicate: &str) {
        let emulator = self.running().emulator_url().expect("emulated").to_string();
        let chaos = browser()
            .post(format!("{emulator}/_emulator/chaos"))
            .form(&[
                ("duplicate", duplicate),
                ("reorder", "0.3"),
                ("delay", "0.3"),
                ("delay_ms", "150"),
                ("fail_first_attempt", "0.3"),
            ])
            .send()
            .await
            .expect("set chaos");
        assert_eq!(chaos.status(), StatusCode::OK);
    }

    /// Pays a hosted checkout page with a test card, as a person submitting the form would.
    /// Returns the page's answer (303 to success_url, or 402 with the decline).
    pub async fn pay(&self, checkout_url: &str, card: &str) -> Response {
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        client
            .post(checkout_url)
            .form(&[
                ("action", "pay"),
                ("card_number", card),
                ("email", "payer@example.com"),
                ("name", "Test Payer"),
            ])
            .send()
            .await
            .expect("post the checkout form")
    }

    /// Starts a subscription checkout for the signed-in client; returns (session id, url).
    pub async fn start_checkout(&self, client: &Client, csrf: &str) -> (String, String) {
        let response = client
            .post(self.url("/api/v1/checkout/subscription"))
            .header("x-csrf-token", csrf)
            .json(&json!({ "plan": "membership" }))
            .send()
            .await
            .expect("checkout");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        (
            body["id"].as_str().expect("id").to_string(),
            body["url"].as_str().expect("url").to_string(),
        )
    }

    pub async fn summary(&self, client: &Client) -> Value {
        client
            .get(self.url("/api/v1/subscription"))
            .send()
            .await
            .expect("subscription")
            .json()
            .await
            .expect("json")
    }

    /// Waits until the member's seed-000 status is `status`.
    pub async fn wait_for_status(&self, client: &Client, status: &str) -> Value {
        self.wait_for_summary(client, status, |summary| {
            summary["subscription_status"] == status
        })
        .await
    }

    /// Waits until the member's subscription summary satisfies `done`; returns it.
    pub async fn wait_for_summary(
        &self,
        client: &Client,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let done = &done;
        eventually(30, what, || async move {
            let summary = self.summary(client).await;
            done(&summary).then_some(summary)
        })
        .await
    }
}

/// Creates an admin account directly and logs it in; returns its client and CSRF token.
pub async fn admin(app: &TestApp, email: &str) -> (Client, String) {
    tollgate_core::account::register(
        &app.store,
        &tollgate_core::SystemClock,
        &app.running().state.policy,
        &tollgate_core::password::InPlace,
        tollgate_core::account::Registration {
            email: tollgate_core::Email::parse(email).expect("email"),
            password: tollgate_core::Secret::new(PASSWORD.to_string()),
            role: tollgate_core::account::Role::Admin,
            actor: None,
            signup: tollgate_core::account::Signup::default(),
        },
    )
    .await
    .expect("admin");
    let client = browser();
    let login = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    let body: Value = login.json().await.expect("json");
    (
        client,
        body["csrf_token"].as_str().expect("csrf").to_string(),
    )
}

/// Waits until every event the emulator emitted was delivered, nothing new was attempted for a
/// while (retries come after a second), and the inbox has nothing left to process.
pub async fn settle(app: &TestApp) {
    let emulator = app.running().emulator_url().expect("emulated").to_string();
    let snapshot = || async {
        let log: Value = browser()
            .get(format!("{emulator}/_emulator/deliveries"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let records = log["data"].as_array()?.clone();
        let all: std::collections::BTreeSet<String> = records
            .iter()
            .filter_map(|d| d["event_id"].as_str().map(String::from))
            .collect();
        let delivered: std::collections::BTreeSet<String> = records
            .iter()
            .filter(|d| d["outcome"] == "succeeded")
            .filter_map(|d| d["event_id"].as_str().map(String::from))
            .collect();
        let received = tollgate_core::InboxStore::events(
            &app.store,
            Some(tollgate_core::inbox::EventStatus::Received),
            tollgate_core::store::Page {
                limit: 1,
                before: None,
            },
        )
        .await
        .ok()?;
        (all == delivered && received.is_empty()).then_some(records.len())
    };
    eventually(60, "deliveries and the inbox to settle", || async {
        let before = snapshot().await?;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let after = snapshot().await?;
        (before == after).then_some(())
    })
    .await;
}

/// Awaits the requests side by side (they overlap on the server); their statuses in order.
/// Polled in place: the requests borrow the test's callers, so they cannot be spawned.
pub async fn statuses_at_once<F>(requests: impl Iterator<Item = F>) -> Vec<StatusCode>
where
    F: std::future::Future<Output = reqwest::Response>,
{
    let mut pending: Vec<_> = requests.map(|r| Some(Box::pin(r))).collect();
    let mut statuses: Vec<Option<StatusCode>> = vec![None; pending.len()];
    std::future::poll_fn(|cx| {
        for (slot, status) in pending.iter_mut().zip(statuses.iter_mut()) {
            if let Some(request) = slot
                && let std::task::Poll::Ready(response) = request.as_mut().poll(cx)
            {
                *status = Some(response.status());
                *slot = None;
            }
        }
        if pending.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    statuses.into_iter().map(|s| s.expect("answered")).collect()
}

/// Starts a server that is expected to refuse to start; returns its error's text.
pub async fn start_error(config: Config, store: SqlStore) -> String {
    match serve::start(config, Arc::new(store), &local_stripe::Emulator).await {
        Ok(running) => {
            running.shutdown().await;
            panic!("the server started")
        }
        Err(error) => error.to_string(),
    }
}

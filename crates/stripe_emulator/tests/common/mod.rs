//! Test harness: an emulator on port 0, a form-posting Stripe client, and a webhook receiver.
#![allow(dead_code)]

pub mod npm;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use stripe_emulator::{EmulatorConfig, RunningEmulator, WebhookEndpointConfig};

pub const KEY: &str = "sk_test_emulator";

/// Where the tests' test clocks start: 2026-01-01T00:00:00Z.
pub const CLOCK_START: i64 = 1_767_225_600;

pub struct Emu {
    pub running: RunningEmulator,
    pub http: reqwest::Client,
}

pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        seed: Some(42),
        ..EmulatorConfig::default()
    }
}

impl Emu {
    pub async fn start() -> Emu {
        Emu::start_with(config()).await
    }

    pub async fn start_with(config: EmulatorConfig) -> Emu {
        let running = stripe_emulator::start(config)
            .await
            .expect("emulator starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Emu { running, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(KEY)
            .form(form)
            .send()
            .await
            .expect("post");
        (
            resp.status().as_u16(),
            resp.json().await.expect("json body"),
        )
    }

    /// POST as a connected account (`Stripe-Account`).
    pub async fn post_as(&self, acct: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(KEY)
            .header("Stripe-Account", acct)
            .form(form)
            .send()
            .await
            .expect("post");
        (
            resp.status().as_u16(),
            resp.json().await.expect("json body"),
        )
    }

    /// POST as a connected account that must succeed.
    pub async fn ok_as(&self, acct: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.post_as(acct, path, form).await;
        assert_eq!(status, 200, "POST {path} as {acct} failed: {body}");
        body
    }

    /// GET as a connected account (`Stripe-Account`).
    pub async fn get_as(&self, acct: &str, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(KEY)
            .header("Stripe-Account", acct)
            .send()
            .await
            .expect("get");
        (
            resp.status().as_u16(),
            resp.json().await.expect("json body"),
        )
    }

    /// A new Express account (no onboarding yet); returns its id.
    pub async fn express_account(&self, name: &str) -> String {
        let account = self
            .ok(
                "/v1/accounts",
                &[
                    ("type", "express"),
                    ("email", "tenant@example.com"),
                    ("business_profile[name]", name),
                    ("capabilities[card_payments][requested]", "true"),
                    ("capabilities[transfers][requested]", "true"),
                ],
            )
            .await;
        account["id"].as_str().expect("account id").to_owned()
    }

    /// A fresh onboarding link for `account`; returns its url.
    pub async fn onboarding_link(&self, account: &str) -> String {
        let link = self
            .ok(
                "/v1/account_links",
                &[
                    ("account", account),
                    ("type", "account_onboarding"),
                    ("refresh_url", "https://platform.test/refresh"),
                    ("return_url", "https://platform.test/return"),
                ],
            )
            .await;
        link["url"].as_str().expect("link url").to_owned()
    }

    /// Opens the onboarding page and posts `action` (`complete`, `pending`, `leave`); returns where it redirects.
    pub async fn onboard(&self, link: &str, action: &str) -> String {
        let page = self.http.get(link).send().await.expect("open link");
        assert_eq!(page.status().as_u16(), 200, "the onboarding page opens");
        let resp = self
            .http
            .post(link)
            .form(&[("action", action)])
            .send()
            .await
            .expect("submit");
        assert_eq!(resp.status().as_u16(), 303);
        resp.headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// An Express account that finished onboarding (charges and payouts enabled).
    pub async fn onboarded_account(&self, name: &str) -> String {
        let id = self.express_account(name).await;
        let link = self.onboarding_link(&id).await;
        self.onboard(&link, "complete").await;
        id
    }

    /// POST that must succeed; returns the object.
    pub async fn ok(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.post(path, form).await;
        assert_eq!(status, 200, "POST {path} failed: {body}");
        body
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("get");
        (
            resp.status().as_u16(),
            resp.json().await.expect("json body"),
        )
    }

    pub async fn fetch(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path} failed: {body}");
        body
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .delete(self.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("delete");
        (
            resp.status().as_u16(),
            resp.json().await.expect("json body"),
        )
    }

    /// Every event type so far, oldest first (paging through `GET /v1/events`).
    pub async fn event_types(&self) -> Vec<String> {
        self.events()
            .await
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub async fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/v1/events?limit=100&starting_after={a}"),
                None => "/v1/events?limit=100".to_owned(),
            };
            let page = self.fetch(&path).await;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data
                .last()
                .and_then(|e| e["id"].as_str().map(str::to_owned));
            all.extend(data);
            if page["has_more"] != true {
                break;
            }
        }
        all.reverse();
        all
    }

    /// Event types emitted after `skip` earlier ones.
    pub async fn event_types_since(&self, skip: usize) -> Vec<String> {
        self.event_types().await.into_iter().skip(skip).collect()
    }

    pub async fn product_and_price(
        &self,
        amount: &str,
        interval: Option<&str>,
    ) -> (String, String) {
        let product = self.ok("/v1/products", &[("name", "Pro")]).await;
        let pid = product["id"].as_str().expect("product id").to_owned();
        let mut form = vec![
            ("product", pid.as_str()),
            ("unit_amount", amount),
            ("currency", "usd"),
        ];
        if let Some(i) = interval {
            form.push(("recurring[interval]", i));
        }
        let price = self.ok("/v1/prices", &form).await;
        (pid, price["id"].as_str().expect("price id").to_owned())
    }

    /// Creates a checkout session; returns it.
    pub async fn checkout(&self, mode: &str, price: &str, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![
            ("mode", mode),
            ("line_items[0][price]", price),
            ("line_items[0][quantity]", "1"),
            (
                "success_url",
                "https://app.test/success?session={CHECKOUT_SESSION_ID}",
            ),
            ("cancel_url", "https://app.test/cancel"),
        ];
        form.extend_from_slice(extra);
        self.ok("/v1/checkout/sessions", &form).await
    }

    /// Posts the hosted checkout form with a card; returns (status, Location header, body).
    pub async fn pay(&self, session: &Value, card: &str) -> (u16, Option<String>, String) {
        let url = session["url"].as_str().expect("session url");
        let resp = self
            .http
            .post(url)
            .form(&[
                ("action", "pay"),
                ("card_number", card),
                ("email", "buyer@example.com"),
                ("name", "Ada"),
            ])
            .send()
            .await
            .expect("pay");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        (status, location, resp.text().await.unwrap_or_default())
    }

    /// A new test clock frozen at `frozen_time`; returns its id.
    pub async fn test_clock(&self, frozen_time: i64) -> String {
        let clock = self
            .ok(
                "/v1/test_helpers/test_clocks",
                &[("frozen_time", &frozen_time.to_string())],
            )
            .await;
        clock["id"].as_str().expect("clock").to_owned()
    }

    /// A customer on a new test clock, with a subscription paid by `card` through checkout.
    pub async fn subscribed_on_clock(
        &self,
        card: &str,
        extra: &[(&str, &str)],
    ) -> (String, String, String, i64) {
        let start = CLOCK_START;
        let clock_id = self.test_clock(start).await;
        let customer = self
            .ok(
                "/v1/customers",
                &[("email", "renew@example.com"), ("test_clock", &clock_id)],
            )
            .await;
        let cus = customer["id"].as_str().expect("customer").to_owned();
        let (_, price) = self.product_and_price("2000", Some("month")).await;
        let mut form = vec![("customer", cus.as_str())];
        form.extend_from_slice(extra);
        let session = self.checkout("subscription", &price, &form).await;
        let (status, _, body) = self.pay(&session, card).await;
        assert_eq!(status, 303, "checkout did not complete: {body}");
        let session = self
            .fetch(&format!(
                "/v1/checkout/sessions/{}",
                session["id"].as_str().expect("id")
            ))
            .await;
        (
            clock_id,
            cus,
            session["subscription"]
                .as_str()
                .expect("subscription")
                .to_owned(),
            start,
        )
    }

    pub async fn advance(&self, clock: &str, to: i64) -> Value {
        self.ok(
            &format!("/v1/test_helpers/test_clocks/{clock}/advance"),
            &[("frozen_time", &to.to_string())],
        )
        .await
    }
}

/// A webhook endpoint that records what it receives and answers with scripted statuses.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<(String, String)>>>,
    /// Statuses to answer, in order; after they run out, 200.
    pub script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let script: Arc<Mutex<Vec<u16>>> = Arc::default();
        let (r, s) = (received.clone(), script.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (r, s) = (r.clone(), s.clone());
                async move {
                    let sig = headers
                        .get("stripe-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    r.lock().expect("lock").push((sig, body));
                    let mut script = s.lock().expect("lock");
                    let status = if script.is_empty() {
                        200
                    } else {
                        script.remove(0)
                    };
                    axum::http::StatusCode::from_u16(status).expect("status")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Receiver {
            url: format!("http://{addr}/hook"),
            received,
            script,
        }
    }

    pub fn endpoint(&self, secret: &str) -> WebhookEndpointConfig {
        WebhookEndpointConfig {
            url: self.url.clone(),
            secret: secret.to_owned(),
            enabled_events: vec!["*".to_owned()],
            ..Default::default()
        }
    }

    /// The same endpoint as a Connect endpoint (`connect=true`): connected accounts' events only.
    pub fn connect_endpoint(&self, secret: &str) -> WebhookEndpointConfig {
        WebhookEndpointConfig {
            connect: true,
            ..self.endpoint(secret)
        }
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, b)| serde_json::from_str(b).expect("event json"))
            .collect()
    }

    /// Waits (with a deadline) until `n` deliveries arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<(String, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received.lock().expect("lock").clone();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The fast delivery settings tests use: retries after 50 ms, 100 ms, 200 ms, …
pub fn fast_delivery() -> stripe_emulator::DeliveryConfig {
    stripe_emulator::DeliveryConfig {
        max_attempts: 4,
        first_retry: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
    }
}

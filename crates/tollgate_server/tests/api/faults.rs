//! Stripe failing under the service (issue 24). A proxy between tollgate (in real-Stripe mode)
//! and the emulator answers every adapter call with 503, with 429 and `Retry-After`, or slowly.
//! Each gives the member a clear error with a stable code and no 2xx that lost work; nothing is
//! left half-written (no pending payment that nothing can settle); the process keeps serving;
//! and once Stripe answers again the same request succeeds, with one Stripe customer for the
//! member however many attempts there were (every retry carried the same idempotency key).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tollgate_store::testing::TestDatabase;

use crate::support::{TestApp, browser, error_of};

const KEY: &str = "sk_test_faults";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Pass,
    Unavailable,
    RateLimited,
    Slow,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    mode: Arc<Mutex<Mode>>,
    /// Idempotency keys seen per `METHOD path` of a create, in order.
    keys: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

async fn relay(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mode = *proxy.mode.lock().expect("mode");
    if let Some(key) = headers.get("idempotency-key").and_then(|k| k.to_str().ok()) {
        proxy
            .keys
            .lock()
            .expect("keys")
            .entry(format!("{method} {}", uri.path()))
            .or_default()
            .push(key.to_string());
    }
    let stripe_error = |status: StatusCode, kind: &str| {
        let body = json!({ "error": { "type": kind, "message": "injected by the test" } });
        (
            status,
            [("content-type", "application/json")],
            body.to_string(),
        )
    };
    match mode {
        Mode::Unavailable => {
            return stripe_error(StatusCode::SERVICE_UNAVAILABLE, "api_error").into_response();
        }
        Mode::RateLimited => {
            let mut answer =
                stripe_error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error").into_response();
            answer
                .headers_mut()
                .insert("retry-after", "1".parse().expect("header"));
            return answer;
        }
        Mode::Slow => tokio::time::sleep(Duration::from_millis(700)).await,
        Mode::Pass => {}
    }
    let mut request = reqwest::Client::new().request(
        method,
        format!(
            "{}{}",
            proxy.upstream,
            uri.path_and_query().map_or("", |p| p.as_str())
        ),
    );
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = request
        .body(body)
        .send()
        .await
        .expect("the emulator answers");
    let status = answer.status();
    let content_type = answer
        .headers()
        .get("content-type")
        .cloned()
        .unwrap_or_else(|| "application/json".parse().expect("header"));
    let bytes = answer.bytes().await.expect("body");
    (status, [("content-type", content_type)], bytes).into_response()
}

async fn start_proxy(upstream: &str) -> (String, Proxy) {
    let proxy = Proxy {
        upstream: upstream.to_string(),
        mode: Arc::new(Mutex::new(Mode::Pass)),
        keys: Arc::default(),
    };
    let app = axum::Router::new()
        .fallback(relay)
        .with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, proxy)
}

/// The emulator with the price real-Stripe mode looks up at start.
async fn stripe() -> stripe_emulator::RunningEmulator {
    let emulator = stripe_emulator::start(stripe_emulator::EmulatorConfig::default())
        .await
        .expect("emulator");
    crate::real_stripe::create_membership_price(emulator.base_url(), KEY, 4900).await;
    emulator
}

async fn buy(app: &TestApp, client: &reqwest::Client, csrf: &str) -> reqwest::Response {
    client
        .post(app.url("/api/v1/checkout/credits"))
        .header("x-csrf-token", csrf)
        .json(&json!({ "package": "credits_1000" }))
        .send()
        .await
        .expect("checkout")
}

/// Each of the member's payments: its status, and whether a Checkout Session is linked.
async fn payments(app: &TestApp, client: &reqwest::Client) -> Vec<(String, bool)> {
    let list: Value = client
        .get(app.url("/api/v1/payments"))
        .send()
        .await
        .expect("payments")
        .json()
        .await
        .expect("json");
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| {
            (
                p["status"].as_str().expect("status").to_string(),
                p["stripe_checkout_session_id"].is_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn stripe_failing_on_every_call_gives_clear_errors_and_loses_or_half_writes_nothing() {
    for database in TestDatabase::all().await {
        let emulator = stripe().await;
        let (proxy_url, proxy) = start_proxy(emulator.base_url()).await;
        let app = TestApp::spawn(database, |config| {
            config.stripe.secret_key = Some(tollgate_core::Secret::new(KEY.to_string()));
            config.stripe.api_base = Some(proxy_url.clone());
        })
        .await;
        let (client, csrf) = app.signup("faulty@example.com").await;
        let set = |mode| *proxy.mode.lock().expect("mode") = mode;

        // Before the member has a Stripe customer, and after: both Stripe calls of a purchase.
        for round in ["no customer yet", "a customer already"] {
            for (mode, code) in [
                (Mode::Unavailable, "service_unavailable"),
                (Mode::RateLimited, "stripe_rate_limited"),
            ] {
                set(mode);
                let started = Instant::now();
                let (status, error) = error_of(buy(&app, &client, &csrf).await).await;
                assert_eq!(
                    (status, error["code"].as_str()),
                    (StatusCode::SERVICE_UNAVAILABLE, Some(code)),
                    "{round}, {mode:?}: {error}"
                );
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{mode:?} answered within the adapter's retries"
                );
                let health = browser().get(app.url("/healthz")).send().await.expect("up");
                assert_eq!(health.status(), StatusCode::OK, "the process keeps serving");
                // Nothing half-written: no payment left pending without a session, which
                // nothing would ever settle.
                let listed = payments(&app, &client).await;
                assert!(
                    !listed.contains(&("pending".to_string(), false)),
                    "{round}, {mode:?}: {listed:?}"
                );
            }
            set(Mode::Slow);
            let slow = buy(&app, &client, &csrf).await;
            assert_eq!(
                slow.status(),
                StatusCode::CREATED,
                "{round}: slow is not down"
            );
        }
        set(Mode::Pass);
        let paid = buy(&app, &client, &csrf).await;
        assert_eq!(paid.status(), StatusCode::CREATED);

        // One customer for the member, whatever failed before; each failed call was retried
        // with one key, and a new purchase is a new key.
        let customers: Value = browser()
            .get(format!("{}/v1/customers?limit=100", emulator.base_url()))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("customers")
            .json()
            .await
            .expect("json");
        assert_eq!(customers["data"].as_array().expect("data").len(), 1);
        let keys = proxy.keys.lock().expect("keys").clone();
        let sessions = &keys["POST /v1/checkout/sessions"];
        let distinct: std::collections::BTreeSet<&String> = sessions.iter().collect();
        assert!(
            sessions.len() > distinct.len(),
            "failed session creations were retried with the same key: {sessions:?}"
        );
        let listed = payments(&app, &client).await;
        let count = |want: (&str, bool)| {
            listed
                .iter()
                .filter(|(status, session)| (status.as_str(), *session) == want)
                .count()
        };
        // Round one failed before any payment row; round two's two failures are canceled;
        // the two slow purchases and the last one are pending on their sessions.
        assert_eq!(count(("canceled", false)), 2, "{listed:?}");
        assert_eq!(count(("pending", true)), 3, "{listed:?}");
        assert_eq!(listed.len(), 5, "{listed:?}");
        app.stop().await;
        emulator.shutdown().await;
    }
}

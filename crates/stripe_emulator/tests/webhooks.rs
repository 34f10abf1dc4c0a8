//! Webhook delivery: signatures, retries with backoff, the delivery log, endpoints over the API, chaos knobs.

mod common;

use std::time::{Duration, Instant};

use common::{Emu, Receiver, fast_delivery};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use stripe_emulator::EmulatorConfig;

const SECRET: &str = "whsec_receiver_secret";

/// Verifies a `Stripe-Signature` header the way Stripe's libraries do, written here apart from the emulator's signer.
fn verify(header: &str, body: &str, secret: &str, now: i64) -> bool {
    let mut t = None;
    let mut v1s = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1s.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now - t > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    v1s.contains(&expected)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn emulator_with(receiver: &Receiver, tweak: impl FnOnce(&mut EmulatorConfig)) -> Emu {
    let mut config = common::config();
    config.webhook_endpoints = vec![receiver.endpoint(SECRET)];
    config.delivery = fast_delivery();
    tweak(&mut config);
    Emu::start_with(config).await
}

#[test]
fn the_public_signer_matches_the_shared_test_vector() {
    let body = include_bytes!("fixtures/signature-test-payload.json");
    assert_eq!(
        stripe_emulator::signature_header("whsec_test_secret", 1_700_000_000, body),
        "t=1700000000,v1=4a2a3f39402d4bd02442ede6e477b3cbea42955b23b6d2cdab72e5a256f346f1"
    );
    let text = std::str::from_utf8(body).expect("utf8");
    assert!(verify(
        "t=1700000000,v1=4a2a3f39402d4bd02442ede6e477b3cbea42955b23b6d2cdab72e5a256f346f1",
        text,
        "whsec_test_secret",
        1_700_000_100
    ));
}

#[tokio::test]
async fn every_delivery_is_signed_so_that_an_independent_verifier_accepts_it() {
    let receiver = Receiver::start().await;
    let emu = emulator_with(&receiver, |_| {}).await;
    emu.ok("/v1/customers", &[("email", "hook@example.com")])
        .await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let (sig, body) = &got[0];
    assert!(
        verify(sig, body, SECRET, unix_now()),
        "signature {sig} verifies"
    );
    assert!(
        !verify(sig, body, "whsec_other", unix_now()),
        "a different secret does not verify"
    );
    let tampered = body.replace("hook@example.com", "evil@example.com");
    assert!(!verify(sig, &tampered, SECRET, unix_now()));
    let event: Value = serde_json::from_str(body).expect("json");
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "customer.created");
    assert_eq!(event["data"]["object"]["email"], "hook@example.com");
    assert_eq!(event["pending_webhooks"], 1);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_with_growing_backoff_until_it_answers_2xx() {
    let receiver = Receiver::start().await;
    receiver.script.lock().expect("lock").extend([500, 503]);
    let emu = emulator_with(&receiver, |_| {}).await;
    let started = Instant::now();
    emu.ok("/v1/customers", &[]).await;
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "50 ms then 100 ms of backoff"
    );
    let ids: Vec<String> = receiver
        .bodies()
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "retries carry the same event id"
    );
    let log = emu
        .http
        .get(emu.url("/_emulator/deliveries"))
        .send()
        .await
        .expect("get")
        .json::<Value>()
        .await
        .expect("json");
    let attempts: Vec<(i64, Option<i64>, String)> = log["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| {
            (
                d["attempt"].as_i64().unwrap_or(0),
                d["status"].as_i64(),
                d["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        vec![
            (1, Some(500), "failed".into()),
            (2, Some(503), "failed".into()),
            (3, Some(200), "succeeded".into())
        ]
    );
}

#[tokio::test]
async fn delivery_gives_up_after_the_configured_attempts() {
    let receiver = Receiver::start().await;
    receiver.script.lock().expect("lock").extend([500; 10]);
    let emu = emulator_with(&receiver, |_| {}).await;
    emu.ok("/v1/customers", &[]).await;
    let got = receiver.wait_for(4).await;
    assert_eq!(got.len(), 4);
    // A fifth attempt would come 400 ms after the fourth.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        receiver.received.lock().expect("lock").len(),
        4,
        "no fifth attempt"
    );
}

#[tokio::test]
async fn endpoints_created_over_the_api_return_their_secret_once_and_get_only_enabled_events() {
    let receiver = Receiver::start().await;
    let emu = Emu::start_with(EmulatorConfig {
        delivery: fast_delivery(),
        ..common::config()
    })
    .await;
    let endpoint = emu
        .ok(
            "/v1/webhook_endpoints",
            &[
                ("url", &receiver.url),
                ("enabled_events[]", "customer.updated"),
                ("api_version", stripe_emulator::API_VERSION),
            ],
        )
        .await;
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(
        endpoint["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("we_"))
    );
    let fetched = emu
        .fetch(&format!(
            "/v1/webhook_endpoints/{}",
            endpoint["id"].as_str().expect("id")
        ))
        .await;
    assert!(
        fetched.get("secret").is_none(),
        "the secret is only shown on create"
    );
    let c = emu.ok("/v1/customers", &[]).await;
    emu.ok(
        &format!("/v1/customers/{}", c["id"].as_str().expect("id")),
        &[("name", "N")],
    )
    .await;
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.received.lock().expect("lock").len(), 1);
    assert_eq!(receiver.bodies()[0]["type"], "customer.updated");
    assert!(verify(&got[0].0, &got[0].1, &secret, unix_now()));
    let listed = emu.fetch("/v1/webhook_endpoints").await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    let (status, _) = emu
        .delete(&format!(
            "/v1/webhook_endpoints/{}",
            endpoint["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, 200);
    emu.ok(
        &format!("/v1/customers/{}", c["id"].as_str().expect("id")),
        &[("name", "M")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        receiver.received.lock().expect("lock").len(),
        1,
        "a deleted endpoint gets nothing"
    );
}

#[tokio::test]
async fn chaos_duplicate_delivers_every_event_twice() {
    let receiver = Receiver::start().await;
    let emu = emulator_with(&receiver, |c| c.chaos.duplicate = 1.0).await;
    emu.ok("/v1/customers", &[]).await;
    receiver.wait_for(2).await;
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["id"], bodies[1]["id"]);
}

#[tokio::test]
async fn chaos_fail_first_attempt_fails_once_then_delivers() {
    let receiver = Receiver::start().await;
    let emu = emulator_with(&receiver, |c| c.chaos.fail_first_attempt = 1.0).await;
    emu.ok("/v1/customers", &[]).await;
    receiver.wait_for(1).await;
    let log = emu
        .http
        .get(emu.url("/_emulator/deliveries"))
        .send()
        .await
        .expect("get")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(
        log["data"][0]["outcome"]
            .as_str()
            .map(|o| o.starts_with("failed")),
        Some(true)
    );
    assert_eq!(log["data"][0]["chaos"][0], "fail_first_attempt");
    assert_eq!(log["data"][1]["outcome"], "succeeded");
    assert_eq!(
        receiver.received.lock().expect("lock").len(),
        1,
        "the failed first attempt was never sent"
    );
}

#[tokio::test]
async fn chaos_delay_holds_deliveries_back() {
    let receiver = Receiver::start().await;
    let emu = emulator_with(&receiver, |c| {
        c.chaos.delay = 1.0;
        c.chaos.delay_ms = 300;
    })
    .await;
    let started = Instant::now();
    emu.ok("/v1/customers", &[]).await;
    receiver.wait_for(1).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// One subscription checkout (thirteen events from one request) under `reorder`; returns the emitted ids, the
/// arrival order, and the chaos the delivery log recorded per event.
async fn delivered_order(seed: u64) -> (Vec<String>, Vec<String>, Vec<(String, Value)>) {
    let receiver = Receiver::start().await;
    let emu = emulator_with(&receiver, |c| {
        c.seed = Some(seed);
        c.chaos.reorder = 0.5;
        // Held-back events wait a full second, far longer than delivering the others takes.
        c.chaos.delay_ms = 1000;
    })
    .await;
    let (_, price) = emu.product_and_price("4900", Some("month")).await;
    let before = emu.events().await.len();
    let session = emu.checkout("subscription", &price, &[]).await;
    let (status, _, _) = emu.pay(&session, "4242424242424242").await;
    assert_eq!(status, 303);
    let emitted: Vec<String> = emu
        .events()
        .await
        .iter()
        .skip(before)
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    receiver.wait_for(before + emitted.len()).await;
    // Earlier events (product, price) may be held back too: keep only this request's, in arrival order.
    let delivered: Vec<String> = receiver
        .bodies()
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .filter(|id| emitted.contains(id))
        .collect();
    let log = emu
        .http
        .get(emu.url("/_emulator/deliveries"))
        .send()
        .await
        .expect("get")
        .json::<Value>()
        .await
        .expect("json");
    let mut chaos: Vec<(String, Value)> = log["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| {
            (
                d["event_id"].as_str().unwrap_or_default().to_owned(),
                d["chaos"].clone(),
            )
        })
        .collect();
    chaos.sort_by(|a, b| a.0.cmp(&b.0));
    (emitted, delivered, chaos)
}

#[tokio::test]
async fn chaos_reorder_delivers_out_of_order_and_the_same_seed_repeats_it() {
    let (emitted, delivered, chaos) = delivered_order(7).await;
    assert_eq!(delivered.len(), emitted.len());
    assert_ne!(emitted, delivered, "some events overtook others");
    let mut sorted_e = emitted.clone();
    let mut sorted_d = delivered.clone();
    sorted_e.sort();
    sorted_d.sort();
    assert_eq!(sorted_e, sorted_d, "nothing lost, nothing added");
    let (emitted_again, delivered_again, chaos_again) = delivered_order(7).await;
    assert_eq!(emitted, emitted_again, "seeded ids repeat");
    assert_eq!(chaos, chaos_again, "seeded chaos decisions repeat");
    assert_eq!(delivered, delivered_again, "and so does the arrival order");
}

#[tokio::test]
async fn chaos_knobs_can_be_set_per_endpoint_at_runtime() {
    let receiver = Receiver::start().await;
    let quiet = Receiver::start().await;
    let emu = emulator_with(&receiver, |c| {
        c.webhook_endpoints.push(quiet.endpoint("whsec_quiet"))
    })
    .await;
    let endpoints = emu.fetch("/v1/webhook_endpoints").await;
    let noisy = endpoints["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|e| e["url"] == receiver.url.as_str())
        .expect("endpoint")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let resp = emu
        .http
        .post(emu.url("/_emulator/chaos"))
        .form(&[("endpoint", noisy.as_str()), ("duplicate", "1")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    emu.ok("/v1/customers", &[]).await;
    receiver.wait_for(2).await;
    quiet.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.received.lock().expect("lock").len(), 2);
    assert_eq!(quiet.received.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn an_endpoint_added_after_start_receives_signed_events() {
    let emu = Emu::start_with(EmulatorConfig {
        delivery: fast_delivery(),
        ..common::config()
    })
    .await;
    let receiver = Receiver::start().await;
    let id = emu.running.add_webhook_endpoint(receiver.endpoint(SECRET));
    assert!(id.starts_with("we_"));
    emu.ok("/v1/customers", &[]).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert!(verify(&got[0].0, &got[0].1, SECRET, unix_now()));
}

//! Event destinations and thin events: a second destination beside the snapshot endpoint, its own secret,
//! thin notifications that name the object to fetch (with `context` for a connected account).

mod common;

use common::{Emu, KEY, Receiver, config, fast_delivery};
use serde_json::{Value, json};
use stripe_emulator::{EmulatorConfig, WebhookEndpointConfig};

/// Whether `header` (`t=…,v1=…`) signs `body` with `secret`.
fn signed_with(header: &str, body: &str, secret: &str) -> bool {
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("timestamp");
    let v1 = header
        .split(',')
        .find_map(|p| p.strip_prefix("v1="))
        .expect("v1");
    stripe_emulator::sign(secret, t, body.as_bytes()) == v1
}

async fn v2_post(emu: &Emu, path: &str, body: &Value) -> (u16, Value) {
    let resp = emu
        .http
        .post(emu.url(path))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .expect("post");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

#[tokio::test]
async fn a_thin_destination_gets_signed_notifications_that_name_the_object_to_fetch() {
    let snapshot = Receiver::start().await;
    let thin = Receiver::start().await;
    let emu = Emu::start_with(EmulatorConfig {
        webhook_endpoints: vec![
            snapshot.endpoint("whsec_snapshot"),
            WebhookEndpointConfig {
                thin: true,
                ..thin.endpoint("whsec_thin")
            },
        ],
        delivery: fast_delivery(),
        ..config()
    })
    .await;
    let customer = emu.ok("/v1/customers", &[("email", "t@example.com")]).await;
    let cus = customer["id"].as_str().expect("id");

    let full = snapshot.wait_for(1).await;
    let full_event: Value = serde_json::from_str(&full[0].1).expect("json");
    assert_eq!(full_event["type"], "customer.created");
    assert_eq!(full_event["data"]["object"]["id"], cus);

    let got = thin.wait_for(1).await;
    let (sig, body) = &got[0];
    assert!(
        signed_with(sig, body, "whsec_thin"),
        "signed with its own secret"
    );
    assert!(
        !signed_with(sig, body, "whsec_snapshot"),
        "not with the other's"
    );
    let notice: Value = serde_json::from_str(body).expect("json");
    assert_eq!(notice["object"], "v2.core.event");
    assert_eq!(notice["type"], "v1.customer.created");
    assert!(
        notice.get("data").is_none(),
        "a thin event carries no snapshot"
    );
    assert_eq!(notice["related_object"]["id"], cus);
    assert_eq!(notice["related_object"]["type"], "customer");
    assert!(notice["context"].is_null());
    assert!(notice["created"].as_str().expect("created").ends_with('Z'));

    let fetched = emu
        .fetch(notice["related_object"]["url"].as_str().expect("url"))
        .await;
    assert_eq!(fetched["email"], "t@example.com");
    let (status, again) = emu
        .get(&format!(
            "/v2/core/events/{}",
            notice["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["related_object"], notice["related_object"]);
    let (_, listed) = emu.get(&format!("/v2/core/events?object_id={cus}")).await;
    assert_eq!(listed["data"][0]["id"], notice["id"]);
}

#[tokio::test]
async fn a_connect_thin_destination_names_the_account_as_context() {
    let receiver = Receiver::start().await;
    let emu = Emu::start_with(EmulatorConfig {
        delivery: fast_delivery(),
        ..config()
    })
    .await;
    let (status, destination) = v2_post(
        &emu,
        "/v2/core/event_destinations",
        &json!({
            "name": "tenants", "type": "webhook_endpoint", "event_payload": "thin",
            "events_from": ["@accounts"], "enabled_events": ["v1.account.updated"],
            "webhook_endpoint": { "url": receiver.url },
        }),
    )
    .await;
    assert_eq!(status, 200, "{destination}");
    let secret = destination["webhook_endpoint"]["signing_secret"]
        .as_str()
        .expect("secret shown on create")
        .to_owned();
    let (_, shown) = emu
        .get(&format!(
            "/v2/core/event_destinations/{}",
            destination["id"].as_str().expect("id")
        ))
        .await;
    assert!(shown["webhook_endpoint"]["signing_secret"].is_null());

    let acct = emu.onboarded_account("Thin tenant").await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "only account.updated was asked for");
    let (sig, body) = &got[0];
    assert!(signed_with(sig, body, &secret));
    let notice: Value = serde_json::from_str(body).expect("json");
    assert_eq!(notice["type"], "v1.account.updated");
    assert_eq!(notice["context"], acct.as_str());
    assert_eq!(notice["related_object"]["id"], acct.as_str());
    let fetched = emu
        .fetch(notice["related_object"]["url"].as_str().expect("url"))
        .await;
    assert_eq!(fetched["charges_enabled"], true);
    emu.ok("/v1/customers", &[("email", "platform@example.com")])
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        receiver.received.lock().expect("lock").len(),
        1,
        "the platform's own events do not reach an @accounts destination"
    );
}

#[tokio::test]
async fn event_destinations_are_validated() {
    let emu = Emu::start().await;
    let (status, e) = v2_post(
        &emu,
        "/v2/core/event_destinations",
        &json!({ "name": "x", "type": "webhook_endpoint", "enabled_events": ["*"], "webhook_endpoint": { "url": "http://127.0.0.1:9/" } }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "event_payload");
    let (status, _) = v2_post(
        &emu,
        "/v2/core/event_destinations",
        &json!({ "name": "x", "type": "webhook_endpoint", "event_payload": "thin", "events_from": ["everyone"], "enabled_events": ["*"], "webhook_endpoint": { "url": "http://127.0.0.1:9/" } }),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = emu.get("/v2/core/events/evt_test_nothing").await;
    assert_eq!(status, 404);
}

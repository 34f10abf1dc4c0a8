//! Determinism, reset and the state file.

mod common;

use common::Emu;
use stripe_emulator::EmulatorConfig;

#[tokio::test]
async fn the_same_seed_and_fixed_clock_give_identical_responses() {
    let config = || EmulatorConfig {
        seed: Some(99),
        fixed_time: Some(1_790_000_000),
        ..EmulatorConfig::default()
    };
    let a = Emu::start_with(config()).await;
    let b = Emu::start_with(config()).await;
    let ca = a
        .ok("/v1/customers", &[("email", "same@example.com")])
        .await;
    let cb = b
        .ok("/v1/customers", &[("email", "same@example.com")])
        .await;
    assert_eq!(ca, cb);
    assert_eq!(ca["created"], 1_790_000_000);
}

#[tokio::test]
async fn reset_forgets_every_object_but_keeps_configured_endpoints() {
    let emu = Emu::start_with(EmulatorConfig {
        webhook_endpoints: vec![stripe_emulator::WebhookEndpointConfig {
            url: "http://127.0.0.1:9/hook".into(),
            secret: "whsec_x".into(),
            enabled_events: vec![],
            ..Default::default()
        }],
        ..common::config()
    })
    .await;
    emu.ok("/v1/customers", &[]).await;
    let resp = emu
        .http
        .post(emu.url("/_emulator/reset"))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        emu.fetch("/v1/customers").await["data"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    assert!(
        emu.fetch("/v1/events").await["data"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    assert_eq!(
        emu.fetch("/v1/webhook_endpoints").await["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn a_restart_with_the_same_state_file_keeps_every_object() {
    let dir = std::env::temp_dir().join(format!("stripe-emulator-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("state.json");
    let _ = std::fs::remove_file(&file);
    let config = || EmulatorConfig {
        state_file: Some(file.clone()),
        ..common::config()
    };
    let first = Emu::start_with(config()).await;
    let (_, price) = first.product_and_price("4900", Some("month")).await;
    let session = first.checkout("subscription", &price, &[]).await;
    first.pay(&session, "4242424242424242").await;
    let sub = first.fetch("/v1/subscriptions").await["data"][0].clone();
    first.running.shutdown().await;

    let second = Emu::start_with(config()).await;
    let again = second
        .fetch(&format!(
            "/v1/subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(again, sub);
    let new = second.ok("/v1/customers", &[]).await;
    assert!(
        second.fetch("/v1/customers").await["data"]
            .as_array()
            .is_some_and(|d| d.len() == 2),
        "ids keep counting: {new}"
    );
    second.running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = Emu::start().await;
    let url = emu.url("/v1/customers");
    let http = emu.http.clone();
    emu.running.shutdown().await;
    assert!(http.get(url).bearer_auth(common::KEY).send().await.is_err());
}

#[tokio::test]
async fn a_checkout_session_expires_on_its_own_at_expires_at() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("1000", None).await;
    let start = 1_767_225_600;
    let clock = emu
        .ok(
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", &start.to_string())],
        )
        .await;
    let customer = emu
        .ok(
            "/v1/customers",
            &[("test_clock", clock["id"].as_str().expect("id"))],
        )
        .await;
    let session = emu
        .checkout(
            "payment",
            &price,
            &[
                ("customer", customer["id"].as_str().expect("id")),
                ("expires_at", &(start + 3600).to_string()),
            ],
        )
        .await;
    emu.advance(clock["id"].as_str().expect("id"), start + 7200)
        .await;
    let s = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{}",
            session["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(s["status"], "expired");
    assert!(
        emu.event_types()
            .await
            .contains(&"checkout.session.expired".to_owned())
    );
}

#[tokio::test]
async fn a_restart_with_a_new_webhook_secret_signs_with_the_new_one_and_keeps_api_endpoints() {
    let dir = std::env::temp_dir().join(format!("stripe-emulator-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("state.json");
    let _ = std::fs::remove_file(&file);
    let receiver = common::Receiver::start().await;
    let config = |secret: &str| EmulatorConfig {
        state_file: Some(file.clone()),
        webhook_endpoints: vec![receiver.endpoint(secret)],
        delivery: common::fast_delivery(),
        ..common::config()
    };
    let first = Emu::start_with(config("whsec_first")).await;
    first
        .ok(
            "/v1/webhook_endpoints",
            &[("url", "http://127.0.0.1:9/api"), ("enabled_events[]", "*")],
        )
        .await;
    first.ok("/v1/customers", &[]).await;
    receiver.wait_for(1).await;
    first.running.shutdown().await;

    let second = Emu::start_with(config("whsec_second")).await;
    let endpoints = second.fetch("/v1/webhook_endpoints").await;
    assert_eq!(
        endpoints["data"].as_array().map(Vec::len),
        Some(2),
        "the configured endpoint is replaced, the API one kept"
    );
    second.ok("/v1/customers", &[]).await;
    let got = receiver.wait_for(2).await;
    let (header, body) = &got[1];
    let t: i64 = header
        .split(',')
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("t");
    assert_eq!(
        header,
        &stripe_emulator::signature_header("whsec_second", t, body.as_bytes())
    );
    second.running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

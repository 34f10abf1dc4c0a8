//! Real deliveries from the emulator (whose signing code is not ours) pass our verification and envelope parsing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::HeaderMap;
use stripe_emulator::{DeliveryConfig, EmulatorConfig, WebhookEndpointConfig};
use time::OffsetDateTime;
use tollgate_core::stripe::{NewCustomer, StripeApi};
use tollgate_core::{Secret, UserId};
use tollgate_stripe::pacing::Pacing;
use tollgate_stripe::webhook::{
    DEFAULT_TOLERANCE, SignatureError, WebhookVerifier, parse_envelope,
};
use tollgate_stripe::{API_VERSION, StripeClient, StripeClientConfig};

const ENDPOINT_SECRET: &str = "whsec_adapter_endpoint";

/// One delivery: the `Stripe-Signature` header and the raw body.
type Deliveries = Arc<Mutex<Vec<(Option<String>, Bytes)>>>;

async fn receiver() -> Result<(String, Deliveries)> {
    let deliveries: Deliveries = Arc::default();
    let sink = deliveries.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let signature = headers
                    .get("stripe-signature")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                sink.lock().expect("lock").push((signature, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, deliveries))
}

/// Waits, with a deadline, for the delivery of an event of this type.
async fn delivery_of(deliveries: &Deliveries, event_type: &str) -> Result<(Option<String>, Bytes)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let needle = format!("\"type\":\"{event_type}\"");
    loop {
        let found = deliveries
            .lock()
            .expect("lock")
            .iter()
            .find(|(_, body)| {
                String::from_utf8_lossy(body)
                    .replace(' ', "")
                    .contains(&needle)
            })
            .cloned();
        if let Some(found) = found {
            return Ok(found);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no {event_type} delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_emulator_delivery_verifies_with_a_rotated_secret_list_and_yields_its_envelope()
-> Result<()> {
    let (url, deliveries) = receiver().await?;
    let emulator = stripe_emulator::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse()?,
        webhook_endpoints: vec![WebhookEndpointConfig {
            url,
            secret: ENDPOINT_SECRET.to_owned(),
            enabled_events: vec!["*".to_owned()],
            ..Default::default()
        }],
        delivery: DeliveryConfig {
            max_attempts: 2,
            first_retry: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
        },
        ..Default::default()
    })
    .await?;
    let mut config = StripeClientConfig::new(Secret::new("sk_test_webhooks".to_owned()));
    config.api_base = Some(emulator.base_url().to_owned());
    config.pacing = Pacing::OFF;
    let client = StripeClient::new(config)?;
    let customer = client
        .create_customer(&NewCustomer {
            user_id: UserId::new(),
            email: Some("hook@example.com".to_owned()),
            idempotency_key: "customer-hook".to_owned(),
            test_clock: None,
        })
        .await?;

    let (signature, body) = delivery_of(&deliveries, "customer.created").await?;
    let signature = signature.context("a Stripe-Signature header")?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let rotated = WebhookVerifier::new(
        vec![
            Secret::new("whsec_previous".to_owned()),
            Secret::new(ENDPOINT_SECRET.to_owned()),
        ],
        DEFAULT_TOLERANCE,
    );
    assert_eq!(rotated.verify(&body, Some(&signature), now), Ok(()));
    let stranger = WebhookVerifier::new(
        vec![Secret::new("whsec_previous".to_owned())],
        DEFAULT_TOLERANCE,
    );
    assert_eq!(
        stranger.verify(&body, Some(&signature), now),
        Err(SignatureError::Mismatch)
    );

    let envelope = parse_envelope(std::str::from_utf8(&body)?)?;
    assert!(envelope.id.as_str().starts_with("evt_"));
    assert_eq!(envelope.event_type, "customer.created");
    assert_eq!(envelope.object_id.as_deref(), Some(customer.as_str()));
    assert_eq!(envelope.object_type.as_deref(), Some("customer"));
    assert_eq!(envelope.api_version.as_deref(), Some(API_VERSION));
    assert_eq!(envelope.account, None);
    assert!(!envelope.livemode);
    assert!(
        (envelope.created - now).abs() < 60,
        "created {}",
        envelope.created
    );
    Ok(())
}

//! Notifications to the host application: signed like Stripe's webhooks, one per fact,
//! delivered from the outbox after the webhook was acknowledged.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, eventually};

type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A host application that records what it receives.
async fn host_app() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/hooks/billing",
            post(
                |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let signature = headers
                        .get("tollgate-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    received
                        .lock()
                        .expect("lock")
                        .push((signature, String::from_utf8_lossy(&body).into_owned()));
                    StatusCode::OK
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hooks/billing"), received)
}

fn types(received: &Received) -> Vec<String> {
    received
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|(_, body)| {
            serde_json::from_str::<Value>(body).ok()?["type"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

#[tokio::test]
async fn the_host_app_is_told_once_of_each_payment_and_of_the_end_with_a_stripe_style_signature() {
    const SECRET: &str = "whsec_host_app_secret";
    let (url, received) = host_app().await;
    for app in TestApp::all_with(|c| {
        c.notifications.webhook_urls = vec![url.clone()];
        c.notifications.webhook_secret = Some(tollgate_core::Secret::new(SECRET.to_string()));
    })
    .await
    {
        received.lock().expect("lock").clear();
        let (client, csrf) = app.signup("notified@example.com").await;
        let (_, checkout) = app.start_checkout(&client, &csrf).await;
        assert_eq!(
            app.pay(&checkout, "4242424242424242").await.status(),
            StatusCode::SEE_OTHER
        );
        app.wait_for_status(&client, "paid").await;
        eventually(30, "activation and payment notices", || async {
            let seen = types(&received);
            (seen.contains(&"subscription.activated".to_string())
                && seen.contains(&"payment.succeeded".to_string()))
            .then_some(())
        })
        .await;

        let cancel = client
            .post(app.url("/api/v1/subscription/cancel"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "at_period_end": false }))
            .send()
            .await
            .expect("cancel");
        assert_eq!(cancel.status(), StatusCode::OK);
        eventually(30, "the cancellation notice", || async {
            types(&received)
                .contains(&"subscription.canceled".to_string())
                .then_some(())
        })
        .await;
        // Late duplicates of the same facts must not produce more notices.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let mut seen = types(&received);
        seen.sort();
        assert_eq!(
            seen,
            vec![
                "payment.succeeded",
                "subscription.activated",
                "subscription.canceled"
            ],
            "one notice per fact"
        );

        for (signature, body) in received.lock().expect("lock").iter() {
            let timestamp: i64 = signature
                .split(',')
                .find_map(|part| part.strip_prefix("t="))
                .and_then(|t| t.parse().ok())
                .expect("a t= part");
            assert_eq!(
                signature,
                &tollgate_server::notify::signature(SECRET, timestamp, body),
                "verifiable like a Stripe webhook"
            );
            let event: Value = serde_json::from_str(body).expect("json");
            assert!(event["data"]["user_id"].is_string(), "{event}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn admins_are_emailed_when_a_payment_is_confirmed() {
    let (address, mut sessions) = crate::smtp::smtp_listener(crate::smtp::Behaviour::Accept).await;
    for app in TestApp::all_with(|c| {
        c.notifications.smtp.host = address.ip().to_string();
        c.notifications.smtp.port = address.port();
        c.notifications.smtp.tls = tollgate_server::mail::SmtpTls::None;
        c.notifications.smtp.from = "tollgate <billing@tollgate.test>".to_string();
    })
    .await
    {
        crate::support::admin(&app, "boss@example.com").await;
        let (client, csrf) = app.signup("payer@example.com").await;
        let (_, checkout) = app.start_checkout(&client, &csrf).await;
        assert_eq!(
            app.pay(&checkout, "4242424242424242").await.status(),
            StatusCode::SEE_OTHER
        );
        app.wait_for_status(&client, "paid").await;
        let mut subjects = Vec::new();
        while !subjects.iter().any(|s: &String| {
            s.starts_with("Subject: Payment confirmed for payer@example.com: 49.00 USD")
        }) {
            let session = tokio::time::timeout(std::time::Duration::from_secs(30), sessions.recv())
                .await
                .expect("an email before the deadline")
                .expect("the listener is running");
            assert_eq!(
                session.rcpt_to,
                ["boss@example.com"],
                "every admin, and only admins"
            );
            subjects.extend(
                session
                    .data
                    .lines()
                    .filter(|l| l.starts_with("Subject:"))
                    .map(String::from),
            );
        }
        app.stop().await;
    }
}

//! Requests per second for customer creation and checkout-session creation against an in-process emulator.
//!
//! `cargo run --release -p stripe_emulator --features bench --bin stripe_emulator_bench -- [REQUESTS] [CONCURRENCY]`
//! (defaults 5000 and 32). A feature-gated binary rather than an example, so that it does not build the test-only
//! dev-dependencies in release mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use stripe_emulator::{EmulatorConfig, start};

const KEY: &str = "sk_test_bench";

async fn run(
    label: &str,
    base: &str,
    requests: usize,
    concurrency: usize,
    form: Arc<Vec<(String, String)>>,
    path: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, next, form) = (client.clone(), next.clone(), form.clone());
        let url = format!("{base}{path}");
        workers.push(tokio::spawn(async move {
            let mut failures = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let resp = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .form(form.as_slice())
                    .send()
                    .await;
                if !resp.is_ok_and(|r| r.status().is_success()) {
                    failures += 1;
                }
            }
            failures
        }));
    }
    let mut failures = 0;
    for w in workers {
        failures += w.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label:<28} {requests:>7} requests  {concurrency:>3} concurrent  {:>9.0} req/s  ({failures} failed)",
        requests as f64 / secs
    );
    if failures > 0 {
        return Err(format!("{failures} requests failed").into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(32);
    let emulator = start(EmulatorConfig {
        seed: Some(1),
        ..EmulatorConfig::default()
    })
    .await?;
    let base = emulator.base_url().to_owned();
    let client = reqwest::Client::new();
    let price: serde_json::Value = client
        .post(format!("{base}/v1/prices"))
        .bearer_auth(KEY)
        .form(&[
            ("currency", "usd"),
            ("unit_amount", "4900"),
            ("recurring[interval]", "month"),
            ("product_data[name]", "Pro"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let price = price["id"].as_str().unwrap_or_default().to_owned();
    let customer_form = vec![
        ("email".to_owned(), "bench@example.com".to_owned()),
        ("metadata[userId]".to_owned(), "42".to_owned()),
    ];
    run(
        "POST /v1/customers",
        &base,
        requests,
        concurrency,
        Arc::new(customer_form),
        "/v1/customers",
    )
    .await?;
    let session_form = vec![
        ("mode".to_owned(), "subscription".to_owned()),
        ("line_items[0][price]".to_owned(), price),
        ("line_items[0][quantity]".to_owned(), "1".to_owned()),
        (
            "success_url".to_owned(),
            "https://app.test/ok?cs={CHECKOUT_SESSION_ID}".to_owned(),
        ),
        (
            "cancel_url".to_owned(),
            "https://app.test/cancel".to_owned(),
        ),
        ("client_reference_id".to_owned(), "user_42".to_owned()),
    ];
    run(
        "POST /v1/checkout/sessions",
        &base,
        requests,
        concurrency,
        Arc::new(session_form),
        "/v1/checkout/sessions",
    )
    .await?;
    emulator.shutdown().await;
    Ok(())
}

//! Failure modes the emulator cannot produce (5xx, 429, slow answers, refused connections), against a tiny scripted server: retries, backoff, timeouts and the idempotency key on every attempt.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode};
use tollgate_core::stripe::{NewCustomer, StripeApi, StripeCustomerId, StripeError};
use tollgate_core::{Secret, UserId};
use tollgate_stripe::pacing::Pacing;
use tollgate_stripe::{StripeClient, StripeClientConfig};

/// Stripe's example customer (`fixtures3.json`, `resources.customer`).
const CUSTOMER: &str = include_str!("fixtures/customer.json");
const FIXTURE_CUSTOMER_ID: &str = "cus_QXg1o8vcGmoR32";

/// One scripted answer: a status, and how long to wait before giving it.
#[derive(Clone, Copy)]
struct Answer {
    status: u16,
    delay: Duration,
}

const fn answer(status: u16) -> Answer {
    Answer {
        status,
        delay: Duration::ZERO,
    }
}

/// What the server saw: the connection (the client's address) and the headers of each request.
type Seen = Arc<Mutex<Vec<(SocketAddr, HeaderMap)>>>;

/// Answers with the script in order, then 200 with the customer fixture; records every request.
async fn scripted_stripe(script: Vec<Answer>) -> Result<(String, Seen)> {
    let seen: Seen = Arc::default();
    let script = Arc::new(Mutex::new(script));
    let recorded = seen.clone();
    let handler = move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap| {
        let (seen, script) = (recorded.clone(), script.clone());
        async move {
            let next = {
                let mut seen = seen.lock().expect("lock");
                seen.push((peer, headers));
                let mut script = script.lock().expect("lock");
                (!script.is_empty()).then(|| script.remove(0))
            };
            let Some(next) = next else {
                return (StatusCode::OK, CUSTOMER.to_owned());
            };
            tokio::time::sleep(next.delay).await;
            let body = match next.status {
                429 => {
                    r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#
                }
                404 => {
                    r#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"id","message":"No such customer"}}"#
                }
                200 => CUSTOMER,
                502 => "<html><body>Bad gateway</body></html>",
                _ => {
                    r#"{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}"#
                }
            };
            (
                StatusCode::from_u16(next.status).expect("a valid status"),
                body.to_owned(),
            )
        }
    };
    let app = axum::Router::new()
        .route("/v1/customers", axum::routing::post(handler.clone()))
        .route("/v1/customers/{id}", axum::routing::get(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Ok((base, seen))
}

fn config(base: &str, timeout: Duration) -> StripeClientConfig {
    StripeClientConfig {
        secret_key: Secret::new("sk_test_retry".to_owned()),
        api_base: Some(base.to_owned()),
        timeout,
        max_retries: 2,
        first_retry_delay: Duration::from_millis(20),
        pacing: Pacing::OFF,
    }
}

fn client(base: &str, timeout: Duration) -> Result<StripeClient> {
    Ok(StripeClient::new(config(base, timeout))?)
}

/// A client that sends at most five requests per second of each operation.
fn paced_client(base: &str) -> Result<StripeClient> {
    let mut config = config(base, Duration::from_secs(5));
    config.pacing = Pacing {
        per_second: 0,
        per_operation_per_second: 5,
    };
    Ok(StripeClient::new(config)?)
}

fn new_customer() -> NewCustomer {
    NewCustomer {
        user_id: UserId::new(),
        email: None,
        idempotency_key: "customer-for-user-7".to_owned(),
        test_clock: None,
    }
}

/// The idempotency key of each request, in order.
fn requests(seen: &Seen) -> Vec<Option<String>> {
    header(seen, "idempotency-key")
}

fn header(seen: &Seen, name: &str) -> Vec<Option<String>> {
    seen.lock()
        .expect("lock")
        .iter()
        .map(|(_, h)| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn calls_one_after_another_reuse_one_connection() -> Result<()> {
    // async-stripe's own client opened a connection (and against Stripe a TLS session) per call.
    let (base, seen) = scripted_stripe(vec![answer(500), answer(404)]).await?;
    let stripe = client(&base, Duration::from_secs(5))?;
    let customer = StripeCustomerId::parse(FIXTURE_CUSTOMER_ID)?;
    // 500 then 404: a retry and an error answer both leave the connection usable.
    assert!(matches!(
        stripe.customer(&customer).await,
        Err(StripeError::NotFound)
    ));
    stripe.customer(&customer).await?;
    stripe.create_customer(&new_customer()).await?;
    let peers: Vec<SocketAddr> = seen.lock().expect("lock").iter().map(|(p, _)| *p).collect();
    assert_eq!(peers.len(), 4);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one connection expected, saw {peers:?}"
    );
    Ok(())
}

// Pacing is asserted as a lower bound only: a sleep never ends early, however loaded the machine.
#[tokio::test]
async fn requests_of_one_operation_wait_for_their_turn() -> Result<()> {
    let (base, seen) = scripted_stripe(Vec::new()).await?;
    let stripe = paced_client(&base)?;
    let customer = StripeCustomerId::parse(FIXTURE_CUSTOMER_ID)?;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        stripe.customer(&customer).await?;
    }
    // At five per second the third retrieval leaves 400 ms after the first, at the earliest.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert_eq!(requests(&seen).len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_retry_waits_for_its_turn_too() -> Result<()> {
    // The 429 Stripe sends over its rate limit must not be answered by an immediate retry.
    let (base, seen) = scripted_stripe(vec![answer(429)]).await?;
    let started = std::time::Instant::now();
    paced_client(&base)?
        .create_customer(&new_customer())
        .await?;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert_eq!(requests(&seen).len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_server_error_is_retried_with_the_same_idempotency_key() -> Result<()> {
    let (base, seen) = scripted_stripe(vec![answer(500), answer(503)]).await?;
    let id = client(&base, Duration::from_secs(5))?
        .create_customer(&new_customer())
        .await?;
    assert_eq!(id.as_str(), FIXTURE_CUSTOMER_ID);
    let key = Some("customer-for-user-7".to_owned());
    assert_eq!(requests(&seen), vec![key.clone(), key.clone(), key]);
    Ok(())
}

#[tokio::test]
async fn a_gateway_error_without_a_json_body_is_retried() -> Result<()> {
    let (base, seen) = scripted_stripe(vec![answer(502)]).await?;
    let id = client(&base, Duration::from_secs(5))?
        .create_customer(&new_customer())
        .await?;
    assert_eq!(id.as_str(), FIXTURE_CUSTOMER_ID);
    assert_eq!(requests(&seen).len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_unavailable_after_the_retries() -> Result<()> {
    let (base, seen) = scripted_stripe(vec![answer(500); 3]).await?;
    let error = client(&base, Duration::from_secs(5))?
        .create_customer(&new_customer())
        .await
        .expect_err("three 500s");
    assert!(matches!(error, StripeError::Unavailable(_)), "{error:?}");
    assert_eq!(requests(&seen).len(), 3, "one attempt and two retries");
    Ok(())
}

#[tokio::test]
async fn a_rate_limit_that_outlasts_the_retries_is_rate_limited() -> Result<()> {
    let (base, seen) = scripted_stripe(vec![answer(429); 3]).await?;
    let error = client(&base, Duration::from_secs(5))?
        .create_customer(&new_customer())
        .await
        .expect_err("three 429s");
    assert_eq!(error, StripeError::RateLimited);
    assert_eq!(requests(&seen).len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_rate_limit_that_passes_is_retried_to_success() -> Result<()> {
    let (base, seen) = scripted_stripe(vec![answer(429)]).await?;
    let snapshot = client(&base, Duration::from_secs(5))?
        .customer(&StripeCustomerId::parse(FIXTURE_CUSTOMER_ID)?)
        .await?;
    assert_eq!(snapshot.id.as_str(), FIXTURE_CUSTOMER_ID);
    assert_eq!(
        requests(&seen),
        vec![None, None],
        "reads carry no idempotency key"
    );
    Ok(())
}

#[tokio::test]
async fn a_client_error_is_not_retried() -> Result<()> {
    let (base, seen) = scripted_stripe(vec![answer(404)]).await?;
    let error = client(&base, Duration::from_secs(5))?
        .customer(&StripeCustomerId::parse("cus_gone")?)
        .await
        .expect_err("404");
    assert_eq!(error, StripeError::NotFound);
    assert_eq!(requests(&seen).len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_retried_then_unavailable() -> Result<()> {
    let slow = Answer {
        status: 200,
        delay: Duration::from_secs(3),
    };
    let (base, seen) = scripted_stripe(vec![slow; 3]).await?;
    let started = std::time::Instant::now();
    let error = client(&base, Duration::from_millis(200))?
        .create_customer(&new_customer())
        .await
        .expect_err("every attempt times out");
    assert!(matches!(error, StripeError::Unavailable(_)), "{error:?}");
    assert_eq!(requests(&seen).len(), 3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() -> Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    drop(listener);
    let error = client(&base, Duration::from_secs(5))?
        .create_customer(&new_customer())
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, StripeError::Unavailable(_)), "{error:?}");
    assert!(!format!("{error:?}").contains("sk_test_retry"));
    Ok(())
}

#[tokio::test]
async fn every_request_names_the_pinned_api_version_and_authenticates_with_the_key() -> Result<()> {
    let (base, seen) = scripted_stripe(vec![]).await?;
    let c = client(&base, Duration::from_secs(5))?;
    c.create_customer(&new_customer()).await?;
    c.customer(&StripeCustomerId::parse(FIXTURE_CUSTOMER_ID)?)
        .await?;
    let pinned = Some(tollgate_stripe::API_VERSION.to_owned());
    assert_eq!(
        header(&seen, "stripe-version"),
        vec![pinned.clone(), pinned]
    );
    let bearer = Some("Bearer sk_test_retry".to_owned());
    assert_eq!(header(&seen, "authorization"), vec![bearer.clone(), bearer]);
    Ok(())
}

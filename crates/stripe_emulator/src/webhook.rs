//! Webhook endpoints and signed delivery: Stripe's `Stripe-Signature`, retries with exponential backoff, chaos.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::Shared;
use crate::api_error::ApiError;
use crate::config::ChaosConfig;
use crate::ledger::{DeliveryRecord, PLATFORM, State, template};
use crate::params::{Params, merge_metadata};

/// Hex HMAC-SHA256 of `"<t>.<body>"`, keyed with the endpoint secret exactly as given (`whsec_` included).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("BUG: HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Stripe-Signature` header value: `t=<unix>,v1=<hex>`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// One delivery attempt waiting in the worker's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub due: Instant,
    pub seq: u64,
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempt: u32,
    pub fail_unsent: bool,
    pub chaos: Vec<String>,
}

impl Ord for Job {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Registers a configured endpoint: a webhook endpoint, or a thin event destination; returns its id.
pub fn register_configured(
    st: &mut State,
    endpoint: &crate::config::WebhookEndpointConfig,
) -> String {
    let created = if endpoint.thin {
        let events = if endpoint.enabled_events.is_empty() {
            vec!["*".to_owned()]
        } else {
            endpoint.enabled_events.clone()
        };
        let from = if endpoint.connect {
            "@accounts"
        } else {
            "@self"
        };
        crate::event_destination::register(
            st,
            "configured",
            &endpoint.url,
            "thin",
            events,
            vec![from.to_owned()],
            endpoint.secret.clone(),
        )
    } else {
        register(
            st,
            &endpoint.url,
            endpoint.secret.clone(),
            endpoint.enabled_events.clone(),
            None,
            endpoint.connect,
        )
    };
    created["id"].as_str().unwrap_or_default().to_owned()
}

/// Creates a webhook endpoint object on the platform account.
pub fn register(
    st: &mut State,
    url: &str,
    secret: String,
    enabled_events: Vec<String>,
    api_version: Option<String>,
    connect: bool,
) -> Value {
    let id = st.new_id("we_");
    let mut endpoint = template("webhook_endpoint");
    endpoint["id"] = json!(id);
    endpoint["url"] = json!(url);
    endpoint["created"] = json!(st.now());
    endpoint["description"] = Value::Null;
    endpoint["api_version"] = json!(api_version);
    let events = if enabled_events.is_empty() {
        vec!["*".to_owned()]
    } else {
        enabled_events
    };
    endpoint["enabled_events"] = json!(events);
    if connect {
        // Stripe names the Connect application an endpoint listens for.
        endpoint["application"] = json!(crate::account::APPLICATION);
        st.connect.connect_endpoints.push(id.clone());
    }
    st.endpoint_secrets.insert(id, secret);
    st.put(PLATFORM, endpoint.clone());
    endpoint
}

pub fn create(st: &mut State, p: &Params) -> Result<Value, ApiError> {
    let url = p.required_str("url")?.to_owned();
    let events: Vec<String> = p
        .array("enabled_events")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if events.is_empty() {
        return Err(ApiError::missing("enabled_events"));
    }
    let secret = format!("whsec_{}{}", st.new_id(""), &st.new_id("")[..8]);
    let mut endpoint = register(
        st,
        &url,
        secret.clone(),
        events,
        p.str("api_version").map(str::to_owned),
        p.bool("connect")?.unwrap_or(false),
    );
    merge_metadata(&mut endpoint["metadata"], p.object("metadata"));
    if let Some(d) = p.str("description") {
        endpoint["description"] = json!(d);
    }
    st.put(PLATFORM, endpoint.clone());
    // Stripe returns the secret only in the response to create.
    endpoint["secret"] = json!(secret);
    Ok(endpoint)
}

pub fn update(st: &mut State, id: &str, p: &Params) -> Result<Value, ApiError> {
    let mut endpoint = st.get(PLATFORM, "webhook_endpoint", id)?;
    if let Some(url) = p.str("url") {
        endpoint["url"] = json!(url);
    }
    let events = p.array("enabled_events");
    if !events.is_empty() {
        endpoint["enabled_events"] = json!(events);
    }
    if let Some(disabled) = p.bool("disabled")? {
        endpoint["status"] = json!(if disabled { "disabled" } else { "enabled" });
    }
    merge_metadata(&mut endpoint["metadata"], p.object("metadata"));
    st.put(PLATFORM, endpoint.clone());
    Ok(endpoint)
}

pub fn delete(st: &mut State, id: &str) -> Result<Value, ApiError> {
    st.get(PLATFORM, "webhook_endpoint", id)?;
    st.remove(PLATFORM, "webhook_endpoint", id);
    st.endpoint_secrets.remove(id);
    st.connect.connect_endpoints.retain(|e| e != id);
    Ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}

fn wants(endpoint: &Value, event_type: &str) -> bool {
    endpoint["status"] == "enabled"
        && endpoint["enabled_events"]
            .as_array()
            .is_some_and(|evs| evs.iter().any(|e| e == "*" || e == event_type))
}

/// Turns the events a change emitted into delivery jobs, drawing chaos decisions from the seed.
pub fn plan(st: &mut State) -> Vec<Job> {
    let emitted = st.take_outbox();
    if emitted.is_empty() {
        return Vec::new();
    }
    let endpoints = st.all(PLATFORM, "webhook_endpoint");
    let now = Instant::now();
    let mut jobs = Vec::new();
    for (acct, event_id) in emitted {
        let Some(mut event) = st.find(&acct, &event_id).cloned() else {
            continue;
        };
        let event_type = event["type"].as_str().unwrap_or_default().to_owned();
        // Connected accounts' events go to Connect endpoints, the platform's own to the others
        // (https://docs.stripe.com/connect/webhooks).
        let connected = acct != PLATFORM;
        let snapshot: Vec<&Value> = endpoints
            .iter()
            .filter(|e| wants(e, &event_type))
            .filter(|e| {
                let is_connect = e["id"]
                    .as_str()
                    .is_some_and(|id| st.connect.connect_endpoints.iter().any(|c| c == id));
                is_connect == connected
            })
            .collect();
        // (endpoint or destination id, url, its own body if not the snapshot, the id the body carries)
        let mut targets: Vec<(String, String, Option<String>, String)> = snapshot
            .iter()
            .map(|e| {
                let id = e["id"].as_str().unwrap_or_default().to_owned();
                let url = e["url"].as_str().unwrap_or_default().to_owned();
                (id, url, None, event_id.clone())
            })
            .collect();
        targets.extend(crate::event_destination::deliveries(st, &acct, &event));
        event["pending_webhooks"] = json!(targets.len());
        st.put(&acct, event.clone());
        let snapshot_body = serde_json::to_string_pretty(&event).unwrap_or_default();
        for (endpoint_id, url, body, delivered_id) in targets {
            let payload = body.unwrap_or_else(|| snapshot_body.clone());
            let Some(secret) = st.endpoint_secrets.get(&endpoint_id).cloned() else {
                continue;
            };
            let chaos = st
                .endpoint_chaos
                .get(&endpoint_id)
                .cloned()
                .unwrap_or_else(|| st.chaos.clone());
            let mut applied = Vec::new();
            let mut due = now;
            if chaos.delay > 0.0 && st.chance("chaos.delay") < chaos.delay {
                due += Duration::from_millis(chaos.delay_ms);
                applied.push("delay".to_owned());
            }
            if chaos.reorder > 0.0 && st.chance("chaos.reorder") < chaos.reorder {
                // Held back long enough for the events after it to go first.
                due += Duration::from_millis(chaos.delay_ms.max(300));
                applied.push("reorder".to_owned());
            }
            let fail_unsent = chaos.fail_first_attempt > 0.0
                && st.chance("chaos.fail") < chaos.fail_first_attempt;
            if fail_unsent {
                applied.push("fail_first_attempt".to_owned());
            }
            let duplicate = chaos.duplicate > 0.0 && st.chance("chaos.duplicate") < chaos.duplicate;
            st.delivery_seq += 1;
            let job = Job {
                due,
                seq: st.delivery_seq,
                endpoint_id,
                url,
                secret,
                event_id: delivered_id,
                event_type: event_type.clone(),
                payload,
                attempt: 1,
                fail_unsent,
                chaos: applied.clone(),
            };
            if duplicate {
                st.delivery_seq += 1;
                let mut copy = job.clone();
                copy.seq = st.delivery_seq;
                copy.fail_unsent = false;
                copy.chaos = vec!["duplicate".to_owned()];
                jobs.push(job);
                jobs.push(copy);
            } else {
                jobs.push(job);
            }
        }
    }
    jobs
}

/// Delivers jobs in due order, one at a time, rescheduling failures with exponential backoff.
pub async fn run_worker(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let client = reqwest::Client::builder()
        .timeout(shared.config.delivery.timeout)
        .build()
        .unwrap_or_default();
    let mut queue: BinaryHeap<Reverse<Job>> = BinaryHeap::new();
    loop {
        let next_due = queue.peek().map(|Reverse(j)| j.due);
        tokio::select! {
            received = rx.recv() => match received {
                Some(job) => queue.push(Reverse(job)),
                None => return,
            },
            _ = sleep_until(next_due) => {
                let Some(Reverse(job)) = queue.pop() else { continue };
                if let Some(retry) = attempt(&shared, &client, job).await {
                    queue.push(Reverse(retry));
                }
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Sends one attempt and records it; returns the retry when there should be one.
async fn attempt(shared: &Shared, client: &reqwest::Client, mut job: Job) -> Option<Job> {
    let (status, outcome) = if job.fail_unsent {
        job.fail_unsent = false;
        (
            Some(500),
            "failed (chaos: first attempt failed, not sent)".to_owned(),
        )
    } else {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let sent = client
            .post(&job.url)
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .header(
                "stripe-signature",
                signature_header(&job.secret, t, job.payload.as_bytes()),
            )
            .body(job.payload.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                (Some(resp.status().as_u16()), "succeeded".to_owned())
            }
            Ok(resp) => (Some(resp.status().as_u16()), "failed".to_owned()),
            Err(error) => (
                None,
                format!(
                    "failed ({})",
                    if error.is_timeout() {
                        "timeout"
                    } else {
                        "connection error"
                    }
                ),
            ),
        }
    };
    let succeeded = outcome == "succeeded";
    {
        let mut st = shared.lock();
        let at = st.now();
        let id = st.deliveries.len() as u64 + 1;
        st.deliveries.push(DeliveryRecord {
            id,
            event_id: job.event_id.clone(),
            event_type: job.event_type.clone(),
            endpoint_id: job.endpoint_id.clone(),
            url: job.url.clone(),
            attempt: job.attempt,
            at,
            status,
            outcome: outcome.clone(),
            chaos: job.chaos.clone(),
        });
    }
    tracing::debug!(event.id = %job.event_id, endpoint = %job.url, attempt = job.attempt, %outcome, "webhook delivery");
    if succeeded || job.attempt >= shared.config.delivery.max_attempts {
        return None;
    }
    let backoff = shared.config.delivery.first_retry * 2u32.saturating_pow(job.attempt - 1);
    job.attempt += 1;
    job.due = Instant::now() + backoff;
    Some(job)
}

/// `POST /_emulator/chaos`: sets the global knobs, or one endpoint's with `endpoint=we_…`.
pub fn set_chaos(st: &mut State, p: &Params) -> Result<Value, ApiError> {
    let num = |key: &str| -> Result<Option<f64>, ApiError> {
        match p.str(key) {
            None => Ok(None),
            Some(s) => s
                .parse::<f64>()
                .map(Some)
                .map_err(|_| ApiError::invalid(key, "expected a number")),
        }
    };
    let mut chaos = match p.str("endpoint") {
        Some(id) => st
            .endpoint_chaos
            .get(id)
            .cloned()
            .unwrap_or_else(|| st.chaos.clone()),
        None => st.chaos.clone(),
    };
    if let Some(v) = num("duplicate")? {
        chaos.duplicate = v;
    }
    if let Some(v) = num("reorder")? {
        chaos.reorder = v;
    }
    if let Some(v) = num("delay")? {
        chaos.delay = v;
    }
    if let Some(v) = num("delay_ms")? {
        chaos.delay_ms = v as u64;
    }
    if let Some(v) = num("fail_first_attempt")? {
        chaos.fail_first_attempt = v;
    }
    if p.bool("clear")?.unwrap_or(false) {
        chaos = ChaosConfig::default();
    }
    match p.str("endpoint") {
        Some(id) => {
            st.get(PLATFORM, "webhook_endpoint", id)?;
            st.endpoint_chaos.insert(id.to_owned(), chaos.clone());
        }
        None => st.chaos = chaos.clone(),
    }
    Ok(serde_json::to_value(chaos).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_shared_test_vector() {
        let body = include_bytes!("../tests/fixtures/signature-test-payload.json");
        assert_eq!(body.len(), 137);
        assert_eq!(
            sign("whsec_test_secret", 1_700_000_000, body),
            "4a2a3f39402d4bd02442ede6e477b3cbea42955b23b6d2cdab72e5a256f346f1"
        );
        assert!(
            signature_header("whsec_test_secret", 1_700_000_000, body)
                .starts_with("t=1700000000,v1=4a2a3f")
        );
    }
}

//! Firing the plan at `POST /api/v1/stripe/webhook` over keep-alive connections, timing each request and checking each answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::events::{Kind, Plan, signature, unix_now};

/// What the firing phase saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub elapsed: Duration,
    /// One per request that got an answer, sorted.
    pub latencies: Vec<Duration>,
    /// Answers by status code; transport failures under `error`.
    pub statuses: BTreeMap<String, usize>,
    /// 2xx answers.
    pub acknowledged: usize,
    /// 2xx answers that said `"duplicate":true`.
    pub acknowledged_duplicates: usize,
    /// Answers other than expected (2xx for events and re-sends, 400 for forgeries).
    pub mismatches: usize,
    pub mismatch_examples: Vec<String>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.acknowledged += other.acknowledged;
        self.acknowledged_duplicates += other.acknowledged_duplicates;
        self.mismatches += other.mismatches;
        for example in other.mismatch_examples {
            if self.mismatch_examples.len() < 5 {
                self.mismatch_examples.push(example);
            }
        }
    }

    /// The latency at quantile `q` (0 to 1), nearest rank.
    pub fn latency(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank =
            ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }
}

/// Sends every delivery of `plan`, `concurrency` at a time, each worker on its own keep-alive
/// connection; signs each just before sending, so timestamps are fresh however long the run.
/// Sends the plan's deliveries, `concurrency` at a time; sender `i` keeps to `base_urls[i % n]`.
pub async fn fire(
    base_urls: &[String],
    secret: &str,
    plan: Arc<Plan>,
    concurrency: usize,
) -> anyhow::Result<Outcome> {
    let forger = format!("whsec_forged_{:032x}", rand::random::<u128>());
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for sender in 0..concurrency {
        let url = format!(
            "{}/api/v1/stripe/webhook",
            base_urls[sender % base_urls.len()]
        );
        let (client, next, plan) = (client.clone(), next.clone(), plan.clone());
        let (secret, forger) = (secret.to_string(), forger.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Outcome::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(delivery) = plan.deliveries.get(index) else {
                    break;
                };
                let body = &plan.bodies[delivery.body];
                let key = if delivery.kind == Kind::Forgery {
                    &forger
                } else {
                    &secret
                };
                let header = signature(key, unix_now(), body);
                let sent = Instant::now();
                let answer = async {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("stripe-signature", header)
                        .body(body.clone())
                        .send()
                        .await?;
                    let status = response.status();
                    let text = response.bytes().await?;
                    Ok::<_, reqwest::Error>((status, text))
                }
                .await;
                let (status, success, duplicate) = match answer {
                    Ok((status, text)) => {
                        seen.latencies.push(sent.elapsed());
                        let duplicate = text.windows(16).any(|w| w == b"\"duplicate\":true");
                        (status.as_u16().to_string(), status.is_success(), duplicate)
                    }
                    Err(e) => (format!("error ({})", short(&e)), false, false),
                };
                let expected = if delivery.kind.expects_success() {
                    success
                } else {
                    status == "400"
                };
                if success {
                    seen.acknowledged += 1;
                    seen.acknowledged_duplicates += usize::from(duplicate);
                }
                if !expected {
                    seen.mismatches += 1;
                    if seen.mismatch_examples.len() < 5 {
                        seen.mismatch_examples
                            .push(format!("{:?} got {status}", delivery.kind));
                    }
                }
                *seen.statuses.entry(status).or_default() += 1;
            }
            seen
        }));
    }
    let mut outcome = Outcome::default();
    for worker in workers {
        outcome.merge(worker.await?);
    }
    outcome.elapsed = started.elapsed();
    outcome.latencies.sort_unstable();
    Ok(outcome)
}

fn short(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "transport"
    }
}

//! How an emulator is started: address, keys, webhook endpoints, determinism, chaos and billing settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything `start` needs. `Default` binds 127.0.0.1 on a free port and accepts any `sk_test_…` key.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Where to listen; port 0 picks a free port (see `RunningEmulator::local_addr`).
    pub bind: SocketAddr,
    /// Secret keys accepted in `Authorization: Bearer …`. Empty: any key starting with `sk_test_`.
    pub api_keys: Vec<String>,
    /// Endpoints that exist from the start (what `tollgate serve` registers for itself).
    pub webhook_endpoints: Vec<WebhookEndpointConfig>,
    /// Seed for ids and chaos decisions; `None` draws one at random.
    pub seed: Option<u64>,
    /// Freezes the emulator's clock at this unix time (deterministic mode); `None` follows the wall clock.
    pub fixed_time: Option<i64>,
    /// Snapshot file: loaded at start when it exists, written after every change and at shutdown.
    pub state_file: Option<PathBuf>,
    /// Base of the hosted pages' URLs (`url` on sessions); `None` uses `http://<local_addr>`.
    pub public_base_url: Option<String>,
    /// Webhook delivery: retries and their backoff.
    pub delivery: DeliveryConfig,
    /// Chaos applied to every endpoint that has no override of its own.
    pub chaos: ChaosConfig,
    /// Renewal retries and what happens after the last one.
    pub billing: BillingConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_keys: Vec::new(),
            webhook_endpoints: Vec::new(),
            seed: None,
            fixed_time: None,
            state_file: None,
            public_base_url: None,
            delivery: DeliveryConfig::default(),
            chaos: ChaosConfig::default(),
            billing: BillingConfig::default(),
        }
    }
}

impl std::fmt::Debug for EmulatorConfig {
    // Hand-written so that keys and webhook secrets never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("bind", &self.bind)
            .field(
                "api_keys",
                &format_args!("[{} redacted]", self.api_keys.len()),
            )
            .field("webhook_endpoints", &self.webhook_endpoints)
            .field("seed", &self.seed)
            .field("fixed_time", &self.fixed_time)
            .field("state_file", &self.state_file)
            .field("public_base_url", &self.public_base_url)
            .field("delivery", &self.delivery)
            .field("chaos", &self.chaos)
            .field("billing", &self.billing)
            .finish()
    }
}

/// A webhook endpoint configured at start.
#[derive(Clone, Default)]
pub struct WebhookEndpointConfig {
    pub url: String,
    /// The signing secret, `whsec_…`, used exactly as given.
    pub secret: String,
    /// Event types to send; `["*"]` (or empty) sends all.
    pub enabled_events: Vec<String>,
    /// A Connect endpoint (`connect=true`): it receives the events of connected accounts, and only those.
    pub connect: bool,
    /// Registered as an event destination with thin payloads (`v1.<type>` notifications naming the related
    /// object) instead of a snapshot webhook endpoint.
    pub thin: bool,
}

impl std::fmt::Debug for WebhookEndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointConfig")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("enabled_events", &self.enabled_events)
            .field("connect", &self.connect)
            .field("thin", &self.thin)
            .finish()
    }
}

/// Retries with exponential backoff: attempt n waits `first_retry * 2^(n-1)`.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Attempts in all, the first included. Stripe tries for three days; tests want seconds.
    pub max_attempts: u32,
    pub first_retry: Duration,
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 6,
            first_retry: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Misbehaviour injected into webhook delivery; every decision is drawn from the seed, so a run repeats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChaosConfig {
    /// Probability (0.0–1.0) that an event is delivered twice.
    pub duplicate: f64,
    /// Probability that an event is held back so that the next one overtakes it.
    pub reorder: f64,
    /// Probability that a delivery is delayed by `delay_ms`.
    pub delay: f64,
    pub delay_ms: u64,
    /// Probability that the first attempt is recorded as failed (HTTP 500) without being sent.
    pub fail_first_attempt: f64,
}

/// What happens to a subscription whose renewal keeps failing, like Stripe's "manage failed payments" settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingConfig {
    /// Days after the first failure on which the payment is retried.
    pub retry_days: Vec<i64>,
    /// After the last retry fails: `Cancel` (default) or `Unpaid`.
    pub final_action: FinalAction,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            retry_days: vec![3, 5, 7],
            final_action: FinalAction::Cancel,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAction {
    Cancel,
    Unpaid,
}

//! `[worker]` and `[notifications]`: the background worker and the emails it sends.

use serde::{Deserialize, Serialize};
use tollgate_core::Secret;

/// The background workers that process the webhook inbox and deliver notifications.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Run the workers in this instance. Off: this instance only acknowledges webhooks and
    /// serves the API, and another instance on the same PostgreSQL does the work.
    pub enabled: bool,
    /// How often an idle worker looks for due work, in milliseconds.
    pub poll_interval_ms: u64,
    /// Events one claim takes.
    pub batch_size: u32,
    /// Batches in progress at once. Each claims its own events (a lease), so one batch waiting
    /// on Stripe does not hold up the next; on PostgreSQL they skip each other's rows.
    pub concurrency: u32,
    /// Attempts before an event is marked failed.
    pub max_attempts: u32,
    /// A refund whose Stripe call got no answer (the process stopped, Stripe was unreachable)
    /// is asked for again once it is this old, with the same idempotency key; the sweep runs
    /// this often too.
    pub unsent_refund_after_seconds: u64,
    /// How long a claimed event or notification is an instance's before another may take it:
    /// what a crashed instance's work waits before the others finish it. Longer than the
    /// slowest Stripe call, or two instances work on the same event (harmless, but wasted).
    pub lease_seconds: u64,
}

impl WorkerConfig {
    pub fn lease(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.lease_seconds).unwrap_or(i64::MAX))
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 500,
            batch_size: 32,
            concurrency: 2,
            max_attempts: tollgate_core::inbox::MAX_ATTEMPTS,
            unsent_refund_after_seconds: 30,
            lease_seconds: 120,
        }
    }
}

/// Where notifications of billing facts go (payment confirmed, payment failed, subscription ended).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Host-application URLs that receive signed JSON events.
    pub webhook_urls: Vec<String>,
    /// The `whsec_…` secret those events are signed with, as Stripe signs its own.
    pub webhook_secret: Option<Secret>,
    /// Email to every admin (seed 000's `notifyAdmin`); an empty host turns email off.
    pub smtp: crate::mail::SmtpConfig,
}

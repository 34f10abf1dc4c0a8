//! Client-side pacing of Stripe requests. Stripe answers 429 to requests over its rate limits
//! (live mode: 100 per second per account and 25 per second per API operation; test mode: 25
//! per second), and the worker fetches one object per event: a backlog of a few thousand events
//! would otherwise arrive as a burst, be refused, and burn every event's retries. Pacing makes
//! each request wait for its turn instead, so a backlog drains at the rate Stripe accepts.
//!
//! Each request reserves the next free slot of two schedules, the account's and its
//! operation's, and sleeps until then (a generic cell rate algorithm with no burst): an idle
//! client never waits, and a waiting request that is dropped only wastes its slot.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Requests per second a client may send; 0 turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// All requests together (Stripe's per-account limit).
    pub per_second: u32,
    /// Requests of one API operation, e.g. "retrieve invoice" (Stripe's per-endpoint limit).
    pub per_operation_per_second: u32,
}

impl Pacing {
    /// No pacing: for the emulator, or any API base that is not Stripe's.
    pub const OFF: Self = Self {
        per_second: 0,
        per_operation_per_second: 0,
    };

    /// Stripe's published limits with a fifth of headroom, which Stripe asks for ("treat the
    /// limits as maximums") and which leaves room for other clients of the same account.
    pub fn stripe(live: bool) -> Self {
        Self {
            per_second: if live { 80 } else { 20 },
            per_operation_per_second: 20,
        }
    }
}

/// The shared schedule of one client (every clone of a `StripeClient` shares it).
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Option<Duration>,
    operation_interval: Option<Duration>,
    next: Mutex<Slots>,
}

/// The earliest free slot of the account's schedule and of each operation's.
#[derive(Debug, Default)]
struct Slots {
    any: Option<Instant>,
    operations: HashMap<&'static str, Instant>,
}

fn interval(per_second: u32) -> Option<Duration> {
    (per_second > 0).then(|| Duration::from_secs(1) / per_second)
}

impl Pacer {
    pub(crate) fn new(pacing: Pacing) -> Self {
        Self {
            interval: interval(pacing.per_second),
            operation_interval: interval(pacing.per_operation_per_second),
            next: Mutex::new(Slots::default()),
        }
    }

    /// Waits until `operation` may be sent.
    pub(crate) async fn wait_turn(&self, operation: &'static str) {
        if self.interval.is_none() && self.operation_interval.is_none() {
            return;
        }
        let slot = self.reserve(operation, Instant::now());
        tokio::time::sleep_until(slot).await;
    }

    /// Takes the first instant at or after `now` that both schedules allow, and moves both on.
    fn reserve(&self, operation: &'static str, now: Instant) -> Instant {
        // The lock is held for a few comparisons only, never across an await.
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let mut slot = now;
        if self.interval.is_some()
            && let Some(any) = next.any
        {
            slot = slot.max(any);
        }
        if self.operation_interval.is_some()
            && let Some(&own) = next.operations.get(operation)
        {
            slot = slot.max(own);
        }
        if let Some(interval) = self.interval {
            next.any = Some(slot + interval);
        }
        if let Some(interval) = self.operation_interval {
            next.operations.insert(operation, slot + interval);
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When each of `operations`, asked for one after the other at the start, may be sent.
    async fn turns(pacing: Pacing, operations: &[&'static str]) -> Vec<Duration> {
        let pacer = Pacer::new(pacing);
        let start = Instant::now();
        let mut turns = Vec::new();
        for operation in operations {
            pacer.wait_turn(operation).await;
            turns.push(start.elapsed());
        }
        turns
    }

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_of_one_operation_are_spaced_by_its_rate() {
        let pacing = Pacing {
            per_second: 100,
            per_operation_per_second: 10,
        };
        assert_eq!(
            turns(pacing, &["retrieve_invoice"; 4]).await,
            ms(&[0, 100, 200, 300])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn different_operations_share_the_account_rate() {
        let pacing = Pacing {
            per_second: 10,
            per_operation_per_second: 0,
        };
        assert_eq!(
            turns(
                pacing,
                &["retrieve_invoice", "retrieve_customer", "create_refund"]
            )
            .await,
            ms(&[0, 100, 200])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_operation_waits_for_its_own_schedule_and_the_account_one() {
        let pacing = Pacing {
            per_second: 20,
            per_operation_per_second: 5,
        };
        // b follows a by the account's 50 ms; the second a waits for its own 200 ms.
        assert_eq!(
            turns(pacing, &["a", "b", "a", "b"]).await,
            ms(&[0, 50, 200, 250])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_client_does_not_wait() {
        let pacer = Pacer::new(Pacing::stripe(false));
        pacer.wait_turn("retrieve_invoice").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let start = Instant::now();
        pacer.wait_turn("retrieve_invoice").await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn off_never_waits() {
        assert_eq!(turns(Pacing::OFF, &["a"; 5]).await, ms(&[0; 5]));
    }

    #[test]
    fn stripe_limits_keep_a_fifth_of_headroom() {
        assert_eq!(Pacing::stripe(true).per_second, 80);
        assert_eq!(Pacing::stripe(false).per_second, 20);
        assert_eq!(Pacing::stripe(true).per_operation_per_second, 20);
    }
}

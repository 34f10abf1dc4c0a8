//! The inbox worker: claims due events (a lease, so a crashed instance's events come back),
//! works out their changes from Stripe's current objects, applies them in one transaction,
//! records the outcomes of those that applied nothing in one statement per batch, and retries
//! failures with backoff until an event is marked failed.

use std::time::Duration;

use tollgate_core::connect_sync::Routed;
use tollgate_core::inbox::{self, EventStatus, InboxEvent, Settlement};
use tollgate_core::sync::SyncError;

use crate::state::AppState;

pub async fn run(state: AppState) {
    let idle = Duration::from_millis(state.config.worker.poll_interval_ms);
    loop {
        match drain_once(&state).await {
            Ok(0) => {
                // Sleep until a webhook wakes us, or the poll interval passes (retries come due).
                let _ = tokio::time::timeout(idle, state.inbox_wake.notified()).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "inbox worker cannot claim events");
                tokio::time::sleep(idle).await;
            }
        }
    }
}

/// Claims one batch and processes it; returns how many events it took.
pub async fn drain_once(state: &AppState) -> Result<usize, tollgate_core::StoreError> {
    let events = state
        .store
        .claim_events(
            state.clock.now(),
            state.config.worker.lease(),
            state.config.worker.batch_size,
        )
        .await?;
    let count = events.len();
    // Each event waits mostly on Stripe: fetch a batch's objects concurrently. Events of one
    // object may overlap; the store's synced_at guard keeps the newest fetch either way.
    let mut batch = tokio::task::JoinSet::new();
    for event in events {
        let state = state.clone();
        batch.spawn(async move { process(&state, &event).await });
    }
    // An event that applied changes is settled by its own transaction; the others' outcomes
    // are recorded together, one commit for the batch instead of one per event.
    let mut settlements = Vec::with_capacity(count);
    while let Some(outcome) = batch.join_next().await {
        if let Ok(Some(settlement)) = outcome {
            settlements.push(settlement);
        }
    }
    if let Err(e) = state
        .store
        .settle_events(&settlements, state.clock.now())
        .await
    {
        // The leases run out and other attempts happen: nothing is lost.
        tracing::warn!(events = settlements.len(), error = %e, "cannot record the events' outcomes");
    }
    Ok(count)
}

/// Processes one event: applies its changes (which settles it), or returns the outcome to record.
async fn process(state: &AppState, event: &InboxEvent) -> Option<Settlement> {
    // A test-mode event reaching a live instance (or the reverse) is signed and stored, but
    // it is about other money: it is never applied, and says why.
    if event.livemode != state.config.stripe.is_live() {
        tracing::warn!(stripe.event_id = %event.id, livemode = event.livemode, "event of the other mode: stored, not applied");
        return Some(Settlement {
            id: event.id.clone(),
            status: EventStatus::Ignored,
            error: Some(format!(
                "livemode is {} but tollgate runs with a {} key: not applied",
                event.livemode,
                if state.config.stripe.is_live() {
                    "live"
                } else {
                    "test"
                }
            )),
            next_attempt_at: None,
        });
    }
    let outcome = match &event.account {
        // A connected account's event goes to its tenant, or is settled as unrouted.
        Some(account) => match state.tenants().sync_event(event, account).await {
            Ok(Routed::Unrouted) => {
                tracing::warn!(stripe.event_id = %event.id, stripe.account = %account, "event of an account no tenant has: stored, not applied");
                return None;
            }
            Ok(Routed::Tenant(_)) => Ok(()),
            Err(e) => Err(e),
        },
        None => {
            let billing = state.billing();
            match billing.changes_for(event, &state.channels).await {
                Ok(changes) => billing
                    .apply_fetched::<SyncError>(Some(&event.id), &changes)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            }
        }
    };
    let settle = |status, error: String, next_attempt_at| {
        Some(Settlement {
            id: event.id.clone(),
            status,
            error: Some(error),
            next_attempt_at,
        })
    };
    match outcome {
        Ok(()) => {
            tracing::info!(stripe.event_id = %event.id, stripe.event_type = %event.event_type, "event applied");
            None
        }
        Err(SyncError::Skip(reason)) => {
            tracing::info!(stripe.event_id = %event.id, reason = %reason, "event ignored");
            settle(EventStatus::Ignored, reason, None)
        }
        Err(error) => {
            let message = error.to_string();
            if event.attempts >= state.config.worker.max_attempts {
                tracing::error!(stripe.event_id = %event.id, attempts = event.attempts, error = %message, "event failed for good; replay it once fixed");
                settle(EventStatus::Failed, message, None)
            } else {
                let next = state.clock.now() + inbox::backoff(event.attempts);
                tracing::warn!(stripe.event_id = %event.id, attempts = event.attempts, error = %message, "event will be retried");
                settle(EventStatus::Received, message, Some(next))
            }
        }
    }
}

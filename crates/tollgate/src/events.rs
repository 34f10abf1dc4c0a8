//! `tollgate events list` and `tollgate events replay`: the webhook inbox from the terminal.

use anyhow::Context;
use tollgate_core::InboxStore;
use tollgate_core::inbox::EventStatus;
use tollgate_core::store::Page;
use tollgate_core::stripe::StripeEventId;
use tollgate_server::{Config, serve};

use crate::Failure;

pub async fn list(config: Config, status: Option<String>, limit: u32) -> Result<(), Failure> {
    let status = status
        .map(|s| {
            EventStatus::parse(&s).ok_or_else(|| {
                Failure::Usage(format!(
                    "--status {s:?}: use received, processed, failed or ignored"
                ))
            })
        })
        .transpose()?;
    if !(1..=1000).contains(&limit) {
        return Err(Failure::Usage("--limit must be 1 to 1000".into()));
    }
    let store = serve::open_inbox_store(&config)
        .await
        .context("opening the database")?;
    let events = store
        .events(
            status,
            Page {
                limit,
                before: None,
            },
        )
        .await
        .context("listing events")?;
    store.close().await;
    if events.is_empty() {
        println!("no events");
    }
    for event in events {
        println!(
            "{}  {:<10}  {:<40}  attempts {}  {}{}",
            event.id,
            event.status.as_str(),
            event.event_type,
            event.attempts,
            event.received_at,
            event
                .last_error
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn replay(config: Config, id: Option<String>, failed: bool) -> Result<(), Failure> {
    let store = serve::open_inbox_store(&config)
        .await
        .context("opening the database")?;
    let now = time::OffsetDateTime::now_utc();
    let outcome = match (id, failed) {
        (_, true) => {
            let count = store
                .replay_failed(now)
                .await
                .context("replaying failed events")?;
            println!("queued {count} failed event(s) for processing");
            Ok(())
        }
        (Some(id), false) => {
            let id = StripeEventId::parse(&id)
                .map_err(|_| Failure::Usage(format!("{id:?} is not an event id (evt_…)")))?;
            if store
                .replay_event(&id, now)
                .await
                .context("replaying the event")?
            {
                println!("queued {id} for processing");
                Ok(())
            } else {
                Err(Failure::Runtime(anyhow::anyhow!("no event {id} is stored")))
            }
        }
        (None, false) => Err(Failure::Usage("name an event id or pass --failed".into())),
    };
    store.close().await;
    outcome
}

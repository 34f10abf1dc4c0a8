//! Group commit for the webhook inbox: deliveries that arrive together are written by one task
//! in one statement, and each is answered only once its batch is durable (invariant 4). A
//! store that groups them itself (the SQLite inbox journal's thread) is called directly.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tollgate_core::inbox::NewEvent;
use tollgate_core::{Store, StoreError};

/// The most deliveries written in one statement: about what Stripe or a load test keeps in flight.
const MAX_BATCH: usize = 64;
/// Deliveries waiting for the writer. A full queue makes requests wait their turn, not fail.
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<bool, StoreError>>;

/// A handle on the writer task; cheap to clone. The task ends when the last handle is dropped.
#[derive(Clone)]
pub enum InboxWriter {
    Batching(mpsc::Sender<(NewEvent, Reply)>),
    /// The store gathers concurrent deliveries into one commit by itself: a task in between
    /// would only add a hop.
    Direct(Arc<dyn Store>),
}

impl std::fmt::Debug for InboxWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Batching(_) => "InboxWriter::Batching",
            Self::Direct(_) => "InboxWriter::Direct",
        })
    }
}

impl InboxWriter {
    /// Starts the writer task on the current Tokio runtime, unless the store needs none.
    pub fn spawn(store: Arc<dyn Store>) -> Self {
        if store.groups_event_writes() {
            return Self::Direct(store);
        }
        let (queue, requests) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, requests));
        Self::Batching(queue)
    }

    /// Stores the event together with whatever else is waiting; `Ok(false)` when its id is
    /// already stored. Returns once the row is committed, or with an error when the batch
    /// could not be written (every delivery of a failed batch gets the error, so each is retried).
    pub async fn record(&self, event: NewEvent) -> Result<bool, StoreError> {
        let queue = match self {
            Self::Batching(queue) => queue,
            Self::Direct(store) => {
                let stored = store.record_events(vec![event]).await?;
                return Ok(stored.first().copied().unwrap_or(false));
            }
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send((event, reply))
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the inbox writer has stopped".into())
}

/// Writes batches one after the other: while one is being committed, the next one gathers in
/// the queue, so the batch size follows the load (one event when idle, `MAX_BATCH` when busy)
/// and no delivery waits for a timer.
async fn write_batches(store: Arc<dyn Store>, mut requests: mpsc::Receiver<(NewEvent, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // The store takes the events (the SQLite journal hands them to its writing thread).
        let mut events = Vec::with_capacity(batch.len());
        for (event, reply) in batch.drain(..) {
            events.push(event);
            replies.push(reply);
        }
        let outcome = match store.record_events(events).await {
            Ok(stored) if stored.len() == replies.len() => Ok(stored),
            Ok(stored) => Err(StoreError::Corrupt(format!(
                "BUG: {} answers for a batch of {}",
                stored.len(),
                replies.len()
            ))),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(stored) => {
                for (reply, stored) in replies.drain(..).zip(stored) {
                    // A requester that went away needs no answer; its row is stored all the same.
                    let _ = reply.send(Ok(stored));
                }
            }
            Err(error) => {
                // Whatever refused the batch, each delivery answers 503 and Stripe retries it.
                let detail = error.to_string();
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(StoreError::Unavailable(detail.clone())));
                }
            }
        }
    }
}

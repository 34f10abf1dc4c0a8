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
        // Kept for a row-by-row retry, so that one unstorable event cannot fail the deliveries
        // that shared its batch (issue 24, finding 8). A batch of one needs none.
        let retry = (events.len() > 1).then(|| events.clone());
        let outcome = match store.record_events(events).await {
            Ok(stored) if stored.len() == replies.len() => Ok(stored),
            Ok(stored) => Err(StoreError::Corrupt(format!(
                "BUG: {} answers for a batch of {}",
                stored.len(),
                replies.len()
            ))),
            Err(error) => Err(error),
        };
        match (outcome, retry) {
            (Ok(stored), _) => {
                for (reply, stored) in replies.drain(..).zip(stored) {
                    // A requester that went away needs no answer; its row is stored all the same.
                    let _ = reply.send(Ok(stored));
                }
            }
            (Err(error), Some(events)) => {
                tracing::warn!(error = %error, events = events.len(), "a batch of webhook events failed; writing them one by one");
                record_one_by_one(store.as_ref(), events, replies.drain(..)).await;
            }
            (Err(error), None) => refuse(replies.drain(..), &error),
        }
    }
}

/// Writes each event of a failed batch alone: only the rows that fail again get the error.
/// When a row fails and the database does not answer `ready` either, it is an outage, not
/// that row: the rest answer 503 at once instead of each waiting for its own failure.
async fn record_one_by_one(
    store: &dyn Store,
    events: Vec<NewEvent>,
    replies: impl Iterator<Item = Reply>,
) {
    let mut pairs = events.into_iter().zip(replies);
    while let Some((event, reply)) = pairs.next() {
        match store.record_events(vec![event]).await {
            Ok(stored) => {
                let _ = reply.send(Ok(stored.first().copied().unwrap_or(false)));
            }
            Err(error) => {
                refuse(std::iter::once(reply), &error);
                if store.ready().await.is_err() {
                    refuse(pairs.map(|(_, reply)| reply), &error);
                    return;
                }
            }
        }
    }
}

/// Whatever refused the write, each delivery answers 503 and Stripe retries it.
fn refuse(replies: impl Iterator<Item = Reply>, error: &StoreError) {
    let detail = error.to_string();
    for reply in replies {
        let _ = reply.send(Err(StoreError::Unavailable(detail.clone())));
    }
}

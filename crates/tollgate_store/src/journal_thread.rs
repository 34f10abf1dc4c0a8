//! The thread that writes the inbox journal. Deliveries hand their events to it directly and
//! it commits whatever has gathered as one group: while it syncs one group the next one
//! queues, so the group size follows the load. Under load it also waits a little for each
//! group to fill (`GATHER_WAIT`); an idle journal writes each delivery at once.
//!
//! One thread, not a task that hands each group to `spawn_blocking`: under load it goes from
//! one group to the next without sleeping, where the task and the blocking pool woke each
//! other twice per group (docs/benchmarks.md). It also does each group's duplicate check, so
//! checks and appends stay in one order: an id is pending (`journal.rs`) from the moment its
//! group is synced, before the next group is checked.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tollgate_core::StoreError;
use tollgate_core::inbox::NewEvent;

use crate::Backend;
use crate::journal::{InboxJournal, Known};

/// The most events committed as one group: about what Stripe or a load test keeps in flight.
const MAX_GROUP: usize = 128;
/// A group at least this large means deliveries are arriving faster than groups are synced.
const BUSY_GROUP: usize = 8;
/// How long a busy journal waits for more of a group. Against 1–2 ms of latency per delivery
/// under load it gathers groups about twice as large and saves a tenth of the CPU per
/// delivery; longer waits start to cost throughput (docs/benchmarks.md).
const GATHER_WAIT: Duration = Duration::from_micros(250);

type Answer = Result<Vec<bool>, StoreError>;

struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Answer>,
}

/// Where the thread asks which ids are rows already, for the few the journal cannot rule out.
pub(crate) struct Rows {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// The runtime the pool's connections belong to.
    pub(crate) runtime: Handle,
}

/// A handle on the thread; the thread ends when it is dropped.
pub(crate) struct JournalThread {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for JournalThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalThread").finish_non_exhaustive()
    }
}

impl JournalThread {
    pub(crate) fn start(journal: Arc<InboxJournal>, rows: Rows) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("inbox-journal".into())
            .spawn(move || write_groups(&journal, &rows, &queue))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Journals the events with whatever else is waiting; per event, whether it is new (the
    /// same answers as `InboxStore::record_events`). Returns once the group is synced, or with the
    /// error that refused it, which every event of the group gets, so each is retried.
    pub(crate) async fn record(&self, events: Vec<NewEvent>) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(Job { events, reply }).ok())
            .ok_or_else(thread_gone)?;
        answer.await.map_err(|_| thread_gone())?
    }
}

impl Drop for JournalThread {
    /// Joined, so that the journal's lock is released when the store is dropped: a store
    /// opened next on the same file finds it free. Nothing is queued by then (each job's
    /// sender waits for its answer while holding the store).
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn thread_gone() -> StoreError {
    StoreError::Unavailable("the inbox journal's thread has stopped".into())
}

fn write_groups(journal: &InboxJournal, rows: &Rows, queue: &mpsc::Receiver<Job>) {
    let mut jobs = Vec::new();
    let mut previous = 0;
    while let Ok(first) = queue.recv() {
        let mut events = first.events.len();
        jobs.push(first);
        take_waiting(queue, &mut jobs, &mut events);
        if previous >= BUSY_GROUP && events < MAX_GROUP {
            // Under load more deliveries are on their way: a short wait lets them share this
            // group's write and sync instead of paying for the next ones (PostgreSQL's
            // `commit_delay`). A delivery that comes alone never waits.
            std::thread::sleep(GATHER_WAIT);
            take_waiting(queue, &mut jobs, &mut events);
        }
        previous = events;
        match write_group(journal, rows, &mut jobs) {
            Ok(answers) => {
                for (job, answer) in jobs.drain(..).zip(answers) {
                    // A requester that went away needs no answer; its events are synced all
                    // the same.
                    let _ = job.reply.send(Ok(answer));
                }
            }
            Err(error) => {
                let detail = error.to_string();
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Unavailable(detail.clone())));
                }
            }
        }
    }
}

/// Adds what is queued to the group, up to `MAX_GROUP` events.
fn take_waiting(queue: &mpsc::Receiver<Job>, jobs: &mut Vec<Job>, events: &mut usize) {
    while *events < MAX_GROUP {
        match queue.try_recv() {
            Ok(job) => {
                *events += job.events.len();
                jobs.push(job);
            }
            Err(_) => return,
        }
    }
}

/// Checks the group's ids, appends and syncs the new events; the answers per job. The events
/// are taken out of the jobs and moved into the journal's buffer, not copied.
fn write_group(
    journal: &InboxJournal,
    rows: &Rows,
    jobs: &mut [Job],
) -> Result<Vec<Vec<bool>>, StoreError> {
    // An id is pending in the journal until a fold has committed its row and remembered it as
    // stored, so it is always found in one or the other. Only ids the filter says may be rows
    // are looked up in the table.
    let mut answers: Vec<Vec<bool>> = Vec::with_capacity(jobs.len());
    let mut lookup = Vec::new();
    {
        let mut seen = HashSet::new();
        for job in jobs.iter() {
            let mut answer = Vec::with_capacity(job.events.len());
            for event in &job.events {
                let id = event.id.as_str();
                let known = if seen.insert(id) {
                    journal.classify(id)
                } else {
                    Known::Pending
                };
                answer.push(known != Known::Pending);
                if known == Known::MaybeStored {
                    lookup.push(id.to_string());
                }
            }
            answers.push(answer);
        }
    }
    if !lookup.is_empty() {
        let stored = rows
            .runtime
            .block_on(stored_event_ids(&rows.pool, rows.backend, &lookup))?;
        for (job, answer) in jobs.iter().zip(&mut answers) {
            for (event, new) in job.events.iter().zip(answer.iter_mut()) {
                *new = *new && !stored.contains(event.id.as_str());
            }
        }
    }
    let mut fresh = Vec::new();
    for (job, answer) in jobs.iter_mut().zip(&answers) {
        fresh.extend(
            std::mem::take(&mut job.events)
                .into_iter()
                .zip(answer)
                .filter_map(|(event, new)| new.then_some(event)),
        );
    }
    if !fresh.is_empty() {
        journal
            .append(&fresh)
            .map_err(crate::inbox::journal_error)?;
    }
    Ok(answers)
}

/// Which of these ids are rows already.
async fn stored_event_ids(
    pool: &AnyPool,
    backend: Backend,
    ids: &[String],
) -> Result<HashSet<String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let mut sql = String::from("SELECT id FROM stripe_events WHERE id IN (VALUES ");
    crate::columns::push_values(&mut sql, backend, ids.len(), 1);
    sql.push(')');
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id.as_str());
    }
    query
        .fetch_all(pool)
        .await
        .map_err(crate::columns::db_error)?
        .iter()
        .map(|row| crate::columns::get::<String>(row, "id"))
        .collect()
}

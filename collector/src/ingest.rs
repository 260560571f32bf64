//! Group commit: handlers hand events to one writer thread over a channel; the writer takes
//! everything queued (up to [`MAX_BATCH`]), stores it in one transaction — one disk sync — and
//! only then answers each handler. A handler acknowledges its beacon after that answer, so an
//! acknowledged event is on disk.
//!
//! ```text
//!  handler ─┐                          ┌─ reply ─> handler: 204 / GIF
//!  handler ─┼─> [ channel ] ─> writer ─┼─ reply ─> handler
//!  handler ─┘     (bounded)   BEGIN…COMMIT
//! ```

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use crate::event::NewEvent;
use crate::store::{InsertOutcome, Store};

/// Largest group commit.
pub const MAX_BATCH: usize = 2048;
/// Beacons that may wait for the writer before handlers wait for room (back-pressure).
pub const QUEUE_CAPACITY: usize = 16 * 1024;

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Reply>,
}

/// The writer's answer, with the event handed back: the handler frees it on its own thread.
/// Freed on the writer, every string of every event went back to the allocator arena of the
/// worker that made it, under that arena's lock, while the workers were allocating in it.
type Reply = (Result<InsertOutcome, String>, NewEvent);

/// Why an event was not stored.
#[derive(Debug)]
pub enum IngestError {
    /// The writer has stopped (shutdown).
    Closed,
    /// The store failed the transaction.
    Store(String),
}

/// The handlers' side of the group commit.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
}

impl Ingest {
    /// Start the writer thread. `commits` is bumped after each commit that stored something,
    /// to wake the relay.
    pub fn start(
        store: Arc<dyn Store>,
        commits: watch::Sender<u64>,
    ) -> std::io::Result<(Ingest, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let handle = std::thread::Builder::new()
            .name("collector-writer".into())
            .spawn(move || writer(store, rx, commits))?;
        Ok((Ingest { tx }, handle))
    }

    /// Store `event`; resolves after the transaction that holds it has committed.
    pub async fn submit(&self, event: NewEvent) -> Result<InsertOutcome, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { event, reply })
            .await
            .map_err(|_| IngestError::Closed)?;
        match answer.await {
            Ok((Ok(outcome), _event)) => Ok(outcome),
            Ok((Err(e), _event)) => Err(IngestError::Store(e)),
            Err(_) => Err(IngestError::Closed),
        }
    }

    /// Beacons queued for the writer right now.
    pub fn queue_depth(&self) -> u64 {
        let queued = self.tx.max_capacity().saturating_sub(self.tx.capacity());
        u64::try_from(queued).unwrap_or(u64::MAX)
    }
}

fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>, commits: watch::Sender<u64>) {
    let mut events = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        events.push(first.event);
        replies.push(first.reply);
        while events.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    events.push(job.event);
                    replies.push(job.reply);
                }
                Err(_) => break,
            }
        }
        match store.insert_batch(&events) {
            Ok(outcomes) => {
                let stored = outcomes.contains(&InsertOutcome::Stored);
                for ((reply, outcome), event) in
                    replies.drain(..).zip(outcomes).zip(events.drain(..))
                {
                    let _ = reply.send((Ok(outcome), event));
                }
                if stored {
                    commits.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = events.len(), "group commit failed");
                for (reply, event) in replies.drain(..).zip(events.drain(..)) {
                    let _ = reply.send((Err(e.0.clone()), event));
                }
            }
        }
        // Any reply left (outcomes shorter than the batch) is dropped: its handler sees Closed.
        replies.clear();
        events.clear();
    }
}

//! The one feed of new events every subscription of a process listens to: a single task
//! follows the log (woken by the store's notifications, with a slow poll beneath) and hands
//! each event to every listener, so a thousand subscribers cost one reader, not a thousand.

use std::sync::Arc;
use std::time::Duration;

use event_store::{EventStore, Position, RecordedEvent};
use tokio::sync::{Mutex, broadcast};
use tokio::task::JoinHandle;

/// Events a listener may fall behind by before it is told it lagged (and reads the store).
const BACKLOG: usize = 4096;

/// Events read per round trip.
const BATCH: u32 = 500;

/// How long the feed sleeps when nothing wakes it: notifications are never the only way to
/// notice events (another process's may be lost with its connection).
const POLL: Duration = Duration::from_millis(500);

/// The process's feed of newly appended events.
#[derive(Clone)]
pub struct LogFeed {
    events: broadcast::Sender<Arc<RecordedEvent>>,
    /// Held while the follower skips ahead for want of listeners, and while a listener joins:
    /// so no listener joins between the follower's look at the listeners and its skip (it
    /// would miss what was skipped).
    gate: Arc<Mutex<()>>,
    _follower: Arc<Follower>,
}

/// The task following the log; stopped when the last handle on the feed is dropped.
struct Follower(JoinHandle<()>);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl LogFeed {
    /// Starts following `store`'s log from its current head (on the current Tokio runtime).
    pub fn start(store: EventStore) -> Self {
        let (events, _) = broadcast::channel(BACKLOG);
        let gate = Arc::new(Mutex::new(()));
        let follower = tokio::spawn(follow(store, events.clone(), gate.clone()));
        Self {
            events,
            gate,
            _follower: Arc::new(Follower(follower)),
        }
    }

    /// Every event appended from now on, in log order (or a lag notice, after which the
    /// listener catches up from the store).
    pub async fn listen(&self) -> broadcast::Receiver<Arc<RecordedEvent>> {
        let _gate = self.gate.lock().await;
        self.events.subscribe()
    }
}

/// Reads the log after the head it started at and sends every event, for as long as the feed
/// exists.
async fn follow(
    store: EventStore,
    events: broadcast::Sender<Arc<RecordedEvent>>,
    gate: Arc<Mutex<()>>,
) {
    let mut wakeups = store.wakeups();
    let mut after: Option<Position> = None;
    loop {
        wakeups.borrow_and_update();
        match read_on(&store, &events, &gate, &mut after).await {
            // A full batch: more may be waiting.
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "the subscription feed could not read the log"),
        }
        let _ = tokio::time::timeout(POLL, wakeups.changed()).await;
    }
}

/// Sends the next batch after `after` (starting at the head); whether the batch was full.
async fn read_on(
    store: &EventStore,
    events: &broadcast::Sender<Arc<RecordedEvent>>,
    gate: &Mutex<()>,
    after: &mut Option<Position>,
) -> Result<bool, event_store::StoreError> {
    if after.is_none() || events.receiver_count() == 0 {
        // Nobody listens: skip to the head instead of reading what no one would get.
        let _gate = gate.lock().await;
        if after.is_none() || events.receiver_count() == 0 {
            *after = Some(store.head().await?.readable.unwrap_or(Position::START));
            return Ok(false);
        }
    }
    let Some(from) = *after else {
        return Ok(false);
    };
    let batch = store.read_all(from, BATCH).await?;
    let full = batch.len() == BATCH as usize;
    for event in batch {
        *after = Some(event.position);
        // No listener left is not an error: the next round skips ahead.
        let _ = events.send(Arc::new(event));
    }
    Ok(full)
}

//! Snapshots of the states the executor's cache drops. An aggregate that leaves the cache
//! with at least [`AFTER_EVENTS`] events since its last snapshot gets one, written in the
//! background in batches, so that its next load reads one row instead of replaying every event
//! since the last interval's snapshot (up to 49 by default). An aggregate that stays in the
//! cache costs nothing; one that keeps coming back (a working set larger than the cache) pays
//! a share of a batched upsert now and then instead of reading its growing tail on every load.
//!
//! A dropped state is the truth at its version: the cache keeps only states that were loaded
//! or appended, never one a refusal or an unknown outcome touched. The store keeps the newest
//! snapshot of a stream, so a late batch never replaces a newer one, and stores a batch's
//! snapshot only where the log still holds its version's event with its hash (a log restored
//! to an older copy meanwhile gets no snapshot of a history it lost). A snapshot only speeds
//! loading up: a full queue or a failed batch loses nothing but that speed.

use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::{EventStore, Loaded, Snapshot, StreamId};

/// States waiting to be written; beyond this, dropped states go without a snapshot.
const QUEUE: usize = 4_096;

/// A dropped state is snapshotted once this many events came after its last snapshot: a
/// shorter tail costs its next load less than the write would.
const AFTER_EVENTS: u64 = 4;

/// At most this many snapshots go in one batch.
const BATCH: usize = 512;

/// The writer waits this long after a batch that was not full, so that the next gathers
/// more: each statement and round trip then serves many snapshots, and nobody waits on them.
const PACE: std::time::Duration = std::time::Duration::from_millis(50);

/// A state the cache dropped: its stream and what was kept.
type Dropped<A> = (StreamId, Loaded<A>);

/// Takes the states the cache drops and snapshots those with enough events since their last.
pub(crate) struct Passivation<A> {
    store: EventStore,
    aggregate_type: &'static str,
    /// The writer's queue, once it runs.
    queue: Mutex<Option<mpsc::Sender<Dropped<A>>>>,
}

impl<A: Serialize + Send + Sync + 'static> Passivation<A> {
    /// Snapshots into `store`, for aggregates of `aggregate_type`.
    pub(crate) fn new(store: EventStore, aggregate_type: &'static str) -> Self {
        Self {
            store,
            aggregate_type,
            queue: Mutex::new(None),
        }
    }

    /// Takes a state the cache dropped: queues its snapshot when enough events came after the
    /// last.
    pub(crate) fn dropped(&self, aggregate_id: String, loaded: Loaded<A>) {
        if loaded.version < loaded.snapshotted.saturating_add(AFTER_EVENTS)
            || loaded.position.is_none()
        {
            return;
        }
        let dropped = (StreamId::new(self.aggregate_type, aggregate_id), loaded);
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let dropped = match queue.as_ref() {
            Some(sender) => match sender.try_send(dropped) {
                Ok(()) => return,
                Err(TrySendError::Full(_)) => {
                    tracing::debug!("the snapshot queue is full; a dropped state goes without one");
                    return;
                }
                // Its runtime is gone: start it again on this one.
                Err(TrySendError::Closed(dropped)) => dropped,
            },
            None => dropped,
        };
        // Outside a runtime: no writer, no snapshot.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (sender, receiver) = mpsc::channel(QUEUE);
        runtime.spawn(write(self.store.clone(), receiver));
        // A new channel has room for one.
        let _ = sender.try_send(dropped);
        *queue = Some(sender);
    }
}

/// Writes queued states as snapshots, a batch at a time, until the executor is gone.
async fn write<A: Serialize>(store: EventStore, mut queue: mpsc::Receiver<Dropped<A>>) {
    let mut dropped = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut dropped, BATCH).await > 0 {
        let full = dropped.len() == BATCH;
        let snapshots: Vec<Snapshot> = dropped.drain(..).filter_map(snapshot_of).collect();
        if let Err(error) = store.save_snapshots(&snapshots).await {
            tracing::warn!(%error, count = snapshots.len(), "cannot store snapshots of dropped states");
        }
        if !full {
            tokio::time::sleep(PACE).await;
        }
    }
}

/// The snapshot of a dropped state (none when it cannot be written out).
fn snapshot_of<A: Serialize>((stream, loaded): Dropped<A>) -> Option<Snapshot> {
    let position = loaded.position?;
    match serde_json::to_value(&loaded.state) {
        Ok(state) => Some(Snapshot {
            stream,
            version: loaded.version,
            state,
            last_hash: loaded.last_hash,
            position,
        }),
        Err(error) => {
            tracing::warn!(%stream, %error, "cannot serialize a snapshot");
            None
        }
    }
}

//! One slot per aggregate in this process: commands for the aggregate queue on its slot and
//! decide one after another on the latest state, which the slot keeps between commands (so a
//! busy aggregate is neither reloaded nor copied per command, and its commands never race each
//! other to the store). A kept state that another process made stale is caught by the
//! append's expected version and hash, and decided again on the stored state. A state dropped
//! to make room goes to the passivation, if there is one, to be snapshotted.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lru::LruCache;
use serde::Serialize;
use tokio::sync::{Mutex as QueueLock, OwnedMutexGuard};

use crate::Loaded;
use crate::passivation::Passivation;

/// A slot: the queue of one aggregate's commands, and its state as last decided.
type Slot<A> = Arc<QueueLock<Option<Loaded<A>>>>;

/// A held slot: the aggregate's turn, and its kept state (if any) to take and put back.
pub(crate) type Turn<A> = OwnedMutexGuard<Option<Loaded<A>>>;

/// Slots are kept for at least this many aggregates, states or not, so that aggregates busy
/// at the same time keep queueing even with no state cache.
const MIN_SLOTS: usize = 1024;

/// The slots of one aggregate type, least recently used dropped first (never one in use).
pub(crate) struct Slots<A> {
    /// How many aggregates' states are kept (0: none).
    capacity: usize,
    table: Mutex<LruCache<String, Slot<A>>>,
    /// Where the states dropped to make room go.
    passivation: Option<Passivation<A>>,
}

impl<A: Serialize + Send + Sync + 'static> Slots<A> {
    /// Slots keeping up to `capacity` states.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            table: Mutex::new(LruCache::unbounded()),
            passivation: None,
        }
    }

    /// Hands the states dropped to make room to `passivation`.
    pub(crate) fn with_passivation(mut self, passivation: Passivation<A>) -> Self {
        self.passivation = Some(passivation);
        self
    }

    /// How many states are kept at most.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether states are kept between commands.
    pub(crate) fn keeps_states(&self) -> bool {
        self.capacity > 0
    }

    /// Waits for the aggregate's turn.
    pub(crate) async fn turn(&self, id: &str) -> Turn<A> {
        let mut dropped = Vec::new();
        let slot = {
            let mut table = self.lock();
            match table.get(id) {
                Some(slot) => slot.clone(),
                None => {
                    let slot = Slot::<A>::default();
                    table.put(id.to_owned(), slot.clone());
                    self.trim(&mut table, &mut dropped);
                    slot
                }
            }
        };
        // Outside the table's lock: other aggregates' turns need it.
        if let Some(passivation) = &self.passivation {
            for (id, loaded) in dropped {
                passivation.dropped(id, loaded);
            }
        }
        slot.lock_owned().await
    }

    /// Drops least recently used slots beyond the limit, skipping those in use (a command
    /// holds or awaits them): dropping one would let its aggregate's commands race again. The
    /// states they kept go into `dropped`.
    fn trim(&self, table: &mut LruCache<String, Slot<A>>, dropped: &mut Vec<(String, Loaded<A>)>) {
        let limit = self.capacity.max(MIN_SLOTS);
        let mut in_use = 0;
        while table.len() > limit && in_use < table.len() {
            let Some((id, slot)) = table.pop_lru() else {
                break;
            };
            match Arc::try_unwrap(slot) {
                Ok(slot) => {
                    if let Some(loaded) = slot.into_inner() {
                        dropped.push((id, loaded));
                    }
                }
                Err(slot) => {
                    // In use: back in as most recently used; look at the next one.
                    table.put(id, slot);
                    in_use += 1;
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<String, Slot<A>>> {
        // A panic while holding the lock cannot leave the table half-written: recover it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slot_in_use_is_never_dropped_to_make_room() {
        let slots = Slots::<u8>::new(0);
        let held = slots.turn("busy").await;
        for n in 0..(MIN_SLOTS * 2) {
            drop(slots.turn(&n.to_string()).await);
        }

        // A second command for the busy aggregate must queue behind the first, not get a
        // slot of its own.
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), slots.turn("busy")).await;

        assert!(waiting.is_err(), "the busy aggregate's slot was replaced");
        assert!(slots.lock().len() <= MIN_SLOTS + 1);
        drop(held);
    }

    #[tokio::test]
    async fn commands_for_one_aggregate_take_turns() {
        let slots = Arc::new(Slots::<u32>::new(8));
        let mut first = slots.turn("a").await;
        *first = Some(Loaded::default());
        let second = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.turn("a").await.is_some() })
        };
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(first);

        assert!(
            second.await.unwrap(),
            "the second turn sees the state the first left"
        );
    }
}

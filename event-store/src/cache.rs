//! Recently used aggregates, kept in memory so a command on one skips its load. A stale entry
//! (another process wrote the stream since) is caught by the append's expected version: the
//! executor then forgets it and decides again on the stored state.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use crate::Loaded;

/// A bounded, least-recently-used map from aggregate id to its loaded state.
pub(crate) struct AggregateCache<A> {
    entries: Mutex<LruCache<String, Loaded<A>>>,
}

impl<A: Clone> AggregateCache<A> {
    /// A cache of at most `capacity` aggregates.
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// A copy of the cached aggregate, if any.
    pub(crate) fn get(&self, id: &str) -> Option<Loaded<A>> {
        self.lock().get(id).cloned()
    }

    /// Remembers the aggregate as it is after a successful append.
    pub(crate) fn put(&self, id: &str, loaded: Loaded<A>) {
        self.lock().put(id.to_owned(), loaded);
    }

    /// Forgets the aggregate (stale, or its state is in doubt).
    pub(crate) fn forget(&self, id: &str) {
        self.lock().pop(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Loaded<A>>> {
        // A panic while holding the lock cannot leave an entry half-written: recover the map.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

//! The point of no return of a command: once its append is sent to the database, the caller
//! must wait for the append's true outcome instead of answering "not applied" on a timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set while an append is in flight: a caller with a deadline checks it before giving up, and
/// waits for the outcome when it is set (the database bounds that wait with its statement
/// timeout).
#[derive(Debug, Clone, Default)]
pub struct CommitPoint(Arc<AtomicBool>);

impl CommitPoint {
    /// A commit point not reached yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an append is in flight, so that its outcome must be awaited.
    pub fn reached(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Marks the append as sent.
    pub(crate) fn reach(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Marks the append as settled without effect (refused by the database, e.g. a conflict),
    /// so that giving up is truthful again.
    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

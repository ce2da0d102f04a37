//! The point of no return of a command: once its append is sent to the database, the caller
//! must wait for the append's true outcome instead of answering "not applied" on a timeout.
//!
//! An append may wait in a queue for the next group commit, taken by another task: the caller
//! giving up and the committer taking the append race, so both go through one atomic step
//! ([`CommitPoint::abandon`] against the committer's reach), and exactly one of them wins.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Not sent: giving up is truthful.
const PENDING: u8 = 0;
/// Sent: the outcome must be awaited.
const REACHED: u8 = 1;
/// Given up on before it was sent: it never will be.
const ABANDONED: u8 = 2;

/// Set while an append is in flight: a caller with a deadline gives up through
/// [`CommitPoint::abandon`], and waits for the outcome when that fails (the database bounds that
/// wait with its statement timeout).
#[derive(Debug, Clone, Default)]
pub struct CommitPoint(Arc<AtomicU8>);

impl CommitPoint {
    /// A commit point not reached yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an append is in flight, so that its outcome must be awaited.
    pub fn reached(&self) -> bool {
        self.0.load(Ordering::SeqCst) == REACHED
    }

    /// Gives up on the append unless it was sent: `true` when it never will be (the caller may
    /// answer "not applied"), `false` when it is in flight and its outcome must be awaited.
    pub fn abandon(&self) -> bool {
        match self
            .0
            .compare_exchange(PENDING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(state) => state == ABANDONED,
        }
    }

    /// Marks the append as sent, by the task that sends it itself (its caller cannot give up
    /// while it runs).
    pub(crate) fn reach(&self) {
        self.0.store(REACHED, Ordering::SeqCst);
    }

    /// Marks the append as sent by a committer on the caller's behalf, unless the caller gave
    /// up first: `false` then, and the append must not be sent.
    pub(crate) fn try_reach(&self) -> bool {
        match self
            .0
            .compare_exchange(PENDING, REACHED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(state) => state == REACHED,
        }
    }

    /// Marks the append as settled without effect (refused by the database, e.g. a conflict),
    /// so that giving up is truthful again.
    pub(crate) fn clear(&self) {
        let _ = self
            .0
            .compare_exchange(REACHED, PENDING, Ordering::SeqCst, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_that_gave_up_first_keeps_the_append_from_being_sent() {
        let point = CommitPoint::new();
        assert!(point.abandon());
        assert!(!point.try_reach());
        assert!(!point.reached());
    }

    #[test]
    fn a_sent_append_cannot_be_given_up_on_until_it_is_settled() {
        let point = CommitPoint::new();
        assert!(point.try_reach());
        assert!(!point.abandon(), "the outcome must be awaited");
        point.clear();
        assert!(point.abandon());
    }
}

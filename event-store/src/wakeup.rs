//! Wake-ups for log readers: a counter that changes when events may have been appended.

use tokio::sync::watch;

/// The sending side of the wake-up counter.
#[derive(Debug)]
pub(crate) struct Wakeups {
    sender: watch::Sender<u64>,
}

impl Wakeups {
    pub(crate) fn new() -> Self {
        Self {
            sender: watch::Sender::new(0),
        }
    }

    /// Tells every subscriber that the log may have grown.
    pub(crate) fn wake(&self) {
        self.sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }
}

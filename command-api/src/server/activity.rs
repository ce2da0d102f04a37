//! Where a connection stands between requests, and when it has waited too long.
//!
//! A fresh connection must deliver its first request head within the header-read timeout.
//! Between requests it may wait for the next one up to the idle timeout (counted from when the
//! previous answer was ready); once the next head's first byte arrives, the head must be
//! complete within the header-read timeout. While a request is being handled no timeout of
//! this module runs: the request timeout bounds that.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::ServerLimits;

/// A connection's state, as its timeouts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request head is expected or arriving, and must be complete by the deadline.
    Head(Instant),
    /// The last answer is ready; the next request must begin by the deadline.
    Idle(Instant),
    /// This many requests are being handled.
    Busy(usize),
}

/// The activity of one connection, shared by its socket, its service and its watchdog.
#[derive(Debug)]
pub struct Activity {
    phase: watch::Sender<Phase>,
    limits: ServerLimits,
}

impl Activity {
    /// A connection accepted now.
    pub fn new(limits: ServerLimits) -> Arc<Self> {
        let deadline = Instant::now() + limits.header_read_timeout;
        Arc::new(Self {
            phase: watch::Sender::new(Phase::Head(deadline)),
            limits,
        })
    }

    /// Bytes arrived: an idle connection is now receiving a request head.
    pub fn bytes_arrived(&self) {
        self.phase.send_if_modified(|phase| match phase {
            Phase::Idle(_) => {
                *phase = Phase::Head(Instant::now() + self.limits.header_read_timeout);
                true
            }
            Phase::Head(_) | Phase::Busy(_) => false,
        });
    }

    /// A request head was read; the connection is busy until the returned guard is dropped.
    pub fn request_started(self: &Arc<Self>) -> Busy {
        self.phase.send_modify(|phase| {
            *phase = match *phase {
                Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
                Phase::Head(_) | Phase::Idle(_) => Phase::Busy(1),
            };
        });
        Busy(Arc::clone(self))
    }

    fn request_ended(&self) {
        self.phase.send_modify(|phase| {
            *phase = match *phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Idle(Instant::now() + self.limits.idle_timeout),
            };
        });
    }

    /// Completes once the connection has waited past its current deadline.
    pub async fn expired(&self) {
        let mut phase = self.phase.subscribe();
        loop {
            let current = *phase.borrow_and_update();
            let deadline = match current {
                Phase::Head(deadline) | Phase::Idle(deadline) => deadline,
                Phase::Busy(_) => {
                    // The sender lives as long as `self`, so this only waits for a change.
                    let _ = phase.changed().await;
                    continue;
                }
            };
            tokio::select! {
                () = sleep_until(deadline) => {
                    if !phase.has_changed().unwrap_or(false) {
                        return;
                    }
                }
                _ = phase.changed() => {}
            }
        }
    }
}

/// A request being handled; dropping it marks the request's end.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

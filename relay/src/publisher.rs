//! The broker seam: what the relay needs of any broker.

use std::future::Future;

use event_store::Position;

use crate::IntegrationMessage;

/// The last event of this log a broker holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its event id.
    pub event_id: String,
    /// Its position in the log.
    pub position: Position,
}

/// Why a batch was not published whole: nothing after the first message that failed counts
/// as published, and the relay sends the batch again.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// The broker cannot be reached, or did not answer in time: wait and try again.
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a message (its configuration, not a passing outage).
    #[error("the broker refused {event_id}: {message}")]
    Refused {
        /// The refused message's event id.
        event_id: String,
        /// The broker's reason.
        message: String,
    },
}

/// A broker the relay publishes to.
pub trait Publisher: Send + Sync + 'static {
    /// Publishes `messages` in their order, many in flight at once, and returns once the
    /// broker has acknowledged every one (acknowledgements are awaited in order). A message
    /// the broker has seen already within its duplicate window counts as published.
    fn publish(
        &self,
        messages: &[IntegrationMessage],
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// The last event the broker holds, if it can tell; the relay resumes after it rather
    /// than after its own checkpoint when the broker is ahead (a relay stopped between the
    /// acknowledgement and its checkpoint), as sending those again could outlast the broker's
    /// duplicate window. A broker that cannot tell answers `None`.
    fn last_stored(&self) -> impl Future<Output = Result<Option<Stored>, PublishError>> + Send {
        async { Ok(None) }
    }
}

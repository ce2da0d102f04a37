//! The broker seam: what the relay needs of any broker.

use std::future::Future;

use event_store::Position;

use crate::IntegrationMessage;

/// What a broker holds of the log, as far as it can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// It cannot tell (its messages aged out, or its last one is not this log's).
    Unknown,
    /// It has never held a message: a new stream, which takes the whole log.
    Nothing,
    /// Its last message is this event of the log.
    Last(Stored),
}

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
    /// the broker has seen already within its duplicate window counts as published. The
    /// messages are the publisher's to take apart (a failed batch is read from the log again).
    fn publish(
        &self,
        messages: Vec<IntegrationMessage>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// What the broker holds. The relay resumes after the last event it holds rather than
    /// after its own checkpoint when the broker is ahead (a relay stopped between the
    /// acknowledgement and its checkpoint), as sending those again could outlast the broker's
    /// duplicate window, and from the log's start when it holds nothing (a new or recreated
    /// stream). A broker that cannot tell answers [`Held::Unknown`].
    fn last_stored(&self) -> impl Future<Output = Result<Held, PublishError>> + Send {
        async { Ok(Held::Unknown) }
    }
}

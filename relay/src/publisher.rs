//! The broker seam: what the relay needs of any broker.

use std::future::Future;

use crate::IntegrationMessage;

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
}

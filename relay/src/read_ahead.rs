//! Reading the log ahead of the publisher: a task reads the batches after a position and
//! prepares their messages while the batch before is published.

use std::time::Duration;

use event_store::{EventStore, Position};
use tokio::sync::{mpsc, watch};

use crate::IntegrationMessage;
use crate::worker::{BatchError, RelaySettings};

/// Batches read ahead: more than this would only hold memory while the broker is slow.
const READ_AHEAD: usize = 2;

/// A batch of the log, ready to publish.
pub(crate) struct Prepared {
    /// Its messages, in log order.
    pub(crate) messages: Vec<IntegrationMessage>,
    /// The position of its last event.
    pub(crate) last: Position,
}

/// A task reading the log after a position and preparing its messages, a few batches ahead
/// of the publisher; it waits for new events when it has read them all, and stops at the
/// first failure (the relay then starts a new one where it stands). Dropping it stops it.
pub(crate) struct ReadAhead {
    batches: mpsc::Receiver<Result<Prepared, BatchError>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadAhead {
    pub(crate) fn start(store: &EventStore, after: Position, settings: &RelaySettings) -> Self {
        let (sender, batches) = mpsc::channel(READ_AHEAD);
        let store = store.clone();
        let (prefix, size, poll) = (
            settings.subject_prefix.clone(),
            settings.batch,
            settings.poll_interval,
        );
        let task = tokio::spawn(async move {
            let mut wakeups = store.wakeups();
            let mut after = after;
            loop {
                let events = match store.read_all_raw(after, size).await {
                    Ok(events) => events,
                    Err(error) => {
                        sender.send(Err(error.into())).await.ok();
                        return;
                    }
                };
                let Some(last) = events.last().map(|e| e.position) else {
                    wait_for_events(&mut wakeups, poll).await;
                    continue;
                };
                let messages = events
                    .iter()
                    .map(|e| IntegrationMessage::of(e, &prefix))
                    .collect::<Result<Vec<_>, _>>();
                let prepared = match messages {
                    Ok(messages) => Prepared { messages, last },
                    Err(error) => {
                        sender.send(Err(error.into())).await.ok();
                        return;
                    }
                };
                after = last;
                if sender.send(Ok(prepared)).await.is_err() {
                    return;
                }
            }
        });
        Self { batches, task }
    }

    /// The next batch if it is ready.
    pub(crate) fn ready(&mut self) -> Option<Result<Prepared, BatchError>> {
        match self.batches.try_recv() {
            Ok(next) => Some(next),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Err(BatchError::ReaderStopped)),
        }
    }

    /// The next batch (waiting for events if there are none yet).
    pub(crate) async fn next(&mut self) -> Result<Prepared, BatchError> {
        self.batches
            .recv()
            .await
            .unwrap_or(Err(BatchError::ReaderStopped))
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits for the store's next wake-up, at most `wait`.
async fn wait_for_events(wakeups: &mut watch::Receiver<u64>, wait: Duration) {
    tokio::select! {
        _ = wakeups.changed() => {}
        () = tokio::time::sleep(wait) => {}
    }
}

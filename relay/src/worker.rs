//! The relay: reads the log after its checkpoint, publishes each batch in log order, and moves
//! the checkpoint once the broker has acknowledged the whole batch. One instance relays at a
//! time, under the projectors' lease; others stand by.

use std::time::Duration;

use event_store::{EventStore, Position, StoreError};
use projections::lease::{Lease, Leases};
use projections::{ProjectionError, ReadDb};
use tokio::sync::watch;

use crate::{IntegrationMessage, Publisher, SUBJECT_PREFIX, checkpoint};

/// The pause after a first failure; each further one doubles it, up to the settings' most.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Its name: its lease (beside the projectors', so never a projection's name) and its
    /// checkpoint; two relays to two brokers have two names.
    pub name: String,
    /// The first token of every subject.
    pub subject_prefix: String,
    /// The most events one batch publishes.
    pub batch: u32,
    /// How long it waits for new events before it looks again unwoken.
    pub poll_interval: Duration,
    /// The longest pause after a failure (pauses double up to it).
    pub max_backoff: Duration,
    /// How often a standby tries to take the lease.
    pub standby_retry: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            name: "relay".into(),
            subject_prefix: SUBJECT_PREFIX.into(),
            batch: 1_000,
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            standby_retry: Duration::from_secs(1),
        }
    }
}

/// Why the relay stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The checkpoint's table could not be made.
    #[error("the relay's checkpoint is unavailable: {0}")]
    Database(#[from] sqlx::Error),
}

/// Why a batch did not go through; it is tried again after a pause.
#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error("reading the log: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Unpublishable(#[from] crate::Unpublishable),
    #[error("{0}")]
    Publish(#[from] crate::PublishError),
    #[error("saving the checkpoint: {0}")]
    Checkpoint(#[from] sqlx::Error),
    #[error("the lease is lost: {0}")]
    LeaseLost(ProjectionError),
}

/// A relay of the log in `store` to a broker, its checkpoint in `db`.
pub struct Relay<P> {
    store: EventStore,
    db: ReadDb,
    publisher: P,
    settings: RelaySettings,
}

impl<P: Publisher> Relay<P> {
    /// A relay, not yet running.
    pub fn new(store: EventStore, db: ReadDb, publisher: P, settings: RelaySettings) -> Self {
        Self {
            store,
            db,
            publisher,
            settings,
        }
    }

    /// Relays until `stop` turns true: standing by while another instance holds the lease,
    /// and again whenever this one loses it.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> Result<(), RelayError> {
        checkpoint::set_up(&self.db).await?;
        let leases = Leases::new(&self.db);
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let mut lease = match leases.try_take(&self.settings.name).await {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    pause(&mut stop, self.settings.standby_retry).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "the relay cannot take its lease; retrying");
                    pause(&mut stop, self.settings.standby_retry).await;
                    continue;
                }
            };
            tracing::info!(relay = %self.settings.name, "relaying the log");
            match self.relay(&mut lease, &mut stop).await {
                Ok(()) => {
                    lease.release().await;
                    return Ok(());
                }
                Err(lost) => {
                    tracing::warn!(error = %lost, "the relay lost its lease; standing by");
                }
            }
        }
    }

    /// Relays while the lease holds; `Ok` once stopped, `Err` when the lease is lost.
    async fn relay(
        &self,
        lease: &mut Lease,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let mut wakeups = self.store.wakeups();
        let mut backoff = FIRST_PAUSE.min(self.settings.max_backoff);
        let (mut position, mut published) = loop {
            match checkpoint::load(&self.db, &self.settings.name).await {
                Ok(found) => break found,
                Err(error) => {
                    tracing::warn!(%error, "the relay cannot read its checkpoint; retrying");
                    if pause(stop, backoff).await {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        };
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            match self.batch(lease, position, published).await {
                Ok(None) => {
                    backoff = FIRST_PAUSE;
                    wait_for_events(&mut wakeups, stop, self.settings.poll_interval).await;
                }
                Ok(Some((next, count))) => {
                    backoff = FIRST_PAUSE;
                    position = next;
                    published = count;
                }
                Err(BatchError::LeaseLost(error)) => return Err(error),
                Err(error) => {
                    // Nothing is skipped: the same batch again, after a pause.
                    tracing::warn!(%error, at = %position, "the relay's batch failed; retrying");
                    if pause(stop, backoff).await {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }

    /// Publishes the events after `position`; the new checkpoint, or `None` when there were
    /// none.
    async fn batch(
        &self,
        lease: &mut Lease,
        position: Position,
        published: i64,
    ) -> Result<Option<(Position, i64)>, BatchError> {
        let events = self.store.read_all(position, self.settings.batch).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(None);
        };
        let messages = events
            .iter()
            .map(|e| IntegrationMessage::of(e, &self.settings.subject_prefix))
            .collect::<Result<Vec<_>, _>>()?;
        self.publisher.publish(&messages).await?;
        lease.check().await.map_err(BatchError::LeaseLost)?;
        let published = published + i64::try_from(messages.len()).unwrap_or(i64::MAX);
        checkpoint::save(&self.db, &self.settings.name, last, published).await?;
        Ok(Some((last, published)))
    }
}

/// Waits `wait`; `true` if the relay was stopped meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        tokio::select! {
            changed = stop.changed() => {
                // A dropped sender stops the relay too.
                if changed.is_err() || *stop.borrow() {
                    return true;
                }
            }
            () = tokio::time::sleep_until(deadline) => return *stop.borrow(),
        }
    }
}

/// Waits for the store's next wake-up, at most `wait`.
async fn wait_for_events(
    wakeups: &mut watch::Receiver<u64>,
    stop: &mut watch::Receiver<bool>,
    wait: Duration,
) {
    tokio::select! {
        _ = wakeups.changed() => {}
        changed = stop.changed() => {
            if changed.is_err() {
                tokio::time::sleep(wait).await;
            }
        }
        () = tokio::time::sleep(wait) => {}
    }
}

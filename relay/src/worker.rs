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
    #[error(
        "the broker holds event {event_id} at {position}, which this log does not: does the \
         stream belong to another log?"
    )]
    Diverged {
        event_id: String,
        position: Position,
    },
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
        let name = self.settings.name.as_str();
        let _lag = LagReport::start(self.store.clone(), self.db.clone(), name.to_owned());
        self.record_state("running", None).await;
        // What the broker holds is looked up at first and after every failure.
        let mut resync = true;
        let mut failing = false;
        loop {
            if *stop.borrow() {
                self.record_state("stopped", None).await;
                return Ok(());
            }
            let step = if resync {
                self.resume(position, published).await.map(Some)
            } else {
                self.batch(lease, position, published).await
            };
            match step {
                Ok(None) => {
                    wait_for_events(&mut wakeups, stop, self.settings.poll_interval).await;
                }
                Ok(Some((next, count))) => {
                    resync = false;
                    if failing {
                        failing = false;
                        tracing::info!(relay = name, at = %next, "the relay is publishing again");
                        metrics::gauge!("supplyline_relay_failing", "relay" => name.to_owned())
                            .set(0.0);
                        self.record_state("running", None).await;
                    }
                    backoff = FIRST_PAUSE;
                    let newly = u64::try_from(count - published).unwrap_or_default();
                    metrics::counter!("supplyline_relay_published_total", "relay" => name.to_owned())
                        .increment(newly);
                    position = next;
                    published = count;
                }
                Err(BatchError::LeaseLost(error)) => return Err(error),
                Err(error) => {
                    // Nothing is skipped: the same batch again, after a pause.
                    tracing::warn!(%error, at = %position, "the relay's batch failed; retrying");
                    resync = true;
                    if !failing {
                        failing = true;
                        metrics::gauge!("supplyline_relay_failing", "relay" => name.to_owned())
                            .set(1.0);
                        self.record_state("failing", Some(&error.to_string())).await;
                    }
                    if pause(stop, backoff).await {
                        self.record_state("stopped", None).await;
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }

    /// Where to go on from: after the checkpoint, or after the last event the broker holds
    /// when it is ahead, once that event is found at its position in this log.
    async fn resume(
        &self,
        position: Position,
        published: i64,
    ) -> Result<(Position, i64), BatchError> {
        let Some(stored) = self.publisher.last_stored().await? else {
            return Ok((position, published));
        };
        if stored.position <= position {
            return Ok((position, published));
        }
        let diverged = || BatchError::Diverged {
            event_id: stored.event_id.clone(),
            position: stored.position,
        };
        let mut at = position;
        let mut skipped = 0_i64;
        loop {
            let events = self.store.read_all(at, self.settings.batch).await?;
            let Some(last) = events.last() else {
                return Err(diverged());
            };
            for event in &events {
                if event.position > stored.position {
                    return Err(diverged());
                }
                skipped += 1;
                if event.position == stored.position {
                    let id = event
                        .metadata
                        .get("event_id")
                        .and_then(serde_json::Value::as_str);
                    if id != Some(stored.event_id.as_str()) {
                        return Err(diverged());
                    }
                    let published = published + skipped;
                    checkpoint::save(&self.db, &self.settings.name, stored.position, published)
                        .await?;
                    tracing::info!(
                        relay = %self.settings.name,
                        at = %stored.position,
                        skipped,
                        "the broker already held events past the checkpoint; going on after them"
                    );
                    return Ok((stored.position, published));
                }
            }
            at = last.position;
        }
    }

    /// Records the relay's state for `projections status`; a failure to record it is only
    /// logged (the relay's work does not depend on it).
    async fn record_state(&self, state: &str, error: Option<&str>) {
        if let Err(failure) =
            checkpoint::set_state(&self.db, &self.settings.name, state, error).await
        {
            tracing::debug!(error = %failure, "the relay's state was not recorded");
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

/// How often the live relay publishes its lag as metrics.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(5);

/// The live relay's lag, published as metrics every few seconds until dropped.
struct LagReport(tokio::task::JoinHandle<()>);

impl LagReport {
    fn start(store: EventStore, db: ReadDb, name: String) -> Self {
        Self(tokio::spawn(async move {
            loop {
                if let Ok((position, _)) = checkpoint::load(&db, &name).await
                    && let Ok(lag) = projections::runtime::lag(&store, position).await
                {
                    metrics::gauge!("supplyline_relay_lag_events", "relay" => name.clone())
                        .set(lag.events as f64);
                    metrics::gauge!("supplyline_relay_lag_seconds", "relay" => name.clone())
                        .set(lag.seconds);
                }
                tokio::time::sleep(LAG_REPORT_EVERY).await;
            }
        }))
    }
}

impl Drop for LagReport {
    fn drop(&mut self) {
        self.0.abort();
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

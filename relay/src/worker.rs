//! The relay: reads the log after its checkpoint, publishes each batch in log order, and moves
//! the checkpoint once the broker has acknowledged the whole batch. One instance relays at a
//! time, under the projectors' lease; others stand by.

use std::time::Duration;

use event_store::{EventStore, Position, StoreError};
use projections::lease::{Lease, Leases};
use projections::{ProjectionError, ReadDb};
use tokio::sync::watch;

use crate::lag::LagReport;
use crate::read_ahead::ReadAhead;
use crate::{Held, Publisher, SUBJECT_PREFIX, checkpoint};

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

/// Why a batch did not go through; it is tried again after a pause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
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
    #[error("the log's reader stopped")]
    ReaderStopped,
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
    /// and again whenever this one loses it; every failure is waited out and retried.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        // The database may be down as the process starts: the relay waits for it.
        let mut backoff = FIRST_PAUSE;
        while let Err(error) = checkpoint::set_up(&self.db).await {
            tracing::warn!(%error, "the relay's checkpoint table cannot be made; retrying");
            if pause(&mut stop, backoff).await {
                return;
            }
            backoff = (backoff * 2).min(self.settings.max_backoff);
        }
        let leases = Leases::new(&self.db);
        while let Some(mut lease) = leases
            .take_when_free(&self.settings.name, self.settings.standby_retry, &mut stop)
            .await
        {
            tracing::info!(relay = %self.settings.name, "relaying the log");
            match self.relay(&mut lease, &mut stop).await {
                Ok(()) => {
                    lease.release().await;
                    return;
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
        // Reads and prepares the batches ahead while the one before is published; made anew
        // (after looking up what the broker holds) at first and after every failure.
        let mut reader: Option<ReadAhead> = None;
        let mut failing = false;
        // Acknowledged by the broker, not yet checkpointed: saved while the next batch is
        // published, or before the relay waits for events or stops.
        let mut acknowledged: Option<(Position, i64)> = None;
        'relaying: loop {
            if *stop.borrow() {
                self.stop(lease, acknowledged.take()).await;
                return Ok(());
            }
            let step = 'step: {
                let Some(ahead) = reader.as_mut() else {
                    match self.resume(position, published).await {
                        Ok((at, count)) => {
                            count_published(name, count - published);
                            (position, published) = (at, count);
                            reader = Some(ReadAhead::start(&self.store, at, &self.settings));
                            continue 'relaying;
                        }
                        Err(error) => break 'step Err(error),
                    }
                };
                let next = match ahead.ready() {
                    Some(next) => next,
                    None => {
                        if let Some(done) = acknowledged.take() {
                            // Nothing to publish at once: the checkpoint catches up first.
                            if let Err(error) = self.save(lease, done).await {
                                break 'step Err(error);
                            }
                            (position, published) = done;
                            break 'step Ok(());
                        }
                        tokio::select! {
                            next = ahead.next() => next,
                            changed = stop.changed() => {
                                if changed.is_err() {
                                    // A dropped sender stops the relay too.
                                    self.stop(lease, None).await;
                                    return Ok(());
                                }
                                continue 'relaying;
                            }
                        }
                    }
                };
                let batch = match next {
                    Ok(batch) => batch,
                    Err(error) => break 'step Err(error),
                };
                let earlier = acknowledged.take();
                let count = i64::try_from(batch.messages.len()).unwrap_or(i64::MAX);
                let (sent, saved) = tokio::join!(self.publisher.publish(batch.messages), async {
                    match earlier {
                        Some(done) => self.save(lease, done).await,
                        None => Ok(()),
                    }
                });
                if let Err(error) = saved {
                    break 'step Err(error);
                }
                if let Some(done) = earlier {
                    (position, published) = done;
                }
                if let Err(error) = sent {
                    break 'step Err(error.into());
                }
                count_published(name, count);
                acknowledged = Some((batch.last, published + count));
                Ok(())
            };
            match step {
                Ok(()) => {
                    if failing {
                        failing = false;
                        tracing::info!(relay = name, at = %position, "the relay is publishing again");
                        metrics::gauge!("supplyline_relay_failing", "relay" => name.to_owned())
                            .set(0.0);
                        self.record_state("running", None).await;
                    }
                    backoff = FIRST_PAUSE;
                }
                Err(BatchError::LeaseLost(error)) => return Err(error),
                Err(error) => {
                    // Nothing is skipped: the same events again, after a pause (what the
                    // broker acknowledged meanwhile it holds, and the relay resumes after it).
                    tracing::warn!(%error, at = %position, "the relay's batch failed; retrying");
                    reader = None;
                    acknowledged = None;
                    if !failing {
                        failing = true;
                        metrics::gauge!("supplyline_relay_failing", "relay" => name.to_owned())
                            .set(1.0);
                        self.record_state("failing", Some(&error.to_string())).await;
                    }
                    if pause(stop, backoff).await {
                        self.stop(lease, None).await;
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }

    /// Saves what the broker acknowledged, if anything, and records the relay as stopped.
    async fn stop(&self, lease: &mut Lease, acknowledged: Option<(Position, i64)>) {
        if let Some(done) = acknowledged
            && let Err(error) = self.save(lease, done).await
        {
            // The next relay resumes after what the stream holds anyway.
            tracing::warn!(%error, "the relay's last checkpoint was not saved");
        }
        self.record_state("stopped", None).await;
    }

    /// Where to go on from: after the last event the broker holds, once that event is found
    /// at its position in this log, whether the broker is ahead of the checkpoint (a relay
    /// stopped between acknowledgement and checkpoint) or behind it (a stream restored from
    /// an older copy); from the log's start into a stream that never held anything; after the
    /// checkpoint when the broker cannot tell.
    async fn resume(
        &self,
        position: Position,
        published: i64,
    ) -> Result<(Position, i64), BatchError> {
        let name = &self.settings.name;
        let stored = match self.publisher.last_stored().await? {
            Held::Last(stored) if stored.position != position => stored,
            Held::Nothing if position != Position::START => {
                tracing::warn!(
                    relay = %name,
                    "the broker holds nothing (a new or recreated stream): relaying the whole \
                     log into it"
                );
                checkpoint::save(&self.db, name, Position::START, 0).await?;
                return Ok((Position::START, 0));
            }
            Held::Last(_) | Held::Nothing | Held::Unknown => return Ok((position, published)),
        };
        let diverged = || BatchError::Diverged {
            event_id: stored.event_id.clone(),
            position: stored.position,
        };
        // The broker's last event, read from the log: what comes before it, then it.
        let mut at = if stored.position > position {
            position
        } else {
            just_before(stored.position)
        };
        let mut between = 0_i64;
        loop {
            let events = self.store.read_all(at, self.settings.batch).await?;
            let Some(last) = events.last() else {
                return Err(diverged());
            };
            for event in &events {
                if event.position > stored.position {
                    return Err(diverged());
                }
                between += 1;
                if event.position == stored.position {
                    let id = event
                        .metadata
                        .get("event_id")
                        .and_then(serde_json::Value::as_str);
                    if id != Some(stored.event_id.as_str()) {
                        return Err(diverged());
                    }
                    let published = if stored.position > position {
                        published + between
                    } else {
                        // Those after it are to be published again.
                        let after = |p| self.store.count_after(p, u64::MAX);
                        let lost = after(stored.position).await? - after(position).await?;
                        published - i64::try_from(lost).unwrap_or(i64::MAX)
                    };
                    checkpoint::save(&self.db, name, stored.position, published).await?;
                    tracing::info!(
                        relay = %name,
                        checkpoint = %position,
                        at = %stored.position,
                        "the broker's last event is not the checkpoint's; going on after it"
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

    /// Moves the checkpoint to what the broker acknowledged, while the lease holds.
    async fn save(
        &self,
        lease: &mut Lease,
        (position, published): (Position, i64),
    ) -> Result<(), BatchError> {
        lease.check().await.map_err(BatchError::LeaseLost)?;
        checkpoint::save(&self.db, &self.settings.name, position, published).await?;
        Ok(())
    }
}

/// The position just before `position`: reading after it reads `position` first.
fn just_before(position: Position) -> Position {
    let (epoch, tx, seq) = (position.epoch(), position.tx(), position.seq());
    let most = i64::MAX.unsigned_abs();
    match (seq, tx, epoch) {
        (1.., _, _) => Position::new(epoch, tx, seq - 1),
        (0, 1.., _) => Position::new(epoch, tx - 1, most),
        (0, 0, 1..) => Position::new(epoch - 1, most, most),
        (0, 0, 0) => Position::START,
    }
}

/// Counts `newly` events as published by the relay `name`.
fn count_published(name: &str, newly: i64) {
    metrics::counter!("supplyline_relay_published_total", "relay" => name.to_owned())
        .increment(u64::try_from(newly).unwrap_or_default());
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

//! The worker: appends every event of the log, in log order, to the tree, a batch per
//! transaction with the tree's state, and signs a checkpoint every so many events or seconds.
//! One instance works at a time, under the projectors' lease; others stand by.

use std::time::{Duration, Instant};

use event_store::EventStore;
use projections::ReadDb;
use projections::lease::{Lease, Leases};
use tokio::sync::watch;
use transparency_log::{Checkpoint, SigningKey};

use crate::TransparencyError;
use crate::appender::Appender;
use crate::tables;

/// The pause after a first failure; each further one doubles it, up to the settings' most.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct TreeSettings {
    /// Its lease's name (beside the projectors').
    pub name: String,
    /// The log's origin, the first line of every checkpoint (by convention the key's name).
    pub origin: String,
    /// The most events one batch appends.
    pub batch: u32,
    /// A checkpoint is signed once this many events were appended since the last...
    pub checkpoint_every: u64,
    /// ... or once this long has passed with events appended since the last.
    pub checkpoint_interval: Duration,
    /// How long it waits for new events before it looks again unwoken.
    pub poll_interval: Duration,
    /// The longest pause after a failure (pauses double up to it).
    pub max_backoff: Duration,
    /// How often a standby tries to take the lease.
    pub standby_retry: Duration,
}

impl TreeSettings {
    /// The defaults, checkpoints named after `origin`.
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            name: "transparency-log".into(),
            origin: origin.into(),
            batch: 5_000,
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            standby_retry: Duration::from_secs(1),
        }
    }
}

/// The transparency log's worker over the log in `store`, its tables in `db`.
pub struct TreeWorker {
    store: EventStore,
    db: ReadDb,
    key: SigningKey,
    settings: TreeSettings,
}

/// When the last checkpoint was signed.
struct Signed {
    size: u64,
    at: Instant,
}

impl TreeWorker {
    /// A worker signing with `key`.
    pub fn new(store: EventStore, db: ReadDb, key: SigningKey, settings: TreeSettings) -> Self {
        Self {
            store,
            db,
            key,
            settings,
        }
    }

    /// Appends the log to the tree until `stop` says so, holding the lease; waits for the
    /// database when it is down and stands by while another instance holds the lease.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let mut backoff = FIRST_PAUSE;
        while let Err(error) = tables::set_up(&self.db).await {
            tracing::warn!(%error, "the transparency log's tables cannot be made; retrying");
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
            tracing::info!(worker = %self.settings.name, "building the transparency log");
            match self.work(&mut lease, &mut stop).await {
                Ok(()) => {
                    lease.release().await;
                    return;
                }
                Err(lost) => {
                    tracing::warn!(error = %lost, "the transparency log lost its lease");
                }
            }
        }
    }

    /// Works while the lease holds; `Ok` once stopped, `Err` when the lease is lost.
    async fn work(
        &self,
        lease: &mut Lease,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), TransparencyError> {
        let mut wakeups = self.store.wakeups();
        let mut backoff = FIRST_PAUSE;
        let mut tree: Option<(Appender, Signed)> = None;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let step = async {
                let (appender, signed) = match &mut tree {
                    Some(loaded) => loaded,
                    None => {
                        let appender = Appender::load(&self.db).await?;
                        let size = tables::latest_checkpoint(&self.db)
                            .await?
                            .map_or(0, |(size, _)| size);
                        tree.insert((
                            appender,
                            Signed {
                                size,
                                at: Instant::now(),
                            },
                        ))
                    }
                };
                self.step(appender, signed, lease).await
            };
            match step.await {
                Ok(0) => {
                    backoff = FIRST_PAUSE;
                    tokio::select! {
                        _ = wakeups.changed() => {}
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                        _ = stop.changed() => {}
                    }
                }
                Ok(_) => backoff = FIRST_PAUSE,
                Err(TransparencyError::Moved) => return Err(TransparencyError::Moved),
                Err(error) => {
                    // What is in memory may be ahead of what was written: load it again.
                    tree = None;
                    if lease.check().await.is_err() {
                        return Err(error);
                    }
                    tracing::warn!(%error, "a transparency log batch failed; retrying");
                    if pause(stop, backoff).await {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }

    /// Appends the next batch (signing a checkpoint when one is due); how many events.
    async fn step(
        &self,
        appender: &mut Appender,
        signed: &mut Signed,
        lease: &mut Lease,
    ) -> Result<usize, TransparencyError> {
        let events = self
            .store
            .read_all_as_stored(appender.position(), self.settings.batch)
            .await?;
        let appended = if events.is_empty() {
            appender.unchanged()
        } else {
            appender.append(&events)?
        };
        let unsigned = appender.size() - signed.size;
        let due = unsigned >= self.settings.checkpoint_every
            || (unsigned > 0 && signed.at.elapsed() >= self.settings.checkpoint_interval);
        if events.is_empty() && !due {
            return Ok(0);
        }
        let checkpoint = if due {
            let checkpoint = Checkpoint::new(
                self.settings.origin.clone(),
                appender.size(),
                appender.root(),
            )
            .map_err(|e| TransparencyError::Corrupt(format!("the origin: {e}")))?;
            Some(self.key.sign(&checkpoint))
        } else {
            None
        };
        lease.check().await.map_err(|_| TransparencyError::Moved)?;
        appended.write(&self.db, checkpoint.clone()).await?;
        if checkpoint.is_some() {
            *signed = Signed {
                size: appender.size(),
                at: Instant::now(),
            };
        }
        metrics::counter!("supplyline_tlog_leaves_total").increment(appended.leaves() as u64);
        metrics::gauge!("supplyline_tlog_size").set(appender.size() as f64);
        Ok(events.len())
    }

    /// Appends the whole log as it stands now, signs a checkpoint of it, and returns the
    /// tree's size: for tests, benchmarks and a one-off catch-up (holds no lease: run it only
    /// where no worker runs).
    pub async fn catch_up(&self) -> Result<u64, TransparencyError> {
        tables::set_up(&self.db).await?;
        let mut appender = Appender::load(&self.db).await?;
        loop {
            let events = self
                .store
                .read_all_as_stored(appender.position(), self.settings.batch)
                .await?;
            if events.is_empty() {
                break;
            }
            let appended = appender.append(&events)?;
            appended.write(&self.db, None).await?;
        }
        let checkpoint = Checkpoint::new(
            self.settings.origin.clone(),
            appender.size(),
            appender.root(),
        )
        .map_err(|e| TransparencyError::Corrupt(format!("the origin: {e}")))?;
        appender
            .unchanged()
            .write(&self.db, Some(self.key.sign(&checkpoint)))
            .await?;
        Ok(appender.size())
    }
}

/// Waits `wait` unless told to stop first; true when stopping.
async fn pause(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

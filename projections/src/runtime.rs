//! The projector runtime: one worker per projection, each a loop that reads a batch of the
//! global log after its checkpoint, applies it, and commits the rows with the new checkpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use event_store::{EventStore, Position, RecordedEvent};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ProjectionError;
use crate::changes::Changes;
use crate::db::ReadDb;
use crate::event::Event;
use crate::lease::{Lease, Leases};
use crate::projection::{KEEP_LIMIT, Projection};
use crate::rebuild::{LogProgress, RebuildSettings, rebuild};
use crate::status::{self, BatchCommit, Checkpoint};
use crate::table::Tables;
use crate::time::to_text;

/// How the workers batch, wait and retry.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeSettings {
    /// The most events in one batch.
    pub max_batch: u32,
    /// A batch taking longer than this is followed by smaller ones, so that no transaction
    /// holds the log's horizon (or the SQLite writer) for long.
    pub batch_target: Duration,
    /// How long a caught-up worker waits for a wake-up before it reads anyway.
    pub poll_interval: Duration,
    /// How often a standby tries to take the lease.
    pub standby_retry: Duration,
    /// The longest wait between retries of a failing batch.
    pub max_backoff: Duration,
    /// Events per batch of a rebuild.
    pub rebuild_batch: u32,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            batch_target: Duration::from_millis(100),
            poll_interval: Duration::from_millis(250),
            standby_retry: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            rebuild_batch: 2000,
        }
    }
}

/// Every projection's worker, running until [`Runtime::stop`].
#[derive(Debug)]
pub struct Runtime {
    stop: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
}

/// What every worker of a runtime shares.
#[derive(Debug)]
struct Shared {
    store: EventStore,
    db: ReadDb,
    leases: Leases,
    settings: RuntimeSettings,
}

impl Runtime {
    /// Sets up the projections' tables and starts a worker for each.
    pub async fn start(
        store: EventStore,
        db: ReadDb,
        projections: Vec<Box<dyn Projection>>,
        settings: RuntimeSettings,
    ) -> Result<Self, ProjectionError> {
        {
            let refs: Vec<&dyn Projection> = projections.iter().map(|p| p.as_ref()).collect();
            status::set_up(&db, &refs).await?;
        }
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            leases: Leases::new(&db),
            store,
            db,
            settings,
        });
        let mut workers: Vec<JoinHandle<()>> = projections
            .into_iter()
            .map(|projection| tokio::spawn(work(shared.clone(), projection, stopped.clone())))
            .collect();
        workers.push(tokio::spawn(report_lag(shared, stopped)));
        Ok(Self { stop, workers })
    }

    /// Stops every worker between batches and waits for them.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for worker in self.workers {
            worker.await.ok();
        }
    }

    /// Whether every worker still runs (none ended on a panic).
    pub fn is_running(&self) -> bool {
        self.workers.iter().all(|w| !w.is_finished())
    }
}

/// A projection's worker: stands by until it holds the lease, then runs live until stopped
/// or the lease is lost.
async fn work(
    shared: Arc<Shared>,
    mut projection: Box<dyn Projection>,
    mut stop: watch::Receiver<bool>,
) {
    let name = projection.name();
    let mut waiting_recorded = false;
    let mut backoff = Backoff::new(shared.settings.max_backoff);
    while !*stop.borrow() {
        let lease = match shared.leases.try_take(name).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                // The live instance owns the status row's state; a standby only says so here.
                if !waiting_recorded {
                    tracing::info!(projection = name, "another instance is live; standing by");
                    waiting_recorded = true;
                }
                pause(&mut stop, shared.settings.standby_retry).await;
                continue;
            }
            Err(error) => {
                tracing::warn!(projection = name, %error, "cannot take the lease; retrying");
                pause(&mut stop, backoff.next()).await;
                continue;
            }
        };
        waiting_recorded = false;
        tracing::info!(projection = name, "live");
        status::record_state(&shared.db, name, "running").await.ok();
        let mut lease = lease;
        let outcome = live(&shared, projection.as_mut(), &mut lease, &mut stop).await;
        // The state is recorded while the lease is still held, so a standby taking over
        // afterwards is never overwritten.
        match &outcome {
            Ok(()) | Err(ProjectionError::Stopped) => {
                status::record_state(&shared.db, name, "stopped").await.ok();
            }
            Err(ProjectionError::LeaseLost) => {}
            Err(error) => {
                status::record_failure(&shared.db, name, &error.to_string(), None, None)
                    .await
                    .ok();
            }
        }
        lease.release().await;
        match outcome {
            Ok(()) | Err(ProjectionError::Stopped) => break,
            Err(ProjectionError::LeaseLost) => {
                tracing::warn!(projection = name, "lost the lease; standing by");
            }
            Err(error) => {
                tracing::error!(projection = name, %error, "the projection stopped; retrying");
                metrics::counter!("supplyline_projection_errors_total", "projection" => name)
                    .increment(1);
                pause(&mut stop, backoff.next()).await;
            }
        }
        projection.forget();
    }
}

/// Runs `projection` live while holding `lease`: batch after batch until stopped.
async fn live(
    shared: &Shared,
    projection: &mut dyn Projection,
    lease: &mut Lease,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let settings = &shared.settings;
    let mut checkpoint = current(shared, projection, stop).await?;
    let mut wakeups = shared.store.wakeups();
    let mut batch_size = settings.max_batch;
    // After a failure, batches of one event up to the failed batch's end, so the error names
    // the very event that fails.
    let mut isolate_until: Option<Position> = None;
    let mut backoff = Backoff::new(settings.max_backoff);
    let mut quick_polls = 0u32;
    // Whether the last attempt failed (the status row says `failing` until one succeeds).
    let mut failing = false;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let limit = if isolate_until.is_some() {
            1
        } else {
            batch_size
        };
        // A read model folds payloads only; a process needs the metadata (its commands
        // carry the causing event's ids).
        let read = if projection.issues_commands() {
            shared.store.read_all(checkpoint.position, limit).await
        } else {
            shared.store.read_bodies(checkpoint.position, limit).await
        };
        let recorded = match read {
            Ok(recorded) => recorded,
            Err(error) => {
                fail(shared, name, &error.to_string(), None, None).await;
                failing = true;
                pause(stop, backoff.next()).await;
                continue;
            }
        };
        if recorded.is_empty() && failing && isolate_until.is_none() {
            // The cause (the log unreadable) is gone and nothing waits to be applied.
            status::record_live(&shared.db, name).await.ok();
            failing = false;
        }
        if recorded.is_empty() {
            // Woken but nothing readable yet (an older transaction still open): look again
            // soon rather than wait for the next poll.
            let wait = if quick_polls < 5 {
                Duration::from_millis(2 << quick_polls).min(settings.poll_interval)
            } else {
                settings.poll_interval
            };
            let woken = wait_for_events(&mut wakeups, stop, wait).await;
            quick_polls = if woken { 0 } else { quick_polls + 1 };
            continue;
        }
        quick_polls = 0;
        let full = recorded.len() >= limit as usize;
        let started = Instant::now();
        match apply_batch(shared, projection, lease, checkpoint, recorded).await {
            Ok(BatchOutcome::Committed { next, settling }) => {
                if projection.kept() > KEEP_LIMIT {
                    projection.forget();
                }
                let elapsed = started.elapsed();
                metrics::histogram!("supplyline_projection_batch_seconds", "projection" => name)
                    .record(elapsed.as_secs_f64());
                metrics::counter!("supplyline_projection_events_total", "projection" => name)
                    .increment(u64::try_from(next.applied - checkpoint.applied).unwrap_or(0));
                metrics::gauge!("supplyline_projection_position", "projection" => name)
                    .set(next.applied as f64);
                checkpoint = next;
                failing = false;
                backoff.reset();
                if isolate_until.is_some_and(|until| checkpoint.position >= until) {
                    isolate_until = None;
                }
                // A process's commands run outside its transaction: only the rest of the
                // batch holds the horizon.
                let holding = elapsed.saturating_sub(settling);
                if holding > settings.batch_target {
                    batch_size = (batch_size / 2).max(10);
                } else if full && holding < settings.batch_target / 4 {
                    batch_size = (batch_size * 2).min(settings.max_batch);
                }
            }
            Ok(BatchOutcome::Moved) => {
                // A rebuild swapped the tables, or another instance committed: start over from
                // the stored checkpoint with nothing kept.
                projection.forget();
                isolate_until = None;
                checkpoint = current(shared, projection, stop).await?;
            }
            Err(BatchError::LeaseLost) => return Err(ProjectionError::LeaseLost),
            Err(BatchError::Failed {
                message,
                position,
                event,
                batch_end,
            }) => {
                projection.forget();
                failing = true;
                fail(shared, name, &message, position, event.as_deref()).await;
                isolate_until = Some(batch_end);
                pause(stop, backoff.next()).await;
            }
        }
    }
}

/// The live checkpoint of `projection`, rebuilding first if its tables are of an older schema.
async fn current(
    shared: &Shared,
    projection: &mut dyn Projection,
    stop: &watch::Receiver<bool>,
) -> Result<Checkpoint, ProjectionError> {
    let name = projection.name();
    let (checkpoint, version) = status::checkpoint(&shared.db, name).await?;
    if version == projection.version() {
        return Ok(checkpoint);
    }
    if projection.issues_commands() {
        return Err(ProjectionError::ProcessVersion {
            name: name.to_owned(),
            stored: version,
            ours: projection.version(),
        });
    }
    if version > projection.version() {
        return Err(ProjectionError::NewerSchema {
            name: name.to_owned(),
            stored: version,
            ours: projection.version(),
        });
    }
    tracing::info!(
        projection = name,
        from = version,
        to = projection.version(),
        "schema version changed: rebuilding while the old tables serve"
    );
    let settings = RebuildSettings {
        batch: shared.settings.rebuild_batch,
        stop: Some(stop.clone()),
    };
    let mut one: [&mut dyn Projection; 1] = [&mut *projection];
    rebuild(
        &shared.store,
        &shared.db,
        &mut one,
        &LogProgress::new(name),
        settings,
    )
    .await?;
    Ok(status::checkpoint(&shared.db, name).await?.0)
}

/// What became of a batch.
enum BatchOutcome {
    /// Committed.
    Committed {
        /// The new checkpoint.
        next: Checkpoint,
        /// How long carrying out its commands took (outside any transaction).
        settling: Duration,
    },
    /// Not committed: the checkpoint had moved.
    Moved,
}

/// Why a batch failed.
enum BatchError {
    LeaseLost,
    Failed {
        message: String,
        /// The failing event's position, once known.
        position: Option<Position>,
        /// The failing event, where known.
        event: Option<String>,
        /// The batch's last position.
        batch_end: Position,
    },
}

/// Decodes, applies and commits one batch.
async fn apply_batch(
    shared: &Shared,
    projection: &mut dyn Projection,
    lease: &mut Lease,
    checkpoint: Checkpoint,
    recorded: Vec<RecordedEvent>,
) -> Result<BatchOutcome, BatchError> {
    let batch_end = recorded.last().map_or(checkpoint.position, |e| e.position);
    let count = i64::try_from(recorded.len()).unwrap_or(i64::MAX);
    let last_event_at = recorded.last().map(|e| to_text(e.recorded_at));
    let events = Event::decode_all(recorded).map_err(|(position, error)| BatchError::Failed {
        message: error.message,
        position: Some(position),
        event: Some(error.event),
        batch_end,
    })?;
    let failed =
        |message: String, position: Option<Position>, event: Option<String>| BatchError::Failed {
            message,
            position,
            event,
            batch_end,
        };
    projection
        .load(&events, &shared.db, Tables::Live)
        .await
        .map_err(|e| failed(format!("read-model database: {e}"), None, None))?;
    for event in &events {
        projection
            .apply(event)
            .map_err(|e| failed(e.0, Some(event.position), Some(event.describe())))?;
    }
    if projection.issues_commands() {
        // An instance that lost its lease issues nothing more (its commands would be
        // harmless repeats, being idempotent, but need not be sent).
        match lease.check().await {
            Ok(()) => {}
            Err(ProjectionError::LeaseLost) => return Err(BatchError::LeaseLost),
            Err(error) => return Err(failed(error.to_string(), None, None)),
        }
    }
    let settle_started = Instant::now();
    projection
        .settle()
        .await
        .map_err(|e| failed(e.message, Some(e.position), Some(e.event)))?;
    let settling = settle_started.elapsed();
    let changes: Changes = projection.take_changes();
    let batch = BatchCommit {
        name: projection.name(),
        from: checkpoint,
        to: batch_end,
        events: count,
        last_event_at,
        changes: &changes,
    };
    // A batch of one event names it; a longer one is retried one event at a time to find it.
    let single = (events.len() == 1).then(|| (events[0].position, events[0].describe()));
    match status::commit_batch(&shared.db, batch, async || lease.check().await).await {
        Ok(true) => Ok(BatchOutcome::Committed {
            next: Checkpoint {
                generation: checkpoint.generation,
                position: batch_end,
                applied: checkpoint.applied + count,
            },
            settling,
        }),
        Ok(false) => Ok(BatchOutcome::Moved),
        Err(ProjectionError::LeaseLost) => Err(BatchError::LeaseLost),
        Err(error) => Err(match single {
            Some((position, event)) => failed(error.to_string(), Some(position), Some(event)),
            None => failed(
                format!("a batch of {count} events failed ({error}); finding the event"),
                None,
                None,
            ),
        }),
    }
}

/// Records a failure in the status table, the logs and the metrics.
async fn fail(
    shared: &Shared,
    name: &'static str,
    message: &str,
    position: Option<Position>,
    event: Option<&str>,
) {
    tracing::error!(
        projection = name,
        position = position.map(|p| p.token()),
        event,
        error = message,
        "the projection failed; it stays at its checkpoint and retries"
    );
    metrics::counter!("supplyline_projection_errors_total", "projection" => name).increment(1);
    if let Err(error) = status::record_failure(&shared.db, name, message, position, event).await {
        tracing::warn!(projection = name, %error, "cannot record the failure");
    }
}

/// Waits for a wake-up, `wait`, or a stop, whichever first; whether it was woken.
async fn wait_for_events(
    wakeups: &mut watch::Receiver<u64>,
    stop: &mut watch::Receiver<bool>,
    wait: Duration,
) -> bool {
    tokio::select! {
        changed = wakeups.changed() => {
            if changed.is_err() {
                // No more wake-ups: polling alone still finds every event.
                tokio::time::sleep(wait).await;
                return false;
            }
            true
        }
        () = tokio::time::sleep(wait) => false,
        _ = stop.changed() => false,
    }
}

/// Sleeps for `wait` unless stopped first.
async fn pause(stop: &mut watch::Receiver<bool>, wait: Duration) {
    if *stop.borrow() {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        _ = stop.changed() => {}
    }
}

/// Jittered exponential backoff: 100 ms doubling up to a cap.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Self {
            next: Duration::from_millis(100),
            max,
        }
    }

    fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = rand::rng().random_range(0.5..1.0);
        wait.mul_f64(jitter)
    }

    fn reset(&mut self) {
        self.next = Duration::from_millis(100);
    }
}

/// How far behind the log each projection is.
#[derive(Debug, Clone, PartialEq)]
pub struct Lag {
    /// Events readable after its checkpoint (counted up to a cap).
    pub events: u64,
    /// How long the oldest of them has waited; zero when caught up.
    pub seconds: f64,
}

/// Counts lag past this many events no further.
const LAG_COUNT_CAP: u64 = 10_000_000;

/// The lag of a projection at `checkpoint`.
pub async fn lag(store: &EventStore, checkpoint: Position) -> Result<Lag, ProjectionError> {
    let events = store.count_after(checkpoint, LAG_COUNT_CAP).await?;
    let seconds = match store.read_all(checkpoint, 1).await?.first() {
        Some(next) => (chrono::Utc::now() - next.recorded_at)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64(),
        None => 0.0,
    };
    Ok(Lag { events, seconds })
}

/// Every few seconds, publishes each projection's lag as metrics.
async fn report_lag(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Ok(rows) = status::all(&shared.db).await {
            for row in rows {
                let Ok(checkpoint) = row.checkpoint() else {
                    continue;
                };
                if let Ok(lag) = lag(&shared.store, checkpoint).await {
                    let name = row.name.clone();
                    metrics::gauge!("supplyline_projection_lag_events", "projection" => name.clone())
                        .set(lag.events as f64);
                    metrics::gauge!("supplyline_projection_lag_seconds", "projection" => name)
                        .set(lag.seconds);
                }
            }
        }
        pause(&mut stop, Duration::from_secs(5)).await;
    }
}

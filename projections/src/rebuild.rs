//! Blue/green rebuilds: a projection's tables are built afresh under generation-suffixed names
//! from the start of the log while the live ones keep serving; once caught up they are swapped
//! in, with the checkpoint, in one transaction.
//!
//! The swap installs tables and checkpoint as one consistent pair, so a live worker (in this
//! process or another) simply finds its next commit refused (the generation changed), forgets
//! what it kept and carries on from the new checkpoint. Before swapping, the build applies
//! whatever the live tables already include, so what queries see never goes back in time.

use std::time::{Duration, Instant};

use chrono::Utc;
use event_store::{EventStore, Position, RecordedEvent};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::ProjectionError;
use crate::changes::{Changes, write_changes};
use crate::db::{BeginWrite, ReadDb, on_db};
use crate::event::Event;
use crate::projection::{KEEP_LIMIT, Projection};
use crate::status;
use crate::table::Tables;
use crate::time::to_text;

/// A rebuild whose heartbeat is older than this is taken to have died; another may start.
const STALE_BUILD: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Events one streamed read of a rebuild returns at most.
const STREAM_ROWS: u32 = 20_000;

/// How a rebuild batches, and when it stops early.
#[derive(Debug, Clone)]
pub struct RebuildSettings {
    /// Events per build transaction.
    pub batch: u32,
    /// Stops the rebuild (its build is dropped) when it turns true: a process shutting down.
    pub stop: Option<watch::Receiver<bool>>,
}

impl Default for RebuildSettings {
    fn default() -> Self {
        Self {
            batch: 2000,
            stop: None,
        }
    }
}

/// How often a rebuild under way says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Where a rebuild is, for a progress bar or a log.
pub trait Progress: Send + Sync {
    /// The build starts; the log holds `total` events.
    fn started(&self, total: u64);
    /// `applied` events are built in.
    fn advanced(&self, applied: u64);
    /// The build moves to another phase (indexes, swap).
    fn phase(&self, message: &str);
    /// The tables were swapped in.
    fn finished(&self, report: &RebuildReport);
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    /// The projections rebuilt.
    pub projections: Vec<&'static str>,
    /// Events read from the log.
    pub events: u64,
    /// How long it took, swap included.
    pub elapsed: Duration,
    /// Where the build's time went.
    pub spent: Spent,
}

/// Where a rebuild's time went, while building (before indexes and swap).
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    /// Waiting for the log's events.
    pub reading: Duration,
    /// Decoding events and folding them into rows.
    pub folding: Duration,
    /// Waiting for the writer to take a batch (the database is the bottleneck).
    pub writing: Duration,
    /// Creating indexes and swapping the tables in.
    pub finishing: Duration,
    /// The writer's time committing batches (alongside the rest).
    pub writer_busy: Duration,
    /// Rows the writer upserted or deleted.
    pub rows_written: u64,
}

impl RebuildReport {
    /// Events per second over the whole rebuild.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Progress nobody watches (tests, benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unwatched;

impl Progress for Unwatched {
    fn started(&self, _total: u64) {}
    fn advanced(&self, _applied: u64) {}
    fn phase(&self, _message: &str) {}
    fn finished(&self, _report: &RebuildReport) {}
}

/// Progress as log lines, for rebuilds the runtime starts itself.
#[derive(Debug)]
pub struct LogProgress {
    name: String,
}

impl LogProgress {
    /// Progress of the rebuild of `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
        }
    }
}

impl Progress for LogProgress {
    fn started(&self, total: u64) {
        tracing::info!(projection = %self.name, total, "rebuild started");
    }

    fn advanced(&self, _applied: u64) {}

    fn phase(&self, message: &str) {
        tracing::info!(projection = %self.name, "rebuild: {message}");
    }

    fn finished(&self, report: &RebuildReport) {
        tracing::info!(
            projection = %self.name,
            events = report.events,
            seconds = report.elapsed.as_secs_f64(),
            reading = report.spent.reading.as_secs_f64(),
            folding = report.spent.folding.as_secs_f64(),
            writing = report.spent.writing.as_secs_f64(),
            finishing = report.spent.finishing.as_secs_f64(),
            "rebuild swapped in"
        );
    }
}

/// One projection's build.
struct Build<'a> {
    projection: &'a mut dyn Projection,
    generation: i64,
    version: i64,
}

/// Rebuilds `projections` from the start of the log, reading it once for all of them, and
/// swaps each in once caught up with its live tables.
pub async fn rebuild(
    store: &EventStore,
    db: &ReadDb,
    projections: &mut [&mut dyn Projection],
    progress: &dyn Progress,
    settings: RebuildSettings,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    if let Some(process) = projections.iter().find(|p| p.issues_commands()) {
        return Err(ProjectionError::NotRebuildable(process.name().to_owned()));
    }
    {
        let refs: Vec<&dyn Projection> = projections.iter().map(|p| &**p).collect();
        status::set_up(db, &refs).await?;
    }
    let build_id = Uuid::now_v7().to_string();
    let mut builds = Vec::with_capacity(projections.len());
    for projection in projections.iter_mut() {
        match claim(db, &build_id, &**projection).await {
            Ok(generation) => builds.push(Build {
                version: projection.version(),
                projection: &mut **projection,
                generation,
            }),
            Err(error) => {
                for build in &builds {
                    abandon(db, &build_id, build).await;
                }
                return Err(error);
            }
        }
    }
    let names: Vec<&'static str> = builds.iter().map(|b| b.projection.name()).collect();
    // Stops beating however this function ends (an error, a panic, a dropped future).
    let heartbeat = AbortOnDrop(tokio::spawn(beat(db.clone(), build_id.clone(), names)));
    let result = run(store, db, &build_id, &mut builds, progress, &settings).await;
    drop(heartbeat);
    match result {
        Ok((events, spent)) => {
            let report = RebuildReport {
                projections: builds.iter().map(|b| b.projection.name()).collect(),
                events,
                elapsed: started.elapsed(),
                spent,
            };
            progress.finished(&report);
            Ok(report)
        }
        Err(error) => {
            for build in &builds {
                abandon(db, &build_id, build).await;
            }
            Err(error)
        }
    }
}

/// Builds, catches up and swaps every build; returns the events read.
///
/// Reading, decoding and folding run here while a writer task commits the previous batch, so
/// the database's work and ours overlap.
async fn run(
    store: &EventStore,
    db: &ReadDb,
    build_id: &str,
    builds: &mut [Build<'_>],
    progress: &dyn Progress,
    settings: &RebuildSettings,
) -> Result<(u64, Spent), ProjectionError> {
    let total = store.count_after(Position::START, u64::MAX).await?;
    for build in builds.iter() {
        on_db!(db, pool => sqlx::query(
            "UPDATE projection_status SET build_total = $1 WHERE name = $2 AND build_id = $3",
        )
        .bind(i64::try_from(total).unwrap_or(i64::MAX))
        .bind(build.projection.name())
        .bind(build_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    }
    progress.started(total);
    let writers = Writers::start(db, build_id, builds.len());
    let produced = produce(store, db, builds, &writers, progress, settings).await;
    // A writer's own error explains a producer that found it gone.
    let (writer_busy, rows_written) = writers.finish().await?;
    let (position, applied, mut spent) = produced?;
    spent.writer_busy = writer_busy;
    spent.rows_written = rows_written;
    let finishing = Instant::now();
    progress.phase("creating indexes");
    for build in builds.iter() {
        for table in build.projection.tables() {
            let name = table.build_name(build.generation);
            for index in table.index_sql(&name, build.generation) {
                on_db!(db, pool => sqlx::query(&index).execute(pool).await.map(|_| ()))?;
            }
        }
    }
    progress.phase("swapping in");
    let mut read = applied;
    for build in builds.iter_mut() {
        read += swap(store, db, build_id, build, position, applied, settings).await?;
    }
    spent.finishing = finishing.elapsed();
    Ok((read, spent))
}

/// One build transaction: each build's changes, and where the builds have got to.
struct Job {
    changes: Vec<(&'static str, i64, Changes)>,
    /// Where the builds stood before this batch: its progress update checks it, so a batch
    /// lost in a database crash (build batches commit asynchronously) fails the rebuild
    /// rather than leave a hole.
    after: Position,
    last: Position,
    applied: u64,
    /// Told once this job (and every one before it) is committed.
    flushed: Option<oneshot::Sender<()>>,
}

/// Reads the log from the start to the head, folding each batch into every build and handing
/// its changes to the writer; returns the position reached and the events read.
async fn produce(
    store: &EventStore,
    db: &ReadDb,
    builds: &mut [Build<'_>],
    writers: &Writers,
    progress: &dyn Progress,
    settings: &RebuildSettings,
) -> Result<(Position, u64, Spent), ProjectionError> {
    let mut position = Position::START;
    let mut applied = 0u64;
    let mut spent = Spent::default();
    let mut clock = Instant::now();
    // A reader task reads and decodes the next batches while this one folds.
    let (batches, mut received) = mpsc::channel(2);
    let reader = tokio::spawn(read_log(store.clone(), settings.batch.max(1), batches));
    while let Some(batch) = received.recv().await {
        if settings.stop.as_ref().is_some_and(|stop| *stop.borrow()) {
            reader.abort();
            return Err(ProjectionError::Stopped);
        }
        let Decoded {
            events,
            count,
            last,
        } = batch?;
        spent.reading += lap(&mut clock);
        applied += count as u64;
        let changes = apply_all(db, builds, events).await?;
        spent.folding += lap(&mut clock);
        writers.send(changes, position, last, applied).await?;
        spent.writing += lap(&mut clock);
        position = last;
        progress.advanced(applied);
        if builds.iter().any(|b| b.projection.kept() > KEEP_LIMIT) {
            writers.flush().await?;
            for build in builds.iter_mut() {
                build.projection.forget();
            }
        }
    }
    reader
        .await
        .map_err(|e| ProjectionError::Corrupt(format!("the rebuild's reader failed: {e}")))?;
    writers.flush().await?;
    spent.writing += lap(&mut clock);
    Ok((position, applied, spent))
}

/// A batch of the log, decoded.
struct Decoded {
    /// The events of the five aggregates.
    events: Vec<Event>,
    /// Events read (other aggregates' included).
    count: usize,
    /// The position of the last.
    last: Position,
}

/// Reads the log from the start until caught up with the head, in decoded batches: streamed
/// reads (each a bounded query, so none runs for minutes), then batches. An error is sent on
/// as the last item.
async fn read_log(
    store: EventStore,
    batch: u32,
    batches: mpsc::Sender<Result<Decoded, ProjectionError>>,
) {
    if let Err(error) = send_log(&store, batch, &batches).await {
        batches.send(Err(error)).await.ok();
    }
}

/// The body of [`read_log`]: `Ok` once caught up, or once the folder stopped listening.
async fn send_log(
    store: &EventStore,
    batch: u32,
    batches: &mpsc::Sender<Result<Decoded, ProjectionError>>,
) -> Result<(), ProjectionError> {
    let mut position = Position::START;
    // Streamed reads while they come back full.
    loop {
        let mut read = 0usize;
        let mut stream = store
            .stream_bodies(position, STREAM_ROWS)
            .chunks(batch as usize);
        while let Some(chunk) = stream.next().await {
            let recorded = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
            read += recorded.len();
            let Some(next) = decoded(recorded)? else {
                break;
            };
            position = next.last;
            if batches.send(Ok(next)).await.is_err() {
                return Ok(());
            }
        }
        if read < STREAM_ROWS as usize {
            break;
        }
    }
    // Then batches, until one comes back short: caught up with the head.
    loop {
        let recorded = store.read_all(position, batch).await?;
        let full = recorded.len() >= batch as usize;
        let Some(next) = decoded(recorded)? else {
            return Ok(());
        };
        position = next.last;
        if batches.send(Ok(next)).await.is_err() || !full {
            return Ok(());
        }
    }
}

/// A batch decoded, with its size and last position; `None` for no events.
fn decoded(recorded: Vec<RecordedEvent>) -> Result<Option<Decoded>, ProjectionError> {
    let Some(last) = recorded.last().map(|e| e.position) else {
        return Ok(None);
    };
    let count = recorded.len();
    Ok(Some(Decoded {
        events: decode(recorded)?,
        count,
        last,
    }))
}

/// The time since `clock`, which restarts.
fn lap(clock: &mut Instant) -> Duration {
    let now = Instant::now();
    let lap = now - *clock;
    *clock = now;
    lap
}

/// One writer task per build, each committing its build's batches in order on a connection
/// of its own, so the database writes the builds' tables in parallel.
struct Writers {
    senders: Vec<mpsc::Sender<Job>>,
    tasks: Vec<tokio::task::JoinHandle<Result<(Duration, u64), ProjectionError>>>,
}

impl Writers {
    fn start(db: &ReadDb, build_id: &str, builds: usize) -> Self {
        let (mut senders, mut tasks) = (Vec::new(), Vec::new());
        for _ in 0..builds {
            let (sender, mut receiver) = mpsc::channel::<Job>(2);
            let (db, build_id) = (db.clone(), build_id.to_owned());
            tasks.push(tokio::spawn(async move {
                let (mut busy, mut rows) = (Duration::ZERO, 0u64);
                while let Some(job) = receiver.recv().await {
                    let started = Instant::now();
                    write_job(&db, &build_id, &job).await?;
                    busy += started.elapsed();
                    rows += job
                        .changes
                        .iter()
                        .map(|(_, _, c)| c.len() as u64)
                        .sum::<u64>();
                    if let Some(flushed) = job.flushed {
                        flushed.send(()).ok();
                    }
                }
                Ok((busy, rows))
            }));
            senders.push(sender);
        }
        Self { senders, tasks }
    }

    /// Hands each build's changes to its writer.
    async fn send(
        &self,
        changes: Vec<(&'static str, i64, Changes)>,
        after: Position,
        last: Position,
        applied: u64,
    ) -> Result<(), ProjectionError> {
        for (sender, changes) in self.senders.iter().zip(changes) {
            let job = Job {
                changes: vec![changes],
                after,
                last,
                applied,
                flushed: None,
            };
            sender.send(job).await.map_err(|_| writer_gone())?;
        }
        Ok(())
    }

    /// Waits until every batch handed over so far is committed.
    async fn flush(&self) -> Result<(), ProjectionError> {
        let mut waits = Vec::new();
        for sender in &self.senders {
            let (flushed, committed) = oneshot::channel();
            let job = Job {
                changes: Vec::new(),
                after: Position::START,
                last: Position::START,
                applied: 0,
                flushed: Some(flushed),
            };
            sender.send(job).await.map_err(|_| writer_gone())?;
            waits.push(committed);
        }
        for committed in waits {
            committed.await.map_err(|_| writer_gone())?;
        }
        Ok(())
    }

    /// Stops the writers once they have committed everything; the time they spent writing
    /// (summed) and the rows they wrote.
    async fn finish(self) -> Result<(Duration, u64), ProjectionError> {
        drop(self.senders);
        let (mut busy, mut rows) = (Duration::ZERO, 0);
        let mut first_error = None;
        for task in self.tasks {
            match task.await {
                Ok(Ok((b, r))) => {
                    busy += b;
                    rows += r;
                }
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(error) => {
                    first_error.get_or_insert(ProjectionError::Corrupt(format!(
                        "a rebuild writer failed: {error}"
                    )));
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok((busy, rows)),
        }
    }
}

fn writer_gone() -> ProjectionError {
    ProjectionError::Corrupt("a rebuild writer stopped".into())
}

/// Folds decoded events into every build; returns each build's changes.
async fn apply_all(
    db: &ReadDb,
    builds: &mut [Build<'_>],
    events: Vec<Event>,
) -> Result<Vec<(&'static str, i64, Changes)>, ProjectionError> {
    let mut all = Vec::with_capacity(builds.len());
    for build in builds.iter_mut() {
        let changes = apply(db, build, &events).await?;
        all.push((build.projection.name(), build.generation, changes));
    }
    Ok(all)
}

/// Commits one job: each build's rows and progress, in one transaction.
async fn write_job(db: &ReadDb, build_id: &str, job: &Job) -> Result<(), ProjectionError> {
    if job.changes.is_empty() {
        return Ok(());
    }
    let now = to_text(Utc::now());
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if matches!(db, ReadDb::Postgres(_)) {
            // A build that dies is started over from the log, so its batches need not wait
            // for the disk; the swap that makes them live commits synchronously.
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        }
        for (name, generation, changes) in &job.changes {
            let moved = sqlx::query(
                "UPDATE projection_status SET build_position = $1, build_applied = $2, \
                     build_heartbeat = $3 WHERE name = $4 AND build_id = $5 \
                   AND build_position = $6",
            )
            .bind(job.last.token())
            .bind(i64::try_from(job.applied).unwrap_or(i64::MAX))
            .bind(&now)
            .bind(*name)
            .bind(build_id)
            .bind(job.after.token())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                return Err(ProjectionError::RebuildInterrupted((*name).to_owned()));
            }
            write_changes(&mut tx, changes, Tables::Build(*generation)).await?;
        }
        tx.commit().await?;
        Ok::<(), ProjectionError>(())
    })
}

/// Applies a batch to one build and commits it with its progress (the catch-up before a swap).
async fn build_one(
    db: &ReadDb,
    build_id: &str,
    build: &mut Build<'_>,
    recorded: Vec<RecordedEvent>,
    after: Position,
    applied: u64,
) -> Result<Position, ProjectionError> {
    let last = recorded.last().map_or(after, |e| e.position);
    let changes = apply_all(db, std::slice::from_mut(build), decode(recorded)?).await?;
    let job = Job {
        changes,
        after,
        last,
        applied,
        flushed: None,
    };
    write_job(db, build_id, &job).await?;
    Ok(last)
}

/// Decodes a batch; an event that cannot be decoded fails the rebuild (it never skips).
fn decode(recorded: Vec<RecordedEvent>) -> Result<Vec<Event>, ProjectionError> {
    Event::decode_all(recorded).map_err(|(position, error)| ProjectionError::Apply {
        event: error.event,
        position: position.token(),
        message: error.message,
    })
}

/// Applies decoded events to one build; returns its changes.
async fn apply(
    db: &ReadDb,
    build: &mut Build<'_>,
    events: &[Event],
) -> Result<Changes, ProjectionError> {
    build
        .projection
        .load(events, db, Tables::Build(build.generation))
        .await?;
    for event in events {
        build
            .projection
            .apply(event)
            .map_err(|e| ProjectionError::Apply {
                event: event.describe(),
                position: event.position.token(),
                message: e.0,
            })?;
    }
    Ok(build.projection.take_changes())
}

/// Claims the rebuild of `projection` and creates its build tables; returns their generation.
async fn claim(
    db: &ReadDb,
    build_id: &str,
    projection: &dyn Projection,
) -> Result<i64, ProjectionError> {
    let name = projection.name();
    let now = Utc::now();
    let generation: Option<i64> = on_db!(db, pool => sqlx::query_scalar(
        "UPDATE projection_status SET build_id = $1, build_heartbeat = $2, \
             build_generation = generation + 1, build_version = $3, build_position = $4, \
             build_applied = 0, build_total = NULL, build_started_at = $2 \
         WHERE name = $5 AND (build_id IS NULL OR build_heartbeat < $6) \
         RETURNING build_generation",
    )
    .bind(build_id)
    .bind(to_text(now))
    .bind(projection.version())
    .bind(Position::START.token())
    .bind(name)
    .bind(to_text(now - STALE_BUILD))
    .fetch_optional(pool)
    .await)?;
    let generation = generation.ok_or_else(|| ProjectionError::RebuildUnderWay(name.to_owned()))?;
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        for table in projection.tables() {
            let build = table.build_name(generation);
            // What a build that died left behind.
            sqlx::query(&format!("DROP TABLE IF EXISTS {build}"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&table.create_sql(&build, generation))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok::<(), sqlx::Error>(())
    })?;
    Ok(generation)
}

/// Attempts at swapping a build in before giving up.
const SWAP_ATTEMPTS: u32 = 30;

/// Catches `build` up with its live tables and swaps it in, in one transaction; returns the
/// events read to catch up. A swap that cannot lock the live tables at once (a long query is
/// reading them) or finds them moved on is rolled back and tried again after catching up.
async fn swap(
    store: &EventStore,
    db: &ReadDb,
    build_id: &str,
    build: &mut Build<'_>,
    built_to: Position,
    built_applied: u64,
    settings: &RebuildSettings,
) -> Result<u64, ProjectionError> {
    let name = build.projection.name();
    let mut position = built_to;
    let mut applied = built_applied;
    for attempt in 1..=SWAP_ATTEMPTS {
        // Catch up outside the swap's transaction (a live worker kept going during the
        // build), so the swap itself stays short.
        loop {
            let live = status::one(db, name).await?.checkpoint()?;
            if live <= position {
                break;
            }
            let gap = until(store, position, live, settings.batch).await?;
            if gap.is_empty() {
                break;
            }
            applied += gap.len() as u64;
            position = build_one(db, build_id, build, gap, position, applied).await?;
        }
        if settings.stop.as_ref().is_some_and(|stop| *stop.borrow()) {
            return Err(ProjectionError::Stopped);
        }
        // What the live tables gained meanwhile is folded inside the swap if it is at most a
        // batch (always on the last attempt).
        let fold_up_to = if attempt == SWAP_ATTEMPTS {
            u32::MAX
        } else {
            settings.batch
        };
        match swap_once(store, db, build_id, build, position, applied, fold_up_to).await {
            Ok(Some(caught_up)) => return Ok(applied + caught_up - built_applied),
            Ok(None) => {}
            Err(ProjectionError::Database(error)) if is_lock_timeout(&error) => {
                tracing::info!(
                    projection = name,
                    attempt,
                    "the live tables are busy; retrying the swap"
                );
            }
            Err(error) => return Err(error),
        }
        // Rows folded inside a rolled-back attempt are not in the build tables: read afresh.
        build.projection.forget();
        tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10)))).await;
    }
    Err(ProjectionError::Corrupt(format!(
        "could not swap the rebuilt {name} in after {SWAP_ATTEMPTS} attempts"
    )))
}

/// Whether a PostgreSQL error is `lock_not_available` (a `lock_timeout` ran out).
fn is_lock_timeout(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "55P03")
}

/// One swap attempt: `Ok(None)` if the live tables moved more than `fold_up_to` events past
/// the build, else the events folded inside to catch up.
async fn swap_once(
    store: &EventStore,
    db: &ReadDb,
    build_id: &str,
    build: &mut Build<'_>,
    built_to: Position,
    built_applied: u64,
    fold_up_to: u32,
) -> Result<Option<u64>, ProjectionError> {
    let name = build.projection.name();
    let mut position = built_to;
    let mut applied = built_applied;
    let now = to_text(Utc::now());
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let postgres = matches!(db, ReadDb::Postgres(_));
        if postgres {
            // Queries reading the live tables hold the swap back: never wait long for them
            // (and never make new queries queue behind the swap for long).
            sqlx::query("SET LOCAL lock_timeout = '1s'").execute(&mut *tx).await?;
        }
        // Locks the status row first (as every batch does), so no live batch commits between
        // reading the live checkpoint and the swap.
        let claimed = sqlx::query(
            "UPDATE projection_status SET build_heartbeat = $1 WHERE name = $2 AND build_id = $3",
        )
        .bind(&now)
        .bind(name)
        .bind(build_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            return Err(ProjectionError::RebuildUnderWay(name.to_owned()));
        }
        if postgres {
            let live: Vec<&str> = build.projection.tables().iter().map(|t| t.name).collect();
            sqlx::query(&format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", live.join(", ")))
                .execute(&mut *tx)
                .await?;
        }
        let live: String =
            sqlx::query_scalar("SELECT position FROM projection_status WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
        let live = Position::from_token(&live)
            .map_err(|e| ProjectionError::Corrupt(format!("{name}: {e}")))?;
        let mut last_event_at = None;
        if live > position {
            let gap = until(store, position, live, fold_up_to.saturating_add(1)).await?;
            if gap.len() > fold_up_to as usize {
                tx.rollback().await?;
                return Ok(None);
            }
            applied += gap.len() as u64;
            last_event_at = gap.last().map(|e| to_text(e.recorded_at));
            position = gap.last().map_or(position, |e| e.position);
            let events = decode(gap)?;
            let changes = apply(db, build, &events).await?;
            write_changes(&mut tx, &changes, Tables::Build(build.generation)).await?;
        }
        for table in build.projection.tables() {
            sqlx::query(&format!("DROP TABLE IF EXISTS {}", table.name))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "ALTER TABLE {} RENAME TO {}",
                table.build_name(build.generation),
                table.name
            ))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE projection_status SET generation = $1, version = $2, position = $3, \
                 applied = $4, last_event_at = COALESCE($5, last_event_at), rebuilt_at = $6, \
                 updated_at = $6, build_id = NULL, build_heartbeat = NULL, \
                 build_generation = NULL, build_version = NULL, build_position = NULL, \
                 build_applied = NULL, build_total = NULL, build_started_at = NULL \
             WHERE name = $7",
        )
        .bind(build.generation)
        .bind(build.version)
        .bind(position.token())
        .bind(i64::try_from(applied).unwrap_or(i64::MAX))
        .bind(last_event_at)
        .bind(&now)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<(), ProjectionError>(())
    })?;
    build.projection.forget();
    Ok(Some(applied - built_applied))
}

/// The events after `after` up to and including `to`, at most `limit`.
async fn until(
    store: &EventStore,
    after: Position,
    to: Position,
    limit: u32,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let mut events = Vec::new();
    let mut position = after;
    while events.len() < limit as usize {
        let want = (limit as usize - events.len()).min(10_000) as u32;
        let batch = store.read_all(position, want).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            break;
        };
        let full = batch.len() >= want as usize;
        events.extend(batch.into_iter().take_while(|e| e.position <= to));
        position = last;
        if position >= to || !full {
            break;
        }
    }
    Ok(events)
}

/// Gives up a build: drops its claim and its tables, in one transaction and only if the claim
/// is still ours (best effort; a claim left behind goes stale and the next rebuild drops the
/// tables).
async fn abandon(db: &ReadDb, build_id: &str, build: &Build<'_>) {
    let name = build.projection.name();
    let dropped: Result<(), sqlx::Error> = async {
        on_db!(db, pool => {
            let mut tx = pool.begin_write().await?;
            let ours = sqlx::query(
                "UPDATE projection_status SET build_id = NULL, build_heartbeat = NULL, \
                     build_generation = NULL, build_version = NULL, build_position = NULL, \
                     build_applied = NULL, build_total = NULL, build_started_at = NULL \
                 WHERE name = $1 AND build_id = $2",
            )
            .bind(name)
            .bind(build_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if ours == 1 {
                for table in build.projection.tables() {
                    sqlx::query(&format!(
                        "DROP TABLE IF EXISTS {}",
                        table.build_name(build.generation)
                    ))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await
        })
    }
    .await;
    if let Err(error) = dropped {
        tracing::warn!(projection = name, %error, "cannot clean up the abandoned rebuild");
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps a rebuild's claims fresh while it runs (through long index builds too), so no other
/// rebuild takes them for a dead one's.
async fn beat(db: ReadDb, build_id: String, names: Vec<&'static str>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let now = to_text(Utc::now());
        for name in &names {
            let beat: Result<(), sqlx::Error> = on_db!(&db, pool => sqlx::query(
                "UPDATE projection_status SET build_heartbeat = $1 WHERE name = $2 AND build_id = $3",
            )
            .bind(&now)
            .bind(*name)
            .bind(&build_id)
            .execute(pool)
            .await
            .map(|_| ()));
            if let Err(error) = beat {
                tracing::warn!(projection = name, %error, "cannot refresh the rebuild's heartbeat");
            }
        }
    }
}

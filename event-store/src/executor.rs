//! The one write path, shared by the command API and the process managers: load the aggregate
//! (latest snapshot plus later events), let it decide, append with the expected version, and
//! retry the whole decision a bounded number of times when a concurrent write wins.
//!
//! It owns this step instead of cqrs-es's `CqrsFramework`, whose `execute` returns nothing (the
//! API must answer with the new version and position) and whose snapshot store applies every
//! new event twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use event_schemas::values::Actor;
use event_schemas::{ChainHash, EventMetadata};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::passivation::Passivation;
use crate::slots::{Slots, Turn};
use crate::store::upcast_all;
use crate::{
    AppendRequest, CommitPoint, EventStore, IdempotencyClaim, IdempotentOutcome, KeyOutcome,
    NewEvent, Position, RawEvent, Snapshot, StoreError, StreamId, StreamLock,
};

/// Who asks, why, and under which guarantees (API.md: metadata, `Idempotency-Key`, `If-Match`).
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The authenticated actor.
    pub actor: Actor,
    /// The command's name, recorded in each event's metadata.
    pub command: String,
    /// The request id (`X-Request-Id`), or the process run for process managers.
    pub request_id: String,
    /// The correlation id shared by everything the client's request set in motion.
    pub correlation_id: Uuid,
    /// What directly caused this command (the request, or an event for process managers).
    pub causation_id: Uuid,
    /// The idempotency key claimed by the command, if any.
    pub idempotency: Option<IdempotencyClaim>,
    /// `If-Match`: apply only if the stream is at this version.
    pub expected_version: Option<u64>,
    /// Reached when the command's append is sent: from then on, a caller with a deadline must
    /// wait for the true outcome rather than answer "not applied".
    pub commit_point: CommitPoint,
}

impl CommandContext {
    /// A context of its own for a command `actor` issues outside any request (tools,
    /// benchmarks, tests): fresh ids, no idempotency key, no expected version.
    pub fn new(actor: Actor, command: &str) -> Self {
        let id = Uuid::now_v7();
        Self {
            actor,
            command: command.to_owned(),
            request_id: id.to_string(),
            correlation_id: id,
            causation_id: id,
            idempotency: None,
            expected_version: None,
            commit_point: CommitPoint::new(),
        }
    }
}

/// An aggregate as loaded from the log.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// Its state.
    pub state: A,
    /// Its stream's version (0: it does not exist).
    pub version: u64,
    /// The hash of its last event.
    pub last_hash: ChainHash,
    /// The position of its last event.
    pub position: Option<Position>,
    /// The version of its latest snapshot known to be stored (0: none).
    pub(crate) snapshotted: u64,
}

impl<A: Default> Default for Loaded<A> {
    fn default() -> Self {
        Self {
            state: A::default(),
            version: 0,
            last_hash: ChainHash::GENESIS,
            position: None,
            snapshotted: 0,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct Executed<E> {
    /// The stream's version after the command.
    pub version: u64,
    /// The position of the stream's last event after the command.
    pub position: Option<Position>,
    /// The events the command appended (empty when it changed nothing or was replayed).
    pub events: Vec<E>,
    /// True when the idempotency key already stood for this command: nothing was decided or
    /// appended, and the values are the first execution's.
    pub replayed: bool,
    /// How many times the command was decided (more than one: concurrent writes won before).
    pub attempts: u32,
}

/// Why a command was not executed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error> {
    /// The aggregate refused it.
    #[error(transparent)]
    Rejected(E),
    /// `If-Match` named another version than the stream's.
    #[error("the stream is at version {actual}, not {expected}")]
    VersionMismatch {
        /// The version the client expected.
        expected: u64,
        /// The stream's version.
        actual: u64,
    },
    /// Concurrent writes kept winning the race, past the retry budget.
    #[error("the aggregate kept changing concurrently ({attempts} attempts)")]
    Contention {
        /// How many times the command was decided.
        attempts: u32,
    },
    /// The idempotency key was already used with a different request.
    #[error("the idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl<E: std::error::Error> From<StoreError> for ExecuteError<E> {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            other => Self::Store(other),
        }
    }
}

/// Where a replay stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayUntil {
    /// Through the stream's last event.
    End,
    /// Through this stream version.
    Version(u64),
    /// Through the last event recorded at or before this time (the time in its metadata, which
    /// its hash covers).
    Time(DateTime<Utc>),
}

/// Executes commands of aggregate `A` against the store. Clones share their queues and kept
/// states: build one per aggregate type and process, and share it.
pub struct Executor<A: Aggregate> {
    store: EventStore,
    services: Arc<A::Services>,
    snapshot_every: u64,
    max_attempts: u32,
    slots: Arc<Slots<A>>,
    transient: fn(&A::Error) -> bool,
}

impl<A: Aggregate> Clone for Executor<A> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            services: self.services.clone(),
            snapshot_every: self.snapshot_every,
            max_attempts: self.max_attempts,
            slots: self.slots.clone(),
            transient: self.transient,
        }
    }
}

/// No refusal is transient unless the executor is told otherwise.
fn never<E>(_: &E) -> bool {
    false
}

/// By default a snapshot is taken every this many events of a stream.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 50;

/// By default a command is decided at most this many times when concurrent writes win.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// By default this many aggregates per type are kept in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// The first retry after a lost race waits up to this long (jittered), doubling per retry.
const BACKOFF_BASE: Duration = Duration::from_millis(1);

/// No retry waits longer than this.
const BACKOFF_CAP: Duration = Duration::from_millis(50);

/// Waits a random time below `BACKOFF_BASE * 2^(retry - 1)` (capped): processes that lost a
/// race to one aggregate spread their retries instead of colliding again.
async fn backoff(retry: u32) {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    let wait = rand::rng().random_range(0..=micros);
    tokio::time::sleep(Duration::from_micros(wait)).await;
}

impl<A> Executor<A>
where
    A: Aggregate + Serialize + DeserializeOwned + 'static,
    A::Command: Clone,
    A::Error: Serialize + DeserializeOwned,
{
    /// An executor with the default snapshot interval and retry budget.
    pub fn new(store: EventStore, services: A::Services) -> Self {
        Self {
            store,
            services: Arc::new(services),
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            slots: Arc::new(Slots::new(0)),
            transient: never,
        }
        .with_cache(DEFAULT_CACHE_CAPACITY)
    }

    /// Tells which refusals are transient (say, a lookup the decision needed was unavailable):
    /// those are never kept as an idempotency key's answer, so a retry is decided afresh.
    pub fn with_transient_refusals(mut self, transient: fn(&A::Error) -> bool) -> Self {
        self.transient = transient;
        self
    }

    /// Whether `refusal` is transient (see [`Self::with_transient_refusals`]).
    pub fn is_transient(&self, refusal: &A::Error) -> bool {
        (self.transient)(refusal)
    }

    /// Keeps up to `capacity` recently used aggregates in memory (0: none, always load).
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.slots = self.slots_of(capacity);
        self
    }

    /// Takes a snapshot every `every` events (0: never), and of every aggregate the cache
    /// drops with events since its last (unless never).
    pub fn with_snapshot_every(mut self, every: u64) -> Self {
        self.snapshot_every = every;
        self.slots = self.slots_of(self.slots.capacity());
        self
    }

    /// Slots keeping up to `capacity` states, those dropped snapshotted unless snapshots are
    /// never taken.
    fn slots_of(&self, capacity: usize) -> Arc<Slots<A>> {
        let slots = Slots::new(capacity);
        Arc::new(if self.snapshot_every == 0 {
            slots
        } else {
            slots.with_passivation(Passivation::new(self.store.clone(), A::TYPE))
        })
    }

    /// Decides a command at most `attempts` times (at least once).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The store this executor writes to.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Loads the aggregate: its latest snapshot, then the events after it.
    pub async fn load(&self, aggregate_id: &str) -> Result<Loaded<A>, StoreError> {
        self.load_stream(&StreamId::new(A::TYPE, aggregate_id), true, None)
            .await
    }

    /// Loads a stream's aggregate, from its latest snapshot when `from_snapshot`; under a
    /// stream lock, through the lock's own connection.
    async fn load_stream(
        &self,
        stream: &StreamId,
        from_snapshot: bool,
        mut lock: Option<&mut Box<dyn StreamLock>>,
    ) -> Result<Loaded<A>, StoreError> {
        let mut loaded = Loaded::<A>::default();
        // A cold load without a lock: the snapshot and the events after it (in one query on
        // PostgreSQL), the payloads left as text.
        let (snapshot, mut tail) = match (&mut lock, from_snapshot) {
            (_, false) => (None, None),
            (Some(lock), true) => (lock.load_snapshot(stream).await?, None),
            (None, true) => {
                let (snapshot, events) = self.store.load_to_decide(stream).await?;
                (snapshot, Some(events))
            }
        };
        if let Some(snapshot) = snapshot {
            match serde_json::from_value::<A>(snapshot.state) {
                Ok(state) => {
                    loaded = Loaded {
                        state,
                        version: snapshot.version,
                        last_hash: snapshot.last_hash,
                        position: Some(snapshot.position),
                        snapshotted: snapshot.version,
                    };
                }
                // A snapshot of an older state shape: replay from the start instead.
                Err(error) => {
                    tracing::warn!(%stream, %error, "ignoring unreadable snapshot");
                    tail = None;
                }
            }
        }
        if let Some(mut tail) = tail {
            for event in &mut tail {
                apply_stored(&mut loaded, event)?;
            }
            if let Some(last) = tail.last() {
                loaded.last_hash = last.hash()?;
            }
            return Ok(loaded);
        }
        let events = match lock {
            Some(lock) => upcast_all(lock.read_stream(stream, loaded.version).await?),
            None => self.store.read_stream(stream, loaded.version).await?,
        };
        for event in events {
            apply_recorded(&mut loaded, event)?;
        }
        Ok(loaded)
    }

    /// Rebuilds the aggregate from its events only (no snapshot), up to a point in its
    /// history: what an auditor's replay shows.
    pub async fn replay(
        &self,
        aggregate_id: &str,
        until: ReplayUntil,
    ) -> Result<Loaded<A>, StoreError> {
        replay(&self.store, aggregate_id, until).await
    }

    /// Loads, decides and appends `command` for aggregate `aggregate_id`. Commands for one
    /// aggregate take turns in this process; a race lost to another process is retried
    /// (after a jittered wait) under the stream's lock, so it cannot be lost twice. Under an
    /// idempotency key, the key's first answer is the answer, whatever it was.
    #[tracing::instrument(
        skip_all,
        fields(aggregate_type = A::TYPE, aggregate_id, command = %context.command)
    )]
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<Executed<A::Event>, ExecuteError<A::Error>> {
        if let Some(first) = self.first_answer(context).await? {
            return first;
        }
        let stream = StreamId::new(A::TYPE, aggregate_id);
        let mut turn = self.slots.turn(aggregate_id).await;
        let outcome = self
            .decide_and_append(&stream, command, context, &mut turn)
            .await;
        drop(turn);
        match outcome {
            // An identical request may have won since the check above.
            Err(error @ ExecuteError::Contention { .. }) if context.idempotency.is_some() => {
                match self.first_answer(context).await? {
                    Some(first) => first,
                    None => Err(error),
                }
            }
            other => other,
        }
    }

    /// The first answer of the command's idempotency key, if it was used before.
    async fn first_answer(
        &self,
        context: &CommandContext,
    ) -> Result<Option<Result<Executed<A::Event>, ExecuteError<A::Error>>>, ExecuteError<A::Error>>
    {
        let Some(claim) = &context.idempotency else {
            return Ok(None);
        };
        let Some(first) = self.store.idempotent_outcome(&claim.key).await? else {
            return Ok(None);
        };
        Ok(Some(answer_of::<A>(claim, first)))
    }

    /// Answers `fresh`, after recording `outcome` as the key's answer when the command has a
    /// key; if the key got an answer meanwhile, that one is the answer.
    async fn answer_once(
        &self,
        context: &CommandContext,
        stream: &StreamId,
        outcome: impl FnOnce() -> Result<KeyOutcome, StoreError>,
        fresh: Result<Executed<A::Event>, ExecuteError<A::Error>>,
    ) -> Result<Executed<A::Event>, ExecuteError<A::Error>> {
        let Some(claim) = &context.idempotency else {
            return fresh;
        };
        match self
            .store
            .record_outcome(claim, stream, &outcome()?)
            .await?
        {
            None => fresh,
            Some(first) => answer_of::<A>(claim, first),
        }
    }

    async fn decide_and_append(
        &self,
        stream: &StreamId,
        command: A::Command,
        context: &CommandContext,
        turn: &mut Turn<A>,
    ) -> Result<Executed<A::Event>, ExecuteError<A::Error>> {
        let mut attempt = 1;
        let mut use_kept = true;
        let mut from_snapshot = true;
        let mut lock: Option<Box<dyn StreamLock>> = None;
        loop {
            let kept = if use_kept { turn.take() } else { None };
            **turn = None;
            let from_kept = kept.is_some();
            let loaded = match kept {
                Some(loaded) => loaded,
                None => {
                    self.load_stream(stream, from_snapshot, lock.as_mut())
                        .await?
                }
            };
            if let Some(expected) = context.expected_version
                && expected != loaded.version
            {
                // A mismatch must rest on the stored state, never on a possibly stale copy.
                if from_kept {
                    use_kept = false;
                    attempt += 1;
                    continue;
                }
                let actual = loaded.version;
                self.keep(turn, loaded);
                // Nothing to append: release the stream (on SQLite its lock is the only
                // writer, which recording the answer needs).
                drop(lock.take());
                return self
                    .answer_once(
                        context,
                        stream,
                        || Ok(KeyOutcome::VersionMismatch { expected, actual }),
                        Err(ExecuteError::VersionMismatch { expected, actual }),
                    )
                    .await;
            }
            let Loaded {
                mut state,
                version,
                last_hash,
                position,
                snapshotted,
            } = loaded;
            let sink = EventSink::<A>::default();
            if let Err(refusal) = state.handle(command.clone(), &self.services, &sink).await {
                // The sink may have applied events to `state` before the refusal: never keep
                // it. A refusal must rest on the stored state, never on a stale copy.
                if from_kept {
                    use_kept = false;
                    attempt += 1;
                    continue;
                }
                // Nothing to append: release the stream (on SQLite its lock is the only
                // writer, which recording the answer needs).
                drop(lock.take());
                if self.is_transient(&refusal) {
                    // A passing failure is no answer to keep: a retry decides afresh.
                    return Err(ExecuteError::Rejected(refusal));
                }
                let stored = serde_json::to_value(&refusal);
                return self
                    .answer_once(
                        context,
                        stream,
                        || {
                            Ok(KeyOutcome::Refused {
                                version,
                                refusal: stored?,
                            })
                        },
                        Err(ExecuteError::Rejected(refusal)),
                    )
                    .await;
            }
            let events = sink.collect().await;
            if events.is_empty() {
                // "Nothing to do" never reaches the store, so it must rest on the stored state.
                if from_kept {
                    use_kept = false;
                    attempt += 1;
                    continue;
                }
                self.keep(
                    turn,
                    Loaded {
                        state,
                        version,
                        last_hash,
                        position,
                        snapshotted,
                    },
                );
                // Nothing to append: release the stream (on SQLite its lock is the only
                // writer, which recording the answer needs).
                drop(lock.take());
                return self
                    .answer_once(
                        context,
                        stream,
                        || {
                            Ok(KeyOutcome::Unchanged {
                                version,
                                position,
                                last_hash,
                            })
                        },
                        Ok(Executed {
                            version,
                            position,
                            events,
                            replayed: false,
                            attempts: attempt,
                        }),
                    )
                    .await;
            }
            let request = AppendRequest {
                stream: stream.clone(),
                expected_version: version,
                prev_hash: last_hash,
                events: events
                    .iter()
                    .map(|event| new_event(event, context))
                    .collect::<Result<_, _>>()?,
                idempotency: context.idempotency.clone(),
            };
            let locked = lock.is_some();
            let appended = match lock.take() {
                Some(lock) => lock.append(request, &context.commit_point).await,
                None => {
                    self.store
                        .append_noting(request, &context.commit_point)
                        .await
                }
            };
            match appended {
                Ok(appended) if appended.replayed => {
                    return Ok(Executed {
                        version: appended.version,
                        position: Some(appended.position),
                        events: Vec::new(),
                        replayed: true,
                        attempts: attempt,
                    });
                }
                Ok(appended) => {
                    let snapshot = self.snapshot_due(stream, version, &state, &appended);
                    self.keep(
                        turn,
                        Loaded {
                            state,
                            version: appended.version,
                            last_hash: appended.last_hash,
                            position: Some(appended.position),
                            snapshotted,
                        },
                    );
                    if let Some(snapshot) = snapshot {
                        // A snapshot only speeds loading up: failing to store one never fails
                        // the command.
                        match self.store.save_snapshot(&snapshot).await {
                            Ok(()) => {
                                if let Some(kept) = turn.as_mut() {
                                    kept.snapshotted = snapshot.version;
                                }
                            }
                            Err(error) => {
                                tracing::warn!(%stream, %error, "cannot store a snapshot");
                            }
                        }
                    }
                    return Ok(Executed {
                        version: appended.version,
                        position: Some(appended.position),
                        events,
                        replayed: false,
                        attempts: attempt,
                    });
                }
                Err(StoreError::Answered(first)) => {
                    return answer_of_outcome::<A>(*first);
                }
                Err(StoreError::Conflict { .. }) => {
                    if attempt >= self.max_attempts {
                        return Err(ExecuteError::Contention { attempts: attempt });
                    }
                    // Under the lock nobody else can append: the conflict means the loaded
                    // view disagrees with the stored stream (a snapshot or kept state whose
                    // head is not the stored one). Replay the events themselves next time.
                    if locked {
                        from_snapshot = false;
                    }
                    tracing::debug!(attempt, locked, "a concurrent write won; deciding again");
                    attempt += 1;
                    backoff(attempt - 1).await;
                    lock = Some(self.store.lock_stream(stream).await?);
                    use_kept = false;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// Keeps the aggregate's state for its next command, if states are kept.
    fn keep(&self, turn: &mut Turn<A>, loaded: Loaded<A>) {
        if self.slots.keeps_states() {
            **turn = Some(loaded);
        }
    }

    /// The snapshot to store after this append, when it crosses a multiple of the interval.
    fn snapshot_due(
        &self,
        stream: &StreamId,
        old_version: u64,
        state: &A,
        appended: &crate::Appended,
    ) -> Option<Snapshot> {
        let every = self.snapshot_every;
        if every == 0 || appended.version / every == old_version / every {
            return None;
        }
        match serde_json::to_value(state) {
            Ok(state) => Some(Snapshot {
                stream: stream.clone(),
                version: appended.version,
                state,
                last_hash: appended.last_hash,
                position: appended.position,
            }),
            Err(error) => {
                tracing::warn!(%stream, %error, "cannot serialize a snapshot");
                None
            }
        }
    }
}

/// The answer a key's first outcome stands for, or a refusal when the key was first used with
/// another request.
fn answer_of<A>(
    claim: &IdempotencyClaim,
    first: IdempotentOutcome,
) -> Result<Executed<A::Event>, ExecuteError<A::Error>>
where
    A: Aggregate,
    A::Error: DeserializeOwned,
{
    if first.fingerprint != claim.fingerprint {
        return Err(ExecuteError::IdempotencyKeyReused);
    }
    answer_of_outcome::<A>(first.outcome)
}

/// The answer a stored outcome stands for: the first answer, given again.
fn answer_of_outcome<A>(outcome: KeyOutcome) -> Result<Executed<A::Event>, ExecuteError<A::Error>>
where
    A: Aggregate,
    A::Error: DeserializeOwned,
{
    match outcome {
        KeyOutcome::Appended(appended) => Ok(Executed {
            version: appended.version,
            position: Some(appended.position),
            events: Vec::new(),
            replayed: true,
            attempts: 0,
        }),
        KeyOutcome::Unchanged {
            version, position, ..
        } => Ok(Executed {
            version,
            position,
            events: Vec::new(),
            replayed: true,
            attempts: 0,
        }),
        KeyOutcome::Refused { refusal, .. } => match serde_json::from_value(refusal) {
            Ok(refusal) => Err(ExecuteError::Rejected(refusal)),
            Err(error) => Err(ExecuteError::Store(StoreError::Corrupt(format!(
                "a stored refusal no longer reads as a {} error: {error}",
                A::TYPE
            )))),
        },
        KeyOutcome::VersionMismatch { expected, actual } => {
            Err(ExecuteError::VersionMismatch { expected, actual })
        }
    }
}

/// Rebuilds aggregate `A` from its events only (no snapshot), up to a point in its history.
pub async fn replay<A: Aggregate>(
    store: &EventStore,
    aggregate_id: &str,
    until: ReplayUntil,
) -> Result<Loaded<A>, StoreError> {
    let stream = StreamId::new(A::TYPE, aggregate_id);
    let mut loaded = Loaded::<A>::default();
    for event in store.read_stream(&stream, 0).await? {
        let past = match until {
            ReplayUntil::End => false,
            ReplayUntil::Version(version) => event.sequence > version,
            // The time in the metadata, which the hash chain covers (the `recorded_at` column
            // is not covered: altering it must not change what an auditor sees).
            ReplayUntil::Time(time) => event.hashed_recorded_at()? > time,
        };
        if past {
            break;
        }
        apply_recorded(&mut loaded, event)?;
    }
    Ok(loaded)
}

/// Applies a stored event to the aggregate, taking it (its payload is decoded in place, not
/// copied first: a cold load applies every event after the snapshot).
fn apply_recorded<A: Aggregate>(
    loaded: &mut Loaded<A>,
    mut event: crate::RecordedEvent,
) -> Result<(), StoreError> {
    apply_decoded(loaded, &mut event, |payload| {
        serde_json::from_value(payload.take())
    })?;
    loaded.last_hash = event.hash()?;
    Ok(())
}

/// As [`apply_recorded`], for an event whose JSON is still the text stored: its payload is
/// decoded straight into the aggregate's event type. Its hash is left to the caller, which
/// reads only the last event's (the one the next append chains on).
fn apply_stored<A: Aggregate>(
    loaded: &mut Loaded<A>,
    event: &mut RawEvent,
) -> Result<(), StoreError> {
    apply_decoded(loaded, event, |payload| serde_json::from_str(payload.get()))
}

/// Applies the event `decode` reads from `event`'s payload, which must follow the aggregate's
/// version; the hash is the caller's to read.
fn apply_decoded<A: Aggregate, J>(
    loaded: &mut Loaded<A>,
    event: &mut crate::RecordedEvent<J>,
    decode: impl FnOnce(&mut J) -> Result<A::Event, serde_json::Error>,
) -> Result<(), StoreError> {
    if event.sequence != loaded.version + 1 {
        return Err(StoreError::Corrupt(format!(
            "{}: event #{} follows version {}",
            event.stream, event.sequence, loaded.version
        )));
    }
    let payload = decode(&mut event.payload).map_err(|e| {
        StoreError::Corrupt(format!(
            "{} #{} ({} {}): {e}",
            event.stream, event.sequence, event.event_type, event.event_version
        ))
    })?;
    loaded.state.apply(payload);
    loaded.version = event.sequence;
    loaded.position = Some(event.position);
    Ok(())
}

fn new_event<E: DomainEvent>(event: &E, context: &CommandContext) -> Result<NewEvent, StoreError> {
    Ok(NewEvent {
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_value(event)?,
        metadata: EventMetadata {
            event_id: Uuid::now_v7(),
            correlation_id: context.correlation_id,
            causation_id: context.causation_id,
            actor: context.actor.clone(),
            command: context.command.clone(),
            idempotency_key: context.idempotency.as_ref().map(|c| c.key.clone()),
            request_id: context.request_id.clone(),
            recorded_at: Utc::now(),
            prev_hash: ChainHash::GENESIS,
            hash: ChainHash::GENESIS,
        },
    })
}

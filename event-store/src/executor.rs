//! The one write path, shared by the command API and the process managers: load the aggregate
//! (latest snapshot plus later events), let it decide, append with the expected version, and
//! retry the whole decision a bounded number of times when a concurrent write wins.
//!
//! It owns this step instead of cqrs-es's `CqrsFramework`, whose `execute` returns nothing (the
//! API must answer with the new version and position) and whose snapshot store applies every
//! new event twice.

use std::num::NonZeroUsize;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use event_schemas::values::Actor;
use event_schemas::{ChainHash, EventMetadata};
use uuid::Uuid;

use crate::cache::AggregateCache;
use crate::{
    AppendRequest, EventStore, IdempotencyClaim, NewEvent, Position, Snapshot, StoreError, StreamId,
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
}

impl<A: Default> Default for Loaded<A> {
    fn default() -> Self {
        Self {
            state: A::default(),
            version: 0,
            last_hash: ChainHash::GENESIS,
            position: None,
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
    /// Through the last event recorded at or before this time.
    Time(DateTime<Utc>),
}

/// Executes commands of aggregate `A` against the store.
pub struct Executor<A: Aggregate> {
    store: EventStore,
    services: Arc<A::Services>,
    snapshot_every: u64,
    max_attempts: u32,
    cache: Option<Arc<AggregateCache<A>>>,
}

impl<A: Aggregate> Clone for Executor<A> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            services: self.services.clone(),
            snapshot_every: self.snapshot_every,
            max_attempts: self.max_attempts,
            cache: self.cache.clone(),
        }
    }
}

/// By default a snapshot is taken every this many events of a stream.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 50;

/// By default a command is decided at most this many times when concurrent writes win.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// By default this many aggregates per type are kept in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

impl<A> Executor<A>
where
    A: Aggregate + Clone,
    A::Command: Clone,
{
    /// An executor with the default snapshot interval and retry budget.
    pub fn new(store: EventStore, services: A::Services) -> Self {
        Self {
            store,
            services: Arc::new(services),
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            cache: NonZeroUsize::new(DEFAULT_CACHE_CAPACITY)
                .map(|capacity| Arc::new(AggregateCache::new(capacity))),
        }
    }

    /// Keeps up to `capacity` recently used aggregates in memory (0: none, always load).
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache = NonZeroUsize::new(capacity).map(|c| Arc::new(AggregateCache::new(c)));
        self
    }

    /// Takes a snapshot every `every` events (0: never).
    pub fn with_snapshot_every(mut self, every: u64) -> Self {
        self.snapshot_every = every;
        self
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
        let stream = StreamId::new(A::TYPE, aggregate_id);
        let mut loaded = Loaded::<A>::default();
        if let Some(snapshot) = self.store.load_snapshot(&stream).await? {
            match serde_json::from_value::<A>(snapshot.state) {
                Ok(state) => {
                    loaded = Loaded {
                        state,
                        version: snapshot.version,
                        last_hash: snapshot.last_hash,
                        position: Some(snapshot.position),
                    };
                }
                // A snapshot of an older state shape: replay from the start instead.
                Err(error) => tracing::warn!(%stream, %error, "ignoring unreadable snapshot"),
            }
        }
        let events = self.store.read_stream(&stream, loaded.version).await?;
        for event in events {
            apply_recorded(&mut loaded, &event)?;
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

    /// Loads, decides and appends `command` for aggregate `aggregate_id`.
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
        if let Some(first) = self.claimed_outcome(context).await? {
            return Ok(first);
        }
        match self.decide_and_append(aggregate_id, command, context).await {
            // An identical request may have won the race since the check above, and then this
            // one was decided on the state it left: the winner's answer is this one's answer.
            Err(
                error @ (ExecuteError::Rejected(_)
                | ExecuteError::VersionMismatch { .. }
                | ExecuteError::Contention { .. }),
            ) if context.idempotency.is_some() => match self.claimed_outcome(context).await? {
                Some(first) => Ok(first),
                None => Err(error),
            },
            other => other,
        }
    }

    /// The first outcome of the command's idempotency key, if it was used before; a key used
    /// with another request is refused.
    async fn claimed_outcome(
        &self,
        context: &CommandContext,
    ) -> Result<Option<Executed<A::Event>>, ExecuteError<A::Error>> {
        let Some(claim) = &context.idempotency else {
            return Ok(None);
        };
        let Some(outcome) = self.store.idempotent_outcome(&claim.key).await? else {
            return Ok(None);
        };
        if outcome.fingerprint != claim.fingerprint {
            return Err(ExecuteError::IdempotencyKeyReused);
        }
        Ok(Some(Executed {
            version: outcome.appended.version,
            position: Some(outcome.appended.position),
            events: Vec::new(),
            replayed: true,
            attempts: 0,
        }))
    }

    async fn decide_and_append(
        &self,
        aggregate_id: &str,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<Executed<A::Event>, ExecuteError<A::Error>> {
        let stream = StreamId::new(A::TYPE, aggregate_id);
        // After a stale cache entry shows, every later attempt decides on the stored state.
        let mut fresh = false;
        for attempt in 1..=self.max_attempts {
            let cached = if fresh {
                None
            } else {
                self.cached(aggregate_id)
            };
            let from_cache = cached.is_some();
            let loaded = match cached {
                Some(loaded) => loaded,
                None => self.load(aggregate_id).await?,
            };
            if let Some(expected) = context.expected_version
                && expected != loaded.version
            {
                if from_cache {
                    self.forget(aggregate_id);
                    fresh = true;
                    continue;
                }
                return Err(ExecuteError::VersionMismatch {
                    expected,
                    actual: loaded.version,
                });
            }
            let Loaded {
                mut state,
                version,
                last_hash,
                position,
            } = loaded;
            let sink = EventSink::<A>::default();
            if let Err(refusal) = state.handle(command.clone(), &self.services, &sink).await {
                // A refusal must rest on the stored state, never on a possibly stale copy.
                self.forget(aggregate_id);
                if from_cache {
                    fresh = true;
                    continue;
                }
                return Err(ExecuteError::Rejected(refusal));
            }
            let events = sink.collect().await;
            if events.is_empty() {
                // "Nothing to do" never reaches the store, so it must rest on the stored state.
                if from_cache {
                    self.forget(aggregate_id);
                    fresh = true;
                    continue;
                }
                return Ok(Executed {
                    version,
                    position,
                    events,
                    replayed: false,
                    attempts: attempt,
                });
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
            match self.store.append(request).await {
                Ok(appended) if appended.replayed => {
                    self.forget(aggregate_id);
                    return Ok(Executed {
                        version: appended.version,
                        position: Some(appended.position),
                        events: Vec::new(),
                        replayed: true,
                        attempts: attempt,
                    });
                }
                Ok(appended) => {
                    let snapshot = self.snapshot_due(&stream, version, &state, &appended);
                    if let Some(cache) = &self.cache {
                        cache.put(
                            aggregate_id,
                            Loaded {
                                state,
                                version: appended.version,
                                last_hash: appended.last_hash,
                                position: Some(appended.position),
                            },
                        );
                    }
                    if let Some(snapshot) = snapshot {
                        // A snapshot only speeds loading up: failing to store one never fails
                        // the command.
                        if let Err(error) = self.store.save_snapshot(&snapshot).await {
                            tracing::warn!(%stream, %error, "cannot store a snapshot");
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
                Err(StoreError::Conflict { .. }) => {
                    tracing::debug!(from_cache, "concurrent write won; deciding again");
                    self.forget(aggregate_id);
                    fresh = true;
                    continue;
                }
                Err(other) => {
                    // The append's outcome may be unknown (e.g. the connection dropped at
                    // commit): trust only the store next time.
                    self.forget(aggregate_id);
                    return Err(other.into());
                }
            }
        }
        Err(ExecuteError::Contention {
            attempts: self.max_attempts,
        })
    }

    fn cached(&self, aggregate_id: &str) -> Option<Loaded<A>> {
        self.cache
            .as_ref()
            .and_then(|cache| cache.get(aggregate_id))
    }

    fn forget(&self, aggregate_id: &str) {
        if let Some(cache) = &self.cache {
            cache.forget(aggregate_id);
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
            ReplayUntil::Time(time) => event.recorded_at > time,
        };
        if past {
            break;
        }
        apply_recorded(&mut loaded, &event)?;
    }
    Ok(loaded)
}

fn apply_recorded<A: Aggregate>(
    loaded: &mut Loaded<A>,
    event: &crate::RecordedEvent,
) -> Result<(), StoreError> {
    if event.sequence != loaded.version + 1 {
        return Err(StoreError::Corrupt(format!(
            "{}: event #{} follows version {}",
            event.stream, event.sequence, loaded.version
        )));
    }
    let payload: A::Event = serde_json::from_value(event.payload.clone()).map_err(|e| {
        StoreError::Corrupt(format!(
            "{} #{} ({} {}): {e}",
            event.stream, event.sequence, event.event_type, event.event_version
        ))
    })?;
    loaded.state.apply(payload);
    loaded.version = event.sequence;
    loaded.last_hash = event.hash()?;
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

//! supplyline's log: the source of truth every read model is rebuilt from.
//!
//! One interface ([`EventStore`]) over two backends chosen by the database URL: PostgreSQL for
//! production (several processes and machines) and SQLite, the embedded default. Both keep
//! postgres-es's `events` columns (`aggregate_type, aggregate_id, sequence, event_type,
//! event_version, payload, metadata`, keyed on the first three) plus a global order that never
//! skips a committed event (see [`postgres`](PostgresBackend) for how), and pass one
//! conformance suite.
//!
//! * [`EventStore::append`]: a command's events, atomically, at an expected version (a
//!   concurrent append is [`StoreError::Conflict`]), chained into the stream's hash chain,
//!   idempotent under a key; returns the new version and the [`Position`] of the last event.
//!   Appends arriving while a commit is in flight go together into the next transaction
//!   (group commit), each still answered on its own.
//! * [`EventStore::read_stream`], [`EventStore::read_all`]: a stream, or the global log in
//!   batches; both upcast stored events to current versions (`event_schemas::upcast`).
//! * [`EventStore::read_filtered`]: a page of the global log narrowed by a [`LogFilter`], for
//!   audits.
//! * [`EventStore::wakeups`]: changes when events may have been appended (PostgreSQL
//!   `LISTEN/NOTIFY` across processes, an in-process signal for SQLite).
//! * Snapshots, and [`EventStore::verify_stream`] / [`EventStore::verify_log`] for tamper
//!   evidence.
//! * [`Executor`]: load (snapshot + events) -> decide -> append, retried on conflict; the one
//!   write path for the command API and the process managers.
//!
//! We implement the repository over the postgres-es table ourselves rather than use
//! postgres-es: its appends return neither the new version nor a position, know nothing of
//! idempotency keys, and write one round trip per event.
//!
//! # A third backend: KurrentDB / EventStoreDB
//!
//! A backend implements [`Backend`]; callers only hold an [`EventStore`], so a KurrentDB
//! backend (the `kurrentdb` crate) fits without changing them: a stream per aggregate named
//! `{aggregate_type}-{aggregate_id}`, `append_to_stream` with `ExpectedRevision::Exact(version
//! - 1)` (or `NoStream`) mapping its wrong-expected-version error to [`StoreError::Conflict`];
//! `read_all` from `$all` with the commit/prepare pair as the [`Position`] (epoch 0, `tx` =
//! commit, `seq` = prepare: the same ordering rule); wake-ups from a `$all` subscription;
//! idempotency keys as deterministic event ids (KurrentDB deduplicates appends by event id)
//! plus a small stream of outcomes; snapshots in a `$snapshot-{stream}` stream read backwards.

mod backend;
mod chain;
mod commit;
mod convert;
mod error;
mod executor;
mod filter;
mod group_commit;
mod hash;
mod idempotency;
mod loopback;
mod migrations;
mod options;
mod passivation;
mod position;
mod postgres;
mod record;
mod scratch;
mod slots;
mod sqlite;
mod store;
mod verify;
mod wakeup;

pub use backend::{Backend, ContradictedHead, Database, LogHead, StreamLock};
pub use commit::CommitPoint;
pub use error::StoreError;
pub use executor::{
    CommandContext, DEFAULT_CACHE_CAPACITY, DEFAULT_MAX_ATTEMPTS, DEFAULT_SNAPSHOT_EVERY,
    ExecuteError, Executed, Executor, Loaded, ReplayUntil, replay,
};
pub use filter::LogFilter;
pub use group_commit::GroupCommitStats;
pub use hash::{canonical_event, canonical_json, event_hash};
pub use idempotency::{IdempotentOutcome, KeyOutcome};
pub use loopback::postgres_options;
pub use options::{DEFAULT_STATEMENT_TIMEOUT, StoreOptions};
pub use position::{InvalidPosition, Position};
pub use postgres::{BeforeCommit, BeforeCommitHook, PostgresBackend};
pub use record::{
    AppendRequest, Appended, IdempotencyClaim, NewEvent, RawEvent, RecordedEvent, Snapshot,
    StoredJson, StreamId,
};
pub use scratch::ScratchDatabase;
pub use sqlite::SqliteBackend;
pub use store::EventStore;
pub use verify::{LogVerification, StreamVerification};

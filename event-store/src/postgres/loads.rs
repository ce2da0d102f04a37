//! Cold loads in groups on PostgreSQL: loads asked for while one is in flight go together in
//! the next statement, on a connection of the loader's own. A cold load is one statement either
//! way (a stream's snapshot and the events after it); in a group, many streams share its round
//! trip, its planning and its connection, where each alone paid for a pool connection and the
//! check the pool makes when it is returned.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{mpsc, oneshot};

use super::held::HeldConnection;
use super::{is_connection_lost, stored_json};
use crate::convert::{parse_hash, to_u32, to_u64};
use crate::group_commit::spawn_worker;
use crate::record::StoredJson;
use crate::{Position, RawEvent, Snapshot, StoreError, StreamId};

/// The most streams one statement loads.
const MAX_GROUP_LOADS: usize = 256;

/// What a cold load reads: the stream's snapshot, if any, and its events after it, their
/// payloads as the text PostgreSQL sent (decoded by whoever asked, on their own task, not on
/// the loader's thread, which every load waits on), and their metadata as sent too, or, when
/// only the hash was asked for, `{"hash": ...}`.
pub(super) type Loaded = (Option<Snapshot>, Vec<RawEvent>);

/// A load waiting for its group.
struct Wanted {
    stream: StreamId,
    /// Whether each event's whole metadata is wanted, or its hash alone.
    metadata: bool,
    reply: oneshot::Sender<Result<Loaded, StoreError>>,
}

/// The queue in front of the loader's thread.
pub(super) struct GroupLoader {
    queue: mpsc::UnboundedSender<Wanted>,
}

impl GroupLoader {
    /// Starts the loader's thread, with a connection like `pool`'s.
    pub(super) fn start(pool: &PgPool) -> Result<Self, StoreError> {
        let (queue, received) = mpsc::unbounded_channel();
        let conn = HeldConnection::like(pool).with_settings(super::LOOKUPS_ONLY);
        spawn_worker("group-load", load_groups(received, conn))?;
        Ok(Self { queue })
    }

    /// The stream's snapshot and the events after it, read in the next group; without
    /// `metadata`, each event's metadata is its `hash` alone.
    pub(super) async fn load(
        &self,
        stream: &StreamId,
        metadata: bool,
    ) -> Result<Loaded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let wanted = Wanted {
            stream: stream.clone(),
            metadata,
            reply,
        };
        if self.queue.send(wanted).is_err() {
            return Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed)))
    }
}

/// Takes whatever loads are queued, reads them in one statement and answers each, until the
/// store is dropped.
async fn load_groups(mut received: mpsc::UnboundedReceiver<Wanted>, mut conn: HeldConnection) {
    while let Some(first) = received.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP_LOADS
            && let Ok(wanted) = received.try_recv()
        {
            group.push(wanted);
        }
        // A caller that went away needs nothing read.
        group.retain(|wanted| !wanted.reply.is_closed());
        if group.is_empty() {
            continue;
        }
        let loaded = match conn.get().await {
            Ok(connection) => AssertUnwindSafe(load_many(connection, &group))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    // A bug, not the database: these loads fail, later ones go on.
                    tracing::error!("the group loader panicked reading a group");
                    Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed))
                }),
            Err(error) => Err(error),
        };
        match loaded {
            Ok(loaded) => {
                for (wanted, loaded) in group.into_iter().zip(loaded) {
                    let _ = wanted.reply.send(loaded);
                }
            }
            Err(error) => {
                if let StoreError::Unavailable(cause) = &error
                    && is_connection_lost(cause)
                {
                    conn.discard();
                }
                for wanted in group {
                    let _ = wanted.reply.send(Err(error.for_another()));
                }
            }
        }
    }
}

/// Each stream's snapshot and the events after it, in one statement (one view of the log): a
/// row per event after the snapshot's version (one row when there is none), each with the
/// stream's snapshot, whose state comes on the first row only, and each event with its metadata
/// or its hash alone. Every lookup is by primary key, per stream: `LIMIT 1` and `OFFSET 0`
/// keep each lateral a lookup per stream (PostgreSQL would otherwise be free to join whole
/// tables).
async fn load_many(
    conn: &mut PgConnection,
    group: &[Wanted],
) -> Result<Vec<Result<Loaded, StoreError>>, StoreError> {
    let types: Vec<&str> = group
        .iter()
        .map(|w| w.stream.aggregate_type.as_str())
        .collect();
    let ids: Vec<&str> = group
        .iter()
        .map(|w| w.stream.aggregate_id.as_str())
        .collect();
    let metadata: Vec<bool> = group.iter().map(|w| w.metadata).collect();
    let rows = sqlx::query(
        "SELECT w.n, s.version AS snapshot_version, \
             CASE WHEN e.sequence IS NULL OR e.sequence = s.version + 1 THEN s.state END \
                 AS state, \
             s.last_hash AS snapshot_hash, s.epoch AS snapshot_epoch, s.tx AS snapshot_tx, \
             s.position AS snapshot_position, \
             e.sequence, e.event_type, e.event_version, e.payload, \
             CASE WHEN w.m THEN e.metadata END AS metadata, \
             CASE WHEN NOT w.m THEN e.metadata->>'hash' END AS hash, \
             e.epoch, e.tx::text::bigint AS tx_id, e.position, e.recorded_at \
         FROM UNNEST($1::text[], $2::text[], $3::boolean[]) WITH ORDINALITY AS w(t, i, m, n) \
         LEFT JOIN LATERAL (SELECT version, state, last_hash, epoch, tx, position \
             FROM snapshots WHERE aggregate_type = w.t AND aggregate_id = w.i LIMIT 1) AS s \
             ON true \
         LEFT JOIN LATERAL (SELECT * FROM events \
             WHERE aggregate_type = w.t AND aggregate_id = w.i \
               AND sequence > COALESCE(s.version, 0) OFFSET 0) AS e ON true \
         ORDER BY w.n, e.sequence",
    )
    .bind(types)
    .bind(ids)
    .bind(metadata)
    .fetch_all(&mut *conn)
    .await?;
    // A row that cannot be read fails its own stream's load, not the others'.
    let mut loaded: Vec<Result<Loaded, StoreError>> =
        group.iter().map(|_| Ok((None, Vec::new()))).collect();
    for row in &rows {
        let n: i64 = row.try_get("n")?;
        let index = usize::try_from(n - 1)
            .ok()
            .filter(|&i| i < group.len())
            .ok_or_else(|| StoreError::Corrupt("a load answered for a stream not asked".into()))?;
        if let Ok(so_far) = &mut loaded[index]
            && let Err(error) = add_row(row, &group[index], so_far)
        {
            loaded[index] = Err(error);
        }
    }
    Ok(loaded)
}

/// Adds a row of a cold load to what was loaded of `stream`: its snapshot (on its first row)
/// and its next event, if any.
fn add_row(
    row: &sqlx::postgres::PgRow,
    wanted: &Wanted,
    loaded: &mut Loaded,
) -> Result<(), StoreError> {
    let stream = &wanted.stream;
    if let Some(version) = row.try_get::<Option<i64>, _>("snapshot_version")?
        && loaded.0.is_none()
    {
        // The state comes with the event right after the snapshot, or alone when none follows.
        let Some(state) = row.try_get::<Option<serde_json::Value>, _>("state")? else {
            return Err(StoreError::Corrupt(format!(
                "{stream}: event #{} follows snapshot version {version}",
                row.try_get::<Option<i64>, _>("sequence")?
                    .unwrap_or_default()
            )));
        };
        let last_hash: String = row.try_get("snapshot_hash")?;
        loaded.0 = Some(Snapshot {
            stream: stream.clone(),
            version: to_u64(version)?,
            state,
            last_hash: parse_hash(&last_hash)?,
            position: Position::new(
                to_u32(row.try_get("snapshot_epoch")?)?,
                to_u64(row.try_get("snapshot_tx")?)?,
                to_u64(row.try_get("snapshot_position")?)?,
            ),
        });
    }
    let Some(sequence) = row.try_get::<Option<i64>, _>("sequence")? else {
        return Ok(());
    };
    let metadata = match row.try_get::<Option<String>, _>("hash")? {
        // Hex digits only, so nothing to escape; anything else is no hash at all.
        Some(hash) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            StoredJson::vouched(format!(r#"{{"hash":"{hash}"}}"#))
        }
        Some(_) => return Err(no_valid_hash(stream, sequence)),
        None if !wanted.metadata => return Err(no_valid_hash(stream, sequence)),
        None => stored_json(row, "metadata")?,
    };
    loaded.1.push(RawEvent {
        stream: stream.clone(),
        sequence: to_u64(sequence)?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: stored_json(row, "payload")?,
        metadata,
        position: Position::new(
            to_u32(row.try_get("epoch")?)?,
            to_u64(row.try_get("tx_id")?)?,
            to_u64(row.try_get("position")?)?,
        ),
        recorded_at: row.try_get("recorded_at")?,
    });
    Ok(())
}

fn no_valid_hash(stream: &StreamId, sequence: i64) -> StoreError {
    StoreError::Corrupt(format!("{stream} #{sequence}: no valid hash"))
}

//! Group commit on PostgreSQL: a group's appends go into the log in one statement, each stream
//! with its own guard, and (when some carry idempotency keys) in one transaction with their
//! keys' claims and outcomes.
//!
//! A group never waits for a stream's lock: it tries each (`pg_try_advisory_xact_lock`), and
//! an append whose stream another transaction holds (a locked retry, another process's
//! append) is left out and answered as a conflict, like one whose guard fails (not at the
//! expected version, or another hash there); the others commit. So one busy stream never holds
//! up a group, and groups wait only for key rows, which they claim in key order. When PostgreSQL refuses a group's statement as a whole (a concurrent append
//! from another process at the same version, a payload it will not store), nothing of the group
//! was applied, and each append is written again on its own, where the refusal is its own.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use std::sync::Arc;

use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgPool, Row};
use tokio::sync::OnceCell;

use super::held::HeldConnection;
use super::{
    Signals, append_alone, conflict_or, epoch_on, in_doubt, is_connection_lost, keys,
    stream_lock_key,
};
use crate::chain::Chained;
use crate::convert::{to_i32, to_i64, to_u64};
use crate::group_commit::{Answer, GroupWriter, Queued, same_for_all};
use crate::{AppendRequest, Appended, KeyOutcome, Position, StoreError};

/// Writes groups on a connection of its own.
pub(super) struct PgGroupWriter {
    conn: HeldConnection,
    epoch: Arc<OnceCell<u32>>,
    signals: Signals,
}

impl PgGroupWriter {
    pub(super) fn new(pool: &PgPool, epoch: Arc<OnceCell<u32>>, signals: Signals) -> Self {
        Self {
            conn: HeldConnection::like(pool).with_settings(super::LOOKUPS_ONLY),
            epoch,
            signals,
        }
    }
}

#[async_trait]
impl GroupWriter for PgGroupWriter {
    fn recover(&mut self) {
        self.conn.discard();
    }

    async fn write(&mut self, group: &[Queued]) -> Vec<Answer> {
        let signals = self.signals.clone();
        let epoch = self.epoch.clone();
        let answers = match self.conn.get().await {
            Ok(conn) => write_group(conn, group, &epoch, &signals).await,
            Err(error) => same_for_all(group.len(), error),
        };
        if answers.iter().any(|a| match a {
            Err(StoreError::OutcomeUnknown(_) | StoreError::Unavailable(_)) => true,
            Err(StoreError::Database(e)) => is_connection_lost(e),
            _ => false,
        }) {
            // The connection may be the cause.
            self.conn.discard();
        }
        answers
    }
}

async fn write_group(
    conn: &mut PgConnection,
    group: &[Queued],
    epoch: &OnceCell<u32>,
    signals: &Signals,
) -> Vec<Answer> {
    let epoch = match epoch_on(epoch, conn).await {
        Ok(epoch) => epoch,
        Err(error) => return same_for_all(group.len(), error),
    };
    if let [lone] = group {
        return vec![
            append_alone(
                conn,
                &lone.request,
                &lone.chained,
                &lone.commit,
                epoch,
                signals,
            )
            .await,
        ];
    }
    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(group.len());
    let mut members = Vec::with_capacity(group.len());
    for (index, queued) in group.iter().enumerate() {
        let request = &queued.request;
        answers.push(if request.events.is_empty() {
            Some(Err(StoreError::NothingToAppend))
        } else {
            members.push(Member {
                index,
                request,
                chained: &queued.chained,
            });
            None
        });
    }
    let keyed = members.iter().any(|m| m.request.idempotency.is_some());
    let written = if keyed {
        write_keyed(conn, &members, epoch).await
    } else {
        write_plain(conn, &members, epoch).await
    };
    match written {
        Ok(settled) => {
            for (index, answer) in settled {
                answers[index] = Some(answer);
            }
        }
        Err(GroupFailed::Refused(error)) => {
            tracing::debug!(%error, "a group was refused as a whole; writing its appends one by one");
            let mut session_ended = false;
            for member in &members {
                let queued = &group[member.index];
                if session_ended {
                    // Never sent: not applied.
                    answers[member.index] = Some(Err(StoreError::Unavailable(
                        sqlx::Error::Protocol("the connection to the event store broke".into()),
                    )));
                    continue;
                }
                let answer = append_alone(
                    conn,
                    member.request,
                    member.chained,
                    &queued.commit,
                    epoch,
                    signals,
                )
                .await;
                session_ended = match &answer {
                    Err(StoreError::OutcomeUnknown(_)) => true,
                    Err(StoreError::Unavailable(cause)) => is_connection_lost(cause),
                    _ => false,
                };
                answers[member.index] = Some(answer);
            }
            return answers.into_iter().flatten().collect();
        }
        Err(GroupFailed::All(error)) => {
            let mut all = same_for_all(members.len(), error).into_iter();
            for member in &members {
                answers[member.index] = all.next();
            }
        }
    }
    if answers
        .iter()
        .any(|a| matches!(a, Some(Ok(appended)) if !appended.replayed))
    {
        signals.appended();
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(StoreError::Corrupt("an append went unanswered".into()))))
        .collect()
}

/// An append of a group, chained.
struct Member<'a> {
    /// Its place in the group.
    index: usize,
    request: &'a AppendRequest,
    chained: &'a Chained,
}

/// Why a group's write came to nothing as a whole.
enum GroupFailed {
    /// PostgreSQL refused a statement (the connection is fine): nothing was applied, and each
    /// append may fare differently on its own.
    Refused(StoreError),
    /// Every append gets this answer: not applied (the database unavailable, say), or of
    /// unknown outcome (the connection broke while the group committed).
    All(StoreError),
}

/// Classifies a failure before the group's commit, which rolled everything back.
fn before_commit(error: StoreError) -> GroupFailed {
    match error {
        StoreError::Database(sqlx::Error::Database(_)) | StoreError::Conflict { .. } => {
            GroupFailed::Refused(error)
        }
        other => GroupFailed::All(other),
    }
}

/// The group without keys: one statement, atomic on its own, so its answer is its commit.
async fn write_plain(
    conn: &mut PgConnection,
    members: &[Member<'_>],
    epoch: u32,
) -> Result<Vec<(usize, Answer)>, GroupFailed> {
    let all: Vec<&Member<'_>> = members.iter().collect();
    match insert_group(conn, &all, epoch).await {
        Ok(appended) => Ok(members
            .iter()
            .map(|m| (m.index, answer_of(m, appended.get(&m.index))))
            .collect()),
        // The statement was sent: a broken connection leaves it in doubt.
        Err(StoreError::Unavailable(cause)) if is_connection_lost(&cause) => {
            Err(GroupFailed::All(StoreError::OutcomeUnknown(cause)))
        }
        Err(error) => Err(before_commit(error)),
    }
}

/// The group with keys: claims, events and outcomes in one transaction.
async fn write_keyed(
    conn: &mut PgConnection,
    members: &[Member<'_>],
    epoch: u32,
) -> Result<Vec<(usize, Answer)>, GroupFailed> {
    let mut tx = conn.begin().await.map_err(|e| GroupFailed::All(e.into()))?;
    let mut settled = Vec::with_capacity(members.len());
    let locked: HashSet<i64> = sqlx::query_scalar(
        "SELECT k FROM UNNEST($1::bigint[]) AS k WHERE pg_try_advisory_xact_lock(k)",
    )
    .bind(stream_locks(members.iter().map(|m| m.request)))
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| before_commit(e.into()))?
    .into_iter()
    .collect();
    let mut free = Vec::with_capacity(members.len());
    for member in members {
        if locked.contains(&stream_lock_key(&member.request.stream)) {
            free.push(member);
        } else {
            settled.push((member.index, answer_of(member, None)));
        }
    }
    let writing = claim_keys(&mut tx, &free, &mut settled)
        .await
        .map_err(before_commit)?;
    let appended = insert_group(&mut tx, &writing, epoch)
        .await
        .map_err(before_commit)?;
    let (mut won, mut lost) = (Vec::new(), Vec::new());
    for member in &writing {
        if let Some(claim) = &member.request.idempotency {
            match appended.get(&member.index) {
                Some(appended) => won.push((claim.key.as_str(), *appended)),
                None => lost.push(claim.key.as_str()),
            }
        }
    }
    settle_keys(&mut tx, &won, &lost, epoch)
        .await
        .map_err(before_commit)?;
    match tx.commit().await.map_err(in_doubt) {
        Ok(()) => {
            settled.extend(
                writing
                    .iter()
                    .map(|m| (m.index, answer_of(m, appended.get(&m.index)))),
            );
        }
        Err(error) => {
            // The first answers read in it and the conflicts stand either way; the appends
            // are in doubt (or, when the commit was refused, not applied).
            let written: Vec<_> = writing
                .iter()
                .filter(|m| appended.contains_key(&m.index))
                .collect();
            let mut all = same_for_all(written.len(), error).into_iter();
            for member in &writing {
                let answer = match appended.get(&member.index) {
                    Some(_) => all.next().unwrap_or_else(|| {
                        Err(StoreError::Corrupt("an append went unanswered".into()))
                    }),
                    None => answer_of(member, None),
                };
                settled.push((member.index, answer));
            }
        }
    }
    Ok(settled)
}

/// An append's answer from what the group's statement returned for it.
fn answer_of(member: &Member<'_>, appended: Option<&Appended>) -> Answer {
    appended.copied().ok_or(StoreError::Conflict {
        expected_version: member.request.expected_version,
    })
}

/// Claims the keys of the group's appends (their streams' locks are held already), in key
/// order (two groups claiming the same keys never wait on each other in a cycle); the members
/// whose key already stands for an answer get that answer in `settled`, and the rest are
/// returned, to be written.
async fn claim_keys<'m, 'a>(
    conn: &mut PgConnection,
    members: &[&'m Member<'a>],
    settled: &mut Vec<(usize, Answer)>,
) -> Result<Vec<&'m Member<'a>>, StoreError> {
    let mut claims: Vec<_> = members
        .iter()
        .filter_map(|m| m.request.idempotency.as_ref().map(|c| (*m, c)))
        .collect();
    claims.sort_by(|a, b| a.1.key.cmp(&b.1.key));
    let claimed: HashSet<String> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
             expires_at) \
         SELECT c.key, c.fingerprint, c.aggregate_type, c.aggregate_id, \
             now() + c.ttl * interval '1 second' \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[]) \
             WITH ORDINALITY AS c(key, fingerprint, aggregate_type, aggregate_id, ttl, n) \
         ORDER BY c.n \
         ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
             aggregate_type = EXCLUDED.aggregate_type, aggregate_id = EXCLUDED.aggregate_id, \
             outcome = NULL, version = NULL, epoch = NULL, tx = NULL, position = NULL, \
             last_hash = NULL, detail = NULL, created_at = now(), \
             expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= now() \
         RETURNING key",
    )
    .bind(
        claims
            .iter()
            .map(|(_, c)| c.key.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        claims
            .iter()
            .map(|(_, c)| c.fingerprint.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        claims
            .iter()
            .map(|(m, _)| m.request.stream.aggregate_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        claims
            .iter()
            .map(|(m, _)| m.request.stream.aggregate_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        claims
            .iter()
            .map(|(_, c)| keys::ttl_seconds(c))
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let answered: Vec<&str> = claims
        .iter()
        .map(|(_, c)| c.key.as_str())
        .filter(|key| !claimed.contains(*key))
        .collect();
    let mut outcomes = if answered.is_empty() {
        HashMap::new()
    } else {
        keys::outcomes_on(conn, &answered).await?
    };
    let mut writing = Vec::with_capacity(members.len());
    for member in members {
        match &member.request.idempotency {
            Some(claim) if !claimed.contains(&claim.key) => settled.push((
                member.index,
                keys::first_answer(claim, outcomes.remove(&claim.key)),
            )),
            _ => writing.push(*member),
        }
    }
    Ok(writing)
}

/// Stores the outcome of the keys whose appends were written, and gives up the claims of those
/// whose streams conflicted (their commands are decided again, under the key again).
async fn settle_keys(
    conn: &mut PgConnection,
    won: &[(&str, Appended)],
    lost: &[&str],
    epoch: u32,
) -> Result<(), StoreError> {
    if !won.is_empty() {
        let (mut versions, mut txs, mut positions, mut hashes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (_, appended) in won {
            versions.push(to_i64(appended.version)?);
            txs.push(to_i64(appended.position.tx())?);
            positions.push(to_i64(appended.position.seq())?);
            hashes.push(appended.last_hash.to_string());
        }
        sqlx::query(
            "UPDATE idempotency_keys AS k SET outcome = $1, version = u.version, epoch = $2, \
                 tx = u.tx, position = u.position, last_hash = u.last_hash, detail = NULL \
             FROM UNNEST($3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[]) \
                 AS u(key, version, tx, position, last_hash) \
             WHERE k.key = u.key",
        )
        .bind(KeyOutcome::APPENDED)
        .bind(to_i32(epoch)?)
        .bind(won.iter().map(|(key, _)| *key).collect::<Vec<_>>())
        .bind(versions)
        .bind(txs)
        .bind(positions)
        .bind(hashes)
        .execute(&mut *conn)
        .await?;
    }
    if !lost.is_empty() {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = ANY($1)")
            .bind(lost)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The advisory-lock keys of the group's streams, in the order every group takes them.
fn stream_locks<'r>(requests: impl IntoIterator<Item = &'r AppendRequest>) -> Vec<i64> {
    let mut locks: Vec<i64> = requests
        .into_iter()
        .map(|r| stream_lock_key(&r.stream))
        .collect();
    locks.sort_unstable();
    locks.dedup();
    locks
}

/// Inserts the members' events in one statement, each stream under its own guard (its head,
/// the last event, is at the expected version with the hash chained on) and only where its
/// stream's lock was free (it is then held until the transaction ends). The head is a lateral
/// `LIMIT 1` on purpose: PostgreSQL runs it as one backward primary-key lookup per row
/// whatever its statistics say, where an `EXISTS` may be planned (on a new, unanalysed log,
/// and then kept in the cached plan) as a hash of the whole table built on every group. The
/// lower bound (the expected version) stops the scan at the head: without it PostgreSQL checks
/// every older event of the stream on the head's leaf page. Returns what each member whose
/// guard held appended, by its place in the group.
async fn insert_group(
    conn: &mut PgConnection,
    members: &[&Member<'_>],
    epoch: u32,
) -> Result<HashMap<usize, Appended>, StoreError> {
    if members.is_empty() {
        return Ok(HashMap::new());
    }
    let count: usize = members.iter().map(|m| m.chained.events.len()).sum();
    let mut columns = EventColumns::with_capacity(count);
    for member in members {
        let expected = to_i64(member.request.expected_version)?;
        let prev_hash = member.request.prev_hash.to_string();
        let lock = stream_lock_key(&member.request.stream);
        for event in &member.chained.events {
            columns
                .types
                .push(member.request.stream.aggregate_type.as_str());
            columns
                .ids
                .push(member.request.stream.aggregate_id.as_str());
            columns.sequences.push(to_i64(event.sequence)?);
            columns.event_types.push(event.event_type.as_str());
            columns.event_versions.push(event.event_version.as_str());
            columns.payloads.push(Json(&event.payload));
            columns.metadata.push(Json(&event.metadata));
            columns.expected.push(expected);
            columns.prev_hashes.push(prev_hash.clone());
            columns.locks.push(lock);
        }
    }
    let locks = stream_locks(members.iter().map(|m| m.request));
    let rows = sqlx::query(
        "WITH locked AS MATERIALIZED (SELECT k FROM UNNEST($2::bigint[]) AS k \
             WHERE pg_try_advisory_xact_lock(k)) \
         INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata, epoch) \
         SELECT u.aggregate_type, u.aggregate_id, u.sequence, u.event_type, u.event_version, \
             u.payload, u.metadata, $1 \
         FROM UNNEST($3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], \
                    $8::jsonb[], $9::jsonb[], $10::bigint[], $11::text[], $12::bigint[]) \
                 WITH ORDINALITY AS u(aggregate_type, aggregate_id, sequence, event_type, \
                      event_version, payload, metadata, expected, prev_hash, lock_key, n) \
         LEFT JOIN LATERAL (SELECT x.sequence, x.metadata->>'hash' AS hash FROM events x \
             WHERE x.aggregate_type = u.aggregate_type AND x.aggregate_id = u.aggregate_id \
               AND x.sequence >= u.expected \
             ORDER BY x.sequence DESC LIMIT 1) AS head ON true \
         WHERE u.lock_key IN (SELECT k FROM locked) \
           AND COALESCE(head.sequence, 0) = u.expected \
           AND (u.expected = 0 OR head.hash = u.prev_hash) \
         ORDER BY u.n \
         RETURNING aggregate_type, aggregate_id, tx::text::bigint AS tx_id, position",
    )
    .bind(to_i32(epoch)?)
    .bind(locks)
    .bind(&columns.types)
    .bind(&columns.ids)
    .bind(&columns.sequences)
    .bind(&columns.event_types)
    .bind(&columns.event_versions)
    .bind(&columns.payloads)
    .bind(&columns.metadata)
    .bind(&columns.expected)
    .bind(&columns.prev_hashes)
    .bind(&columns.locks)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| conflict_or(e, 0))?;
    let by_stream: HashMap<(&str, &str), &Member<'_>> = members
        .iter()
        .map(|m| {
            (
                (
                    m.request.stream.aggregate_type.as_str(),
                    m.request.stream.aggregate_id.as_str(),
                ),
                *m,
            )
        })
        .collect();
    let mut appended: HashMap<usize, Appended> = HashMap::with_capacity(members.len());
    for row in &rows {
        let aggregate_type: &str = row.try_get("aggregate_type")?;
        let aggregate_id: &str = row.try_get("aggregate_id")?;
        let member = by_stream
            .get(&(aggregate_type, aggregate_id))
            .ok_or_else(|| StoreError::Corrupt("a group wrote a stream it did not hold".into()))?;
        let position = Position::new(
            epoch,
            to_u64(row.try_get("tx_id")?)?,
            to_u64(row.try_get("position")?)?,
        );
        let entry = appended.entry(member.index).or_insert(Appended {
            version: member.chained.version,
            position,
            last_hash: member.chained.last_hash,
            replayed: false,
        });
        if position.seq() > entry.position.seq() {
            entry.position = position;
        }
    }
    Ok(appended)
}

/// The group's events as the statement's arrays.
struct EventColumns<'a> {
    types: Vec<&'a str>,
    ids: Vec<&'a str>,
    sequences: Vec<i64>,
    event_types: Vec<&'a str>,
    event_versions: Vec<&'a str>,
    payloads: Vec<Json<&'a RawValue>>,
    metadata: Vec<Json<&'a RawValue>>,
    expected: Vec<i64>,
    prev_hashes: Vec<String>,
    locks: Vec<i64>,
}

impl EventColumns<'_> {
    fn with_capacity(count: usize) -> Self {
        Self {
            types: Vec::with_capacity(count),
            ids: Vec::with_capacity(count),
            sequences: Vec::with_capacity(count),
            event_types: Vec::with_capacity(count),
            event_versions: Vec::with_capacity(count),
            payloads: Vec::with_capacity(count),
            metadata: Vec::with_capacity(count),
            expected: Vec::with_capacity(count),
            prev_hashes: Vec::with_capacity(count),
            locks: Vec::with_capacity(count),
        }
    }
}

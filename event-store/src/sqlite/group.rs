//! Group commit on SQLite: a group's appends in one transaction on the single write
//! connection, in a few statements for the whole group (every statement is a round trip to
//! the connection's thread, which costs more than SQLite's work): the heads of all its streams
//! in one query, all its events in one `INSERT`, one `COMMIT`. Keys are checked and stored
//! append by append.
//!
//! Each append is decided before anything is written (a stale head is a conflict, a key that
//! stands for an answer is that answer), so a refused append writes nothing. When a statement
//! fails, the transaction is rolled back and each append is written again on its own, where
//! the failure is its own.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::{append_in, at_head, first_answer, outcome_in, settle_append, timestamp};
use crate::StoreError;
use crate::chain::Chained;
use crate::convert::{to_i64, to_u64};
use crate::group_commit::{Answer, GroupWriter, Queued, same_for_all};
use crate::wakeup::Wakeups;

/// Events per `INSERT`: SQLite binds at most 32,766 values in one statement, 8 per event.
const EVENTS_PER_INSERT: usize = 1_000;

/// Writes groups on the write connection.
pub(super) struct SqliteGroupWriter {
    pub(super) writer: SqlitePool,
    pub(super) wakeups: Arc<Wakeups>,
}

impl SqliteGroupWriter {
    /// Writes one append in a transaction of its own.
    async fn alone(&self, queued: &Queued) -> Answer {
        // IMMEDIATE: take the write lock before reading any stream's head, so another process
        // writing meanwhile makes us wait (busy timeout) instead of failing mid-way.
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        append_in(
            tx,
            &queued.request,
            &queued.chained,
            &queued.commit,
            &self.wakeups,
        )
        .await
    }
}

#[async_trait]
impl GroupWriter for SqliteGroupWriter {
    async fn write(&mut self, group: &[Queued]) -> Vec<Answer> {
        if let [lone] = group {
            return vec![self.alone(lone).await];
        }
        let mut tx = match self.writer.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(error) => return same_for_all(group.len(), error.into()),
        };
        let mut answers = match write_group(&mut tx, group).await {
            Ok(answers) => answers,
            Err(error @ StoreError::Database(_)) => {
                tracing::debug!(%error, "a group failed; writing its appends one by one");
                let _ = tx.rollback().await;
                let mut answers = Vec::with_capacity(group.len());
                for queued in group {
                    answers.push(self.alone(queued).await);
                }
                return answers;
            }
            Err(error) => return same_for_all(group.len(), error),
        };
        let written = |a: &Answer| matches!(a, Ok(appended) if !appended.replayed);
        if !answers.iter().any(written) {
            return answers;
        }
        if let Err(error) = tx.commit().await {
            let error = StoreError::from(error);
            for answer in &mut answers {
                if written(answer) {
                    *answer = Err(error.for_another());
                }
            }
            return answers;
        }
        self.wakeups.wake();
        answers
    }
}

/// Decides every append of the group, then writes those that hold, on `tx`; commits nothing.
async fn write_group(
    tx: &mut SqliteConnection,
    group: &[Queued],
) -> Result<Vec<Answer>, StoreError> {
    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(group.len());
    for queued in group {
        let request = &queued.request;
        answers.push(if request.events.is_empty() {
            Some(Err(StoreError::NothingToAppend))
        } else if let Some(claim) = &request.idempotency
            && let Some(outcome) = outcome_in(tx, &claim.key).await?
        {
            Some(first_answer(claim, outcome))
        } else {
            None
        });
    }
    let deciding: Vec<usize> = (0..group.len()).filter(|&i| answers[i].is_none()).collect();
    let heads = heads(tx, group, &deciding).await?;
    let mut writing = Vec::with_capacity(deciding.len());
    for i in deciding {
        let request = &group[i].request;
        if !at_head(request, heads.get(&i).cloned().flatten())? {
            answers[i] = Some(Err(StoreError::Conflict {
                expected_version: request.expected_version,
            }));
            continue;
        }
        writing.push((i, &group[i].chained));
    }
    let positions = insert_events(tx, group, &writing).await?;
    for (i, chained) in writing {
        let request = &group[i].request;
        let position = positions
            .get(&(i, chained.version))
            .copied()
            .ok_or_else(|| {
                StoreError::Corrupt("a grouped append's event was not written".into())
            })?;
        let appended = settle_append(tx, request, chained, position).await?;
        answers[i] = Some(Ok(appended));
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(StoreError::Corrupt("an append went unanswered".into()))))
        .collect())
}

/// The head (last sequence and its hash) of the stream of each append `deciding` names, by
/// its place in the group; a stream without events has none.
async fn heads(
    tx: &mut SqliteConnection,
    group: &[Queued],
    deciding: &[usize],
) -> Result<HashMap<usize, Option<(i64, Option<String>)>>, StoreError> {
    if deciding.is_empty() {
        return Ok(HashMap::new());
    }
    let mut query = QueryBuilder::<Sqlite>::new("WITH wanted(n, t, i) AS (");
    query.push_values(deciding, |mut row, &i| {
        let stream = &group[i].request.stream;
        row.push_bind(i64::try_from(i).unwrap_or(i64::MAX))
            .push_bind(stream.aggregate_type.as_str())
            .push_bind(stream.aggregate_id.as_str());
    });
    query.push(
        ") SELECT n, \
             (SELECT sequence FROM events WHERE aggregate_type = t AND aggregate_id = i \
                 ORDER BY sequence DESC LIMIT 1) AS sequence, \
             (SELECT json_extract(metadata, '$.hash') FROM events \
                 WHERE aggregate_type = t AND aggregate_id = i \
                 ORDER BY sequence DESC LIMIT 1) AS hash \
         FROM wanted",
    );
    let rows = query.build().fetch_all(&mut *tx).await?;
    let mut heads = HashMap::with_capacity(rows.len());
    for row in rows {
        let n: i64 = row.try_get("n")?;
        let sequence: Option<i64> = row.try_get("sequence")?;
        let hash: Option<String> = row.try_get("hash")?;
        heads.insert(
            usize::try_from(n).map_err(|_| StoreError::Corrupt("a head out of range".into()))?,
            sequence.map(|s| (s, hash)),
        );
    }
    Ok(heads)
}

/// Inserts the events of the appends being written, in group order, in as few statements as
/// SQLite's limit on bound values allows; the position of each event, by (append, sequence).
async fn insert_events(
    tx: &mut SqliteConnection,
    group: &[Queued],
    writing: &[(usize, &Chained)],
) -> Result<HashMap<(usize, u64), i64>, StoreError> {
    let recorded_at = timestamp(Utc::now());
    let mut rows = Vec::new();
    for (i, chained) in writing {
        for event in &chained.events {
            rows.push((*i, event, event.payload.get(), event.metadata.get()));
        }
    }
    let by_stream: HashMap<(&str, &str), usize> = writing
        .iter()
        .map(|(i, _)| {
            let stream = &group[*i].request.stream;
            (
                (stream.aggregate_type.as_str(), stream.aggregate_id.as_str()),
                *i,
            )
        })
        .collect();
    let mut positions = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(EVENTS_PER_INSERT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata, recorded_at) ",
        );
        let mut sequences = Vec::with_capacity(chunk.len());
        for (_, event, _, _) in chunk {
            sequences.push(to_i64(event.sequence)?);
        }
        query.push_values(
            chunk.iter().zip(&sequences),
            |mut row, ((i, event, payload, metadata), sequence)| {
                let stream = &group[*i].request.stream;
                row.push_bind(stream.aggregate_type.as_str())
                    .push_bind(stream.aggregate_id.as_str())
                    .push_bind(*sequence)
                    .push_bind(event.event_type.as_str())
                    .push_bind(event.event_version.as_str())
                    .push_bind(*payload)
                    .push_bind(*metadata)
                    .push_bind(recorded_at.as_str());
            },
        );
        query.push(" RETURNING aggregate_type, aggregate_id, sequence, position");
        for row in query.build().fetch_all(&mut *tx).await? {
            let aggregate_type: &str = row.try_get("aggregate_type")?;
            let aggregate_id: &str = row.try_get("aggregate_id")?;
            let i = by_stream
                .get(&(aggregate_type, aggregate_id))
                .copied()
                .ok_or_else(|| {
                    StoreError::Corrupt("a group wrote a stream it did not hold".into())
                })?;
            positions.insert(
                (i, to_u64(row.try_get("sequence")?)?),
                row.try_get::<i64, _>("position")?,
            );
        }
    }
    Ok(positions)
}

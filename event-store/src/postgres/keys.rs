//! The idempotency keys' SQL on PostgreSQL: claiming a key inside an append, storing and
//! reading its first answer.

use std::collections::HashMap;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::stream_lock_key;
use crate::convert::{to_i32, to_i64, to_u32, to_u64};
use crate::{
    Appended, IdempotencyClaim, IdempotentOutcome, KeyOutcome, Position, StoreError, StreamId,
};

/// Claims an idempotency key for this transaction (an expired key is claimed afresh); `false`
/// when the key already stands for an answer. A concurrent claim of the same key waits here
/// until the first one's transaction ends. The stream's lock is taken first, in the same
/// statement, so every append takes the stream's lock before a key's row: a retry holding the
/// stream's lock and an identical keyed request can never wait on each other in a cycle.
pub(super) async fn claim_key(
    conn: &mut PgConnection,
    claim: &IdempotencyClaim,
    stream: &StreamId,
) -> Result<bool, StoreError> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
             expires_at) \
         SELECT $1, $2, $3, $4, now() + $5 * interval '1 second' \
         FROM (SELECT pg_advisory_xact_lock($6)) AS stream_lock \
         ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
             aggregate_type = EXCLUDED.aggregate_type, aggregate_id = EXCLUDED.aggregate_id, \
             outcome = NULL, version = NULL, epoch = NULL, tx = NULL, position = NULL, \
             last_hash = NULL, detail = NULL, created_at = now(), \
             expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= now()",
    )
    .bind(&claim.key)
    .bind(&claim.fingerprint)
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .bind(ttl_seconds(claim))
    .bind(stream_lock_key(stream))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Stores `outcome` as the answer of a key claimed by this transaction.
pub(super) async fn settle_key(
    conn: &mut PgConnection,
    key: &str,
    outcome: &KeyOutcome,
) -> Result<(), StoreError> {
    let stored = outcome.stored()?;
    let (epoch, tx, position) = position_columns(stored.position)?;
    sqlx::query(
        "UPDATE idempotency_keys SET outcome = $2, version = $3, epoch = $4, tx = $5, \
             position = $6, last_hash = $7, detail = $8 \
         WHERE key = $1",
    )
    .bind(key)
    .bind(stored.kind)
    .bind(stored.version)
    .bind(epoch)
    .bind(tx)
    .bind(position)
    .bind(stored.last_hash)
    .bind(stored.detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The columns [`outcome_of`] reads, and the condition of a live outcome.
macro_rules! select_outcome {
    ($where:literal) => {
        concat!(
            "SELECT key, fingerprint, aggregate_type, aggregate_id, outcome, version, epoch, tx, \
                 position, last_hash, detail \
             FROM idempotency_keys WHERE ",
            $where,
            " AND outcome IS NOT NULL AND (expires_at IS NULL OR expires_at > now())"
        )
    };
}

/// The live outcome of `key`, read on `conn`.
pub(super) async fn outcome_on(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<IdempotentOutcome>, StoreError> {
    sqlx::query(select_outcome!("key = $1"))
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| outcome_of(&row))
        .transpose()
}

/// The live outcomes of `keys`, read on `conn`, by key.
pub(super) async fn outcomes_on(
    conn: &mut PgConnection,
    keys: &[&str],
) -> Result<HashMap<String, IdempotentOutcome>, StoreError> {
    let rows = sqlx::query(select_outcome!("key = ANY($1)"))
        .bind(keys)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("key")?, outcome_of(row)?)))
        .collect()
}

/// An outcome as its row stores it.
fn outcome_of(row: &PgRow) -> Result<IdempotentOutcome, StoreError> {
    let position = match (
        row.try_get::<Option<i32>, _>("epoch")?,
        row.try_get::<Option<i64>, _>("tx")?,
        row.try_get::<Option<i64>, _>("position")?,
    ) {
        (Some(epoch), Some(tx), Some(position)) => Some(Position::new(
            to_u32(epoch)?,
            to_u64(tx)?,
            to_u64(position)?,
        )),
        _ => None,
    };
    let kind: String = row.try_get("outcome")?;
    let last_hash: Option<String> = row.try_get("last_hash")?;
    Ok(IdempotentOutcome {
        fingerprint: row.try_get("fingerprint")?,
        stream: StreamId::new(
            row.try_get::<String, _>("aggregate_type")?,
            row.try_get::<String, _>("aggregate_id")?,
        ),
        outcome: KeyOutcome::from_stored(
            &kind,
            row.try_get("version")?,
            position,
            last_hash.as_deref(),
            row.try_get("detail")?,
        )?,
    })
}

/// The answer an append gets when its key already stands for one.
pub(super) fn first_answer(
    claim: &IdempotencyClaim,
    outcome: Option<IdempotentOutcome>,
) -> Result<Appended, StoreError> {
    let outcome =
        outcome.ok_or_else(|| StoreError::Corrupt("an idempotency key vanished".into()))?;
    if outcome.fingerprint != claim.fingerprint {
        return Err(StoreError::IdempotencyKeyReused);
    }
    match outcome.outcome {
        KeyOutcome::Appended(appended) => Ok(appended),
        other => Err(StoreError::Answered(Box::new(other))),
    }
}

/// Records `outcome` (not an append) as the answer of the claim's key, over an expired row of
/// the same key; `false` when the key already stands for an answer.
pub(super) async fn record(
    conn: &mut PgConnection,
    claim: &IdempotencyClaim,
    stream: &StreamId,
    outcome: &KeyOutcome,
) -> Result<bool, StoreError> {
    let stored = outcome.stored()?;
    let (epoch, tx, position) = position_columns(stored.position)?;
    let recorded = sqlx::query(
        "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
             outcome, version, epoch, tx, position, last_hash, detail, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             now() + $12 * interval '1 second') \
         ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
             aggregate_type = EXCLUDED.aggregate_type, \
             aggregate_id = EXCLUDED.aggregate_id, outcome = EXCLUDED.outcome, \
             version = EXCLUDED.version, epoch = EXCLUDED.epoch, tx = EXCLUDED.tx, \
             position = EXCLUDED.position, last_hash = EXCLUDED.last_hash, \
             detail = EXCLUDED.detail, created_at = now(), \
             expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= now()",
    )
    .bind(&claim.key)
    .bind(&claim.fingerprint)
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .bind(stored.kind)
    .bind(stored.version)
    .bind(epoch)
    .bind(tx)
    .bind(position)
    .bind(stored.last_hash)
    .bind(stored.detail)
    .bind(ttl_seconds(claim))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(recorded == 1)
}

/// The key's `epoch`, `tx` and `position` columns (all null when there is no position).
type PositionColumns = (Option<i32>, Option<i64>, Option<i64>);

/// A position as the key's columns hold it.
fn position_columns(position: Option<Position>) -> Result<PositionColumns, StoreError> {
    Ok(match position {
        Some(p) => (
            Some(to_i32(p.epoch())?),
            Some(to_i64(p.tx())?),
            Some(to_i64(p.seq())?),
        ),
        None => (None, None, None),
    })
}

/// The key's time to live in seconds, capped (see [`crate::idempotency::MAX_TTL`]).
pub(super) fn ttl_seconds(claim: &IdempotencyClaim) -> Option<f64> {
    claim
        .ttl
        .map(|ttl| ttl.min(crate::idempotency::MAX_TTL).as_secs_f64())
}

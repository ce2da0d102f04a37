//! The transparency log's roots, for auditors and admins: the latest signed checkpoint, an
//! event's inclusion proof and the consistency proof between two tree sizes, each checkable
//! with nothing of ours (RFC 9162 proofs, C2SP signed notes).

use async_graphql::{Context, ID, Object, SimpleObject};
use transparency::{Auditor, TransparencyError};

use crate::QueryError;
use crate::error::{refused, unavailable};
use crate::events::AUDITORS;
use crate::viewer::Viewer;

/// A signed checkpoint of the transparency log.
#[derive(Debug, SimpleObject)]
pub struct TreeCheckpoint {
    /// The whole signed note (C2SP `tlog-checkpoint`), as auditors keep it.
    pub note: String,
    /// The log's origin, the note's first line.
    pub origin: String,
    /// The tree's size: events in it.
    pub tree_size: u64,
    /// The tree's root hash, base64.
    pub root_hash: String,
}

/// An event's inclusion proof (RFC 9162 §2.1.3).
#[derive(Debug, SimpleObject)]
pub struct InclusionProof {
    /// The event.
    pub event_id: ID,
    /// Its leaf index.
    pub leaf_index: u64,
    /// The size of the tree the proof is against.
    pub tree_size: u64,
    /// The leaf's bytes (the event's canonical form), base64.
    pub leaf_input: String,
    /// The proof's hashes, base64, from the leaf up.
    pub hashes: Vec<String>,
    /// The checkpoint signed at that size, if one was.
    pub checkpoint: Option<String>,
}

/// A consistency proof between two tree sizes (RFC 9162 §2.1.4).
#[derive(Debug, SimpleObject)]
pub struct ConsistencyProof {
    /// The older tree's size.
    pub from: u64,
    /// The newer tree's size.
    pub to: u64,
    /// The proof's hashes, base64.
    pub hashes: Vec<String>,
    /// The checkpoint signed at the older size, if one was.
    pub from_checkpoint: Option<String>,
    /// The checkpoint signed at the newer size, if one was.
    pub to_checkpoint: Option<String>,
}

/// The transparency log's roots.
#[derive(Default)]
pub struct TransparencyQuery;

#[Object]
impl TransparencyQuery {
    /// The transparency log's latest signed checkpoint; null before the first.
    async fn checkpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TreeCheckpoint>> {
        ctx.data::<Viewer>()?
            .with_role(&AUDITORS, "the transparency log")?;
        let Some(note) = ctx
            .data::<Auditor>()?
            .latest_checkpoint()
            .await
            .map_err(failed)?
        else {
            return Ok(None);
        };
        // The note's body, as signed: origin, size, root.
        let mut lines = note.lines();
        let origin = lines.next().unwrap_or_default().to_owned();
        let tree_size = lines
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or_default();
        let root_hash = lines.next().unwrap_or_default().to_owned();
        Ok(Some(TreeCheckpoint {
            note,
            origin,
            tree_size,
            root_hash,
        }))
    }

    /// The inclusion proof of an event in the tree of `treeSize` events (the latest
    /// checkpoint's when absent).
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        tree_size: Option<u64>,
    ) -> async_graphql::Result<InclusionProof> {
        ctx.data::<Viewer>()?
            .with_role(&AUDITORS, "the transparency log")?;
        let proof = ctx
            .data::<Auditor>()?
            .inclusion(&event_id, tree_size)
            .await
            .map_err(failed)?;
        Ok(InclusionProof {
            event_id,
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
            leaf_input: proof.leaf_input,
            hashes: proof.inclusion_proof,
            checkpoint: proof.checkpoint,
        })
    }

    /// The consistency proof from the tree of `from` events to that of `to`.
    async fn consistency_proof(
        &self,
        ctx: &Context<'_>,
        from: u64,
        to: u64,
    ) -> async_graphql::Result<ConsistencyProof> {
        ctx.data::<Viewer>()?
            .with_role(&AUDITORS, "the transparency log")?;
        let proof = ctx
            .data::<Auditor>()?
            .consistency(from, to)
            .await
            .map_err(failed)?;
        Ok(ConsistencyProof {
            from: proof.old_size,
            to: proof.new_size,
            hashes: proof.consistency_proof,
            from_checkpoint: proof.old_checkpoint,
            to_checkpoint: proof.new_checkpoint,
        })
    }
}

/// A transparency log error as the GraphQL error clients see.
fn failed(error: TransparencyError) -> async_graphql::Error {
    match error {
        TransparencyError::UnknownEvent(_)
        | TransparencyError::OutOfRange(_)
        | TransparencyError::Tree(_) => refused(QueryError::BadInput(error.to_string())),
        other => unavailable(other),
    }
}

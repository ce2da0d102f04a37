//! What auditors ask of the transparency log: the latest checkpoint, inclusion and
//! consistency proofs from the stored tree, and whether the log as it is now still holds a
//! checkpoint's tree unchanged (recomputed from the events, never taken from the tree's own
//! tables, which an attacker with the database could have rewritten too).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use event_store::{EventStore, Position, RecordedEvent};
use projections::ReadDb;
use serde::Serialize;
use tokio::sync::OnceCell;
use transparency_log::{
    Checkpoint, Frontier, Hash, NodeId, Plan, VerifierKey, consistency_plan, inclusion_plan,
    root_plan, verify_consistency, verify_inclusion,
};

use crate::TransparencyError;
use crate::leaf::{event_id, leaf_input};
use crate::tables;
use crate::tiles;

/// Events read per query while the log is recomputed.
const READ_BATCH: u32 = 10_000;

/// An event's inclusion proof, in the shape the independent verifier reads.
#[derive(Debug, Clone, Serialize)]
pub struct InclusionProof {
    /// The signed checkpoint of the tree the proof is against, if one was signed at its size.
    pub checkpoint: Option<String>,
    /// The event's id.
    pub event_id: String,
    /// The event's leaf index.
    pub leaf_index: u64,
    /// The size of the tree the proof is against.
    pub tree_size: u64,
    /// The leaf's bytes (the event's canonical form), base64.
    pub leaf_input: String,
    /// The proof's hashes, base64.
    pub inclusion_proof: Vec<String>,
}

/// A consistency proof between two checkpoints, in the shape the independent verifier reads.
#[derive(Debug, Clone, Serialize)]
pub struct ConsistencyProof {
    /// The older tree's size.
    pub old_size: u64,
    /// The newer tree's size.
    pub new_size: u64,
    /// The signed checkpoint at the older size, if one was signed there.
    pub old_checkpoint: Option<String>,
    /// The signed checkpoint at the newer size, if one was signed there.
    pub new_checkpoint: Option<String>,
    /// The proof's hashes, base64.
    pub consistency_proof: Vec<String>,
}

/// What checking a held checkpoint against the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAudit {
    /// The log's first `size` events are still the checkpoint's leaves.
    Intact {
        /// The checkpoint's size.
        size: u64,
        /// Events in the log now.
        log_size: u64,
    },
    /// They are not.
    Differs {
        /// The checkpoint's size.
        size: u64,
        /// Events in the log now.
        log_size: u64,
        /// The first leaf that differs, when the stored tree still tells which.
        first_leaf: Option<u64>,
        /// What is at that place: the event the tree holds there and what the log holds now.
        detail: String,
    },
}

/// The transparency log's read side, for auditors.
#[derive(Clone)]
pub struct Auditor {
    store: EventStore,
    db: ReadDb,
    /// Set once the tables are known to exist (made on first use, not on every request).
    ready: Arc<OnceCell<()>>,
}

impl Auditor {
    /// Reads the tree in `db` over the log in `store`.
    pub fn new(store: EventStore, db: ReadDb) -> Self {
        Self {
            store,
            db,
            ready: Arc::default(),
        }
    }

    /// Makes the tables if they are missing, once.
    async fn ready(&self) -> Result<(), TransparencyError> {
        self.ready
            .get_or_try_init(|| tables::set_up(&self.db))
            .await
            .map(|_| ())
    }

    /// The latest signed checkpoint, as a note.
    pub async fn latest_checkpoint(&self) -> Result<Option<String>, TransparencyError> {
        self.ready().await?;
        Ok(tables::latest_checkpoint(&self.db)
            .await?
            .map(|(_, note)| note))
    }

    /// The inclusion proof of the event `event_id` in the tree of `tree_size` leaves (the
    /// latest checkpoint's when `None`), checked before it is handed out.
    pub async fn inclusion(
        &self,
        event_id_wanted: &str,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof, TransparencyError> {
        self.ready().await?;
        let (size, checkpoint) = self.tree_at(tree_size).await?;
        let (index, before) = tables::leaf_of(&self.db, event_id_wanted)
            .await?
            .ok_or_else(|| TransparencyError::UnknownEvent(event_id_wanted.to_owned()))?;
        if index >= size {
            return Err(TransparencyError::OutOfRange(format!(
                "event {event_id_wanted} is leaf {index}, after the tree of {size} leaves"
            )));
        }
        let event = self.event_after(before).await?;
        if event.as_ref().and_then(event_id) != Some(event_id_wanted) {
            return Err(TransparencyError::Corrupt(format!(
                "the log no longer holds event {event_id_wanted} where the tree put it (leaf \
                 {index})"
            )));
        }
        let input = event.as_ref().map(leaf_input).unwrap_or_default();
        let plan = inclusion_plan(index, size)?;
        // The root the proof must reach: the signed one when a checkpoint was signed at that
        // size, else the stored tree's (both plans read in one query).
        let signed = checkpoint.as_deref().and_then(signed_root);
        let (proof, root) = match signed {
            Some(root) => (self.assemble(&[&plan]).await?.remove(0), root),
            None => {
                let mut hashes = self.assemble(&[&plan, &root_plan(size)]).await?;
                let root = hashes.pop().and_then(|r| r.first().copied());
                (hashes.remove(0), root.unwrap_or(Hash::EMPTY_ROOT))
            }
        };
        verify_inclusion(
            &transparency_log::leaf_hash(&input),
            index,
            size,
            &proof,
            &root,
        )
        .map_err(|e| {
            TransparencyError::Corrupt(format!(
                "event {event_id_wanted} as the log holds it now is not leaf {index}: {e}"
            ))
        })?;
        Ok(InclusionProof {
            checkpoint,
            event_id: event_id_wanted.to_owned(),
            leaf_index: index,
            tree_size: size,
            leaf_input: STANDARD.encode(&input),
            inclusion_proof: proof.iter().map(Hash::to_base64).collect(),
        })
    }

    /// The consistency proof from the tree of `old_size` leaves to that of `new_size`.
    pub async fn consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, TransparencyError> {
        self.ready().await?;
        let (new_size, new_checkpoint) = self.tree_at(Some(new_size)).await?;
        let proof = self
            .assemble(&[&consistency_plan(old_size, new_size)?])
            .await?
            .remove(0);
        Ok(ConsistencyProof {
            old_size,
            new_size,
            old_checkpoint: tables::checkpoint_at(&self.db, old_size).await?,
            new_checkpoint,
            consistency_proof: proof.iter().map(Hash::to_base64).collect(),
        })
    }

    /// Whether the log as it is now still holds the tree of the checkpoint `note` (signed by
    /// `key`): every event is read again and hashed into a tree whose root at the
    /// checkpoint's size must be the checkpoint's root.
    pub async fn verify(
        &self,
        note: &str,
        key: &VerifierKey,
    ) -> Result<LogAudit, TransparencyError> {
        let checkpoint: Checkpoint = key.open(note)?;
        let size = checkpoint.size();
        let leaves = self.recompute_leaves().await?;
        let log_size = leaves.len() as u64;
        let held = usize::try_from(size).unwrap_or(usize::MAX);
        if leaves.len() >= held && root_of(&leaves[..held])? == checkpoint.root() {
            return Ok(LogAudit::Intact { size, log_size });
        }
        // Which leaf: the stored leaves tell, if they still make the checkpoint's root.
        self.ready().await?;
        let stored: Vec<Hash> = tables::leaf_hashes(&self.db)
            .await?
            .chunks_exact(32)
            .filter_map(|chunk| Hash::try_from(chunk).ok())
            .collect();
        if stored.len() < held || root_of(&stored[..held])? != checkpoint.root() {
            return Ok(LogAudit::Differs {
                size,
                log_size,
                first_leaf: None,
                detail: "the log differs from the checkpoint, and the stored tree was altered \
                         too: it no longer tells which event"
                    .into(),
            });
        }
        let first = (0..held)
            .find(|&i| leaves.get(i) != Some(&stored[i]))
            .unwrap_or(held);
        let first_leaf = first as u64;
        let detail = self.describe(first_leaf, log_size).await?;
        Ok(LogAudit::Differs {
            size,
            log_size,
            first_leaf: Some(first_leaf),
            detail,
        })
    }

    /// What the tree holds at leaf `index`, and what the log holds there now.
    async fn describe(&self, index: u64, log_size: u64) -> Result<String, TransparencyError> {
        let was = tables::leaf_event(&self.db, index)
            .await?
            .unwrap_or_else(|| "an unknown event".into());
        if index >= log_size {
            return Ok(format!(
                "leaf {index} was event {was}; the log now ends before it ({log_size} events)"
            ));
        }
        let now = self.nth_event(index).await?;
        let now = now.map_or_else(
            || "nothing".to_owned(),
            |event| {
                format!(
                    "event {} ({} #{} {})",
                    event_id(&event).unwrap_or("without an id"),
                    event.stream,
                    event.sequence,
                    event.event_type
                )
            },
        );
        Ok(format!(
            "leaf {index} was event {was}; the log now holds {now} there"
        ))
    }

    /// The size and signed checkpoint of the tree asked for: `size` (which must not pass the
    /// stored tree), or the latest checkpoint's.
    async fn tree_at(&self, size: Option<u64>) -> Result<(u64, Option<String>), TransparencyError> {
        match size {
            Some(size) => {
                let stored = tables::state(&self.db).await?.size;
                if size > stored {
                    return Err(TransparencyError::OutOfRange(format!(
                        "the tree holds {stored} leaves, not {size}"
                    )));
                }
                Ok((size, tables::checkpoint_at(&self.db, size).await?))
            }
            // A signed checkpoint's tree is always stored (it is written with its batch).
            None => match tables::latest_checkpoint(&self.db).await? {
                Some((size, note)) => Ok((size, Some(note))),
                None => Err(TransparencyError::OutOfRange(
                    "no checkpoint has been signed yet".into(),
                )),
            },
        }
    }

    /// Each plan's hashes, their nodes read from their tiles in one query.
    async fn assemble(&self, plans: &[&Plan]) -> Result<Vec<Vec<Hash>>, TransparencyError> {
        let mut wanted: Vec<tiles::TileId> = plans
            .iter()
            .flat_map(|plan| plan.nodes())
            .map(|node| tiles::locate(*node).0)
            .collect();
        wanted.sort();
        wanted.dedup();
        let found = tables::tiles(&self.db, &wanted).await?;
        let mut assembled = Vec::with_capacity(plans.len());
        for plan in plans {
            assembled.push(plan.assemble(|node: NodeId| {
                let (tile, _, _) = tiles::locate(node);
                found
                    .get(&tile)
                    .and_then(|hashes| tiles::fold(node, hashes))
            })?);
        }
        Ok(assembled)
    }

    /// The event right after `position` in the log, as stored.
    async fn event_after(
        &self,
        position: Position,
    ) -> Result<Option<RecordedEvent>, TransparencyError> {
        Ok(self
            .store
            .read_all_as_stored(position, 1)
            .await?
            .into_iter()
            .next())
    }

    /// The log's `index`-th event (from 0), as stored.
    async fn nth_event(&self, index: u64) -> Result<Option<RecordedEvent>, TransparencyError> {
        let mut after = Position::START;
        let mut skipped = 0u64;
        loop {
            let events = self.store.read_all_as_stored(after, READ_BATCH).await?;
            let Some(last) = events.last() else {
                return Ok(None);
            };
            let count = events.len() as u64;
            if index < skipped + count {
                let at = usize::try_from(index - skipped).unwrap_or(usize::MAX);
                return Ok(events.into_iter().nth(at));
            }
            skipped += count;
            after = last.position;
        }
    }

    /// The leaf hash of every event of the log as it is now, in log order.
    async fn recompute_leaves(&self) -> Result<Vec<Hash>, TransparencyError> {
        let mut leaves = Vec::new();
        let mut after = Position::START;
        loop {
            let events = self.store.read_all_as_stored(after, READ_BATCH).await?;
            let Some(last) = events.last() else {
                return Ok(leaves);
            };
            after = last.position;
            leaves.extend(events.iter().map(crate::event_leaf));
        }
    }
}

/// The root a signed note names (its signature is checked by whoever relies on it).
fn signed_root(note: &str) -> Option<Hash> {
    let (body, _) = note.split_once("\n\n")?;
    Checkpoint::parse_body(&format!("{body}\n"))
        .ok()
        .map(|checkpoint| checkpoint.root())
}

/// The root of a tree of these leaves.
fn root_of(leaves: &[Hash]) -> Result<Hash, TransparencyError> {
    let mut frontier = Frontier::new();
    let mut scratch = Vec::new();
    for leaf in leaves {
        scratch.clear();
        frontier.append(*leaf, &mut scratch)?;
    }
    Ok(frontier.root())
}

/// Checks a consistency proof between two signed checkpoints, as an auditor holding both
/// would.
pub fn check_consistency(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[Hash],
) -> Result<(), TransparencyError> {
    verify_consistency(old.size(), new.size(), &old.root(), &new.root(), proof).map_err(|e| {
        TransparencyError::Corrupt(format!(
            "the tree of {} leaves does not extend that of {}: {e}",
            new.size(),
            old.size()
        ))
    })
}

//! Appending the log's events to the tree, a batch at a time: the leaves, the tiles they fill
//! and the tree's new state, ready to be written in one transaction.

use std::collections::BTreeMap;

use event_store::{Position, RecordedEvent};
use projections::ReadDb;
use transparency_log::{Frontier, Hash, NodeId};

use crate::TransparencyError;
use crate::leaf::{event_id, event_leaf};
use crate::tables::{self, Batch, TreeState};
use crate::tiles::{self, TileId};

/// The tree as the worker carries it from batch to batch: its right edge and, per tile level,
/// the tile being filled.
pub(crate) struct Appender {
    frontier: Frontier,
    position: Position,
    /// The tile being filled at each tile level, with its hashes so far.
    edges: BTreeMap<u8, (TileId, Vec<u8>)>,
    /// Reused between batches: the nodes one batch completes.
    nodes: Vec<(NodeId, Hash)>,
}

/// A batch appended in memory, not yet written.
pub(crate) struct Appended {
    from_size: u64,
    state: TreeState,
    tiles: Vec<(TileId, Vec<u8>)>,
    leaves: Vec<(u64, String, Position)>,
}

impl Appender {
    /// The tree as stored: its state and the tiles at its right edge, checked against each
    /// other.
    pub(crate) async fn load(db: &ReadDb) -> Result<Self, TransparencyError> {
        let state = tables::state(db).await?;
        let ids = Frontier::ids(state.size);
        if state.frontier.len() != ids.len() * 32 {
            return Err(TransparencyError::Corrupt(format!(
                "the right edge of a tree of {} leaves has {} bytes",
                state.size,
                state.frontier.len()
            )));
        }
        let mut stored = state
            .frontier
            .chunks_exact(32)
            .map(|chunk| Hash::try_from(chunk).ok());
        let frontier = Frontier::restore(state.size, |_| stored.next().flatten())?;
        let wanted: Vec<(TileId, u64)> = tiles::edges(state.size);
        let ids: Vec<TileId> = wanted.iter().map(|(tile, _)| *tile).collect();
        let mut found = tables::tiles(db, &ids).await?;
        let mut edges = BTreeMap::new();
        for (tile, held) in wanted {
            let hashes = found.remove(&tile).unwrap_or_default();
            if hashes.len() as u64 != held * 32 {
                return Err(TransparencyError::Corrupt(format!(
                    "tile {}/{} holds {} bytes where a tree of {} leaves puts {}",
                    tile.level,
                    tile.index,
                    hashes.len(),
                    state.size,
                    held * 32
                )));
            }
            edges.insert(tile.level, (tile, hashes));
        }
        Ok(Self {
            frontier,
            position: state.position,
            edges,
            nodes: Vec::new(),
        })
    }

    /// Leaves in the tree.
    pub(crate) fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The log position of the last leaf's event.
    pub(crate) fn position(&self) -> Position {
        self.position
    }

    /// The tree's root.
    pub(crate) fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Appends `events` (the log's next, in order) as leaves.
    pub(crate) fn append(
        &mut self,
        events: &[RecordedEvent],
    ) -> Result<Appended, TransparencyError> {
        let from_size = self.size();
        let mut leaves = Vec::with_capacity(events.len());
        let mut touched: BTreeMap<TileId, ()> = BTreeMap::new();
        let mut finished: Vec<(TileId, Vec<u8>)> = Vec::new();
        for event in events {
            let id = event_id(event).ok_or_else(|| {
                TransparencyError::Corrupt(format!(
                    "{} #{} has no event id",
                    event.stream, event.sequence
                ))
            })?;
            leaves.push((self.size(), id.to_owned(), event.position));
            self.nodes.clear();
            self.frontier.append(event_leaf(event), &mut self.nodes)?;
            for (node, hash) in self
                .nodes
                .iter()
                .filter(|(node, _)| tiles::is_stored(*node))
            {
                let (tile, at) = tiles::slot(*node);
                let edge = self
                    .edges
                    .entry(tile.level)
                    .or_insert_with(|| (tile, Vec::new()));
                if edge.0 != tile {
                    // The tile before is full: it is written with this batch, whole.
                    let full = std::mem::replace(edge, (tile, Vec::new()));
                    touched.remove(&full.0);
                    finished.push(full);
                }
                if edge.1.len() as u64 != at * 32 {
                    return Err(TransparencyError::Corrupt(format!(
                        "node {node} does not follow tile {}/{}",
                        tile.level, tile.index
                    )));
                }
                edge.1.extend_from_slice(hash.as_bytes());
                touched.insert(tile, ());
            }
            self.position = event.position;
        }
        let mut tiles = finished;
        for (tile, hashes) in self.edges.values() {
            if touched.contains_key(tile) {
                tiles.push((*tile, hashes.clone()));
            }
        }
        Ok(Appended {
            from_size,
            state: self.state(),
            tiles,
            leaves,
        })
    }

    fn state(&self) -> TreeState {
        TreeState {
            size: self.size(),
            position: self.position,
            frontier: self
                .frontier
                .nodes()
                .flat_map(|(_, hash)| *hash.as_bytes())
                .collect(),
        }
    }

    /// Nothing appended: the tree as it stands, to sign a checkpoint on its own.
    pub(crate) fn unchanged(&self) -> Appended {
        Appended {
            from_size: self.size(),
            state: self.state(),
            tiles: Vec::new(),
            leaves: Vec::new(),
        }
    }
}

impl Appended {
    /// Leaves the batch added.
    pub(crate) fn leaves(&self) -> usize {
        self.leaves.len()
    }

    /// Writes the batch, with `checkpoint` if one was signed for it, in one transaction.
    pub(crate) async fn write(
        &self,
        db: &ReadDb,
        checkpoint: Option<String>,
    ) -> Result<(), TransparencyError> {
        tables::write(
            db,
            Batch {
                from_size: self.from_size,
                to: &self.state,
                tiles: self
                    .tiles
                    .iter()
                    .map(|(tile, hashes)| (*tile, hashes.as_slice()))
                    .collect(),
                leaves: &self.leaves,
                checkpoint,
            },
        )
        .await
    }
}

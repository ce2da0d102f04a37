//! How the tree's nodes are stored: in tiles of 256 hashes (C2SP tlog-tiles' layout), so that
//! a million leaves are a few thousand rows and a proof reads a handful of them.
//!
//! Tile level `L` holds the nodes of tree level `8·L`; its tile `i` holds those with indexes
//! `[256·i, 256·i + 256)`, as concatenated 32-byte hashes. A node of another level is the
//! hash of a complete run of hashes inside one tile, folded on the spot.

use transparency_log::{Hash, NodeId, node_hash};

/// Tree levels one tile spans.
pub(crate) const TILE_HEIGHT: u8 = 8;

/// Hashes in a full tile.
pub(crate) const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// The address of a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TileId {
    /// Its tile level: it holds nodes of tree level `8·level`.
    pub(crate) level: u8,
    /// Its index within its level.
    pub(crate) index: u64,
}

/// Where a node lives: the tile, and the run of stored hashes `[start, start + count)` within
/// it that fold into the node.
pub(crate) fn locate(node: NodeId) -> (TileId, usize, usize) {
    let level = node.level() / TILE_HEIGHT;
    let rise = node.level() % TILE_HEIGHT;
    let first = node.index() << rise;
    let tile = TileId {
        level,
        index: first / TILE_WIDTH,
    };
    // Both below 256: `first % 256` and `2^rise` with rise < 8.
    let start = usize::try_from(first % TILE_WIDTH).unwrap_or(0);
    (tile, start, 1usize << rise)
}

/// The node's hash from its tile's stored hashes, if the tile holds its whole run.
pub(crate) fn fold(node: NodeId, tile: &[u8]) -> Option<Hash> {
    let (_, start, count) = locate(node);
    let run = tile.get(start * 32..(start + count) * 32)?;
    let mut hashes: Vec<Hash> = run
        .chunks_exact(32)
        .map(|chunk| Hash::try_from(chunk).ok())
        .collect::<Option<_>>()?;
    while hashes.len() > 1 {
        hashes = hashes
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    hashes.pop()
}

/// Whether a newly stored node goes into a tile (only every eighth tree level is stored).
pub(crate) fn is_stored(node: NodeId) -> bool {
    node.level().is_multiple_of(TILE_HEIGHT)
}

/// The tile a stored node goes into, and its slot there.
pub(crate) fn slot(node: NodeId) -> (TileId, u64) {
    (
        TileId {
            level: node.level() / TILE_HEIGHT,
            index: node.index() / TILE_WIDTH,
        },
        node.index() % TILE_WIDTH,
    )
}

/// The tile at the right edge of each tile level of a tree of `size` leaves, where the next
/// nodes go, with how many hashes it holds (0: a tile yet to start).
pub(crate) fn edges(size: u64) -> Vec<(TileId, u64)> {
    let mut edges = Vec::new();
    let mut level = 0u8;
    loop {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let nodes = size.checked_shr(shift).unwrap_or(0);
        if nodes == 0 && level > 0 {
            return edges;
        }
        edges.push((
            TileId {
                level,
                index: nodes / TILE_WIDTH,
            },
            nodes % TILE_WIDTH,
        ));
        if nodes == 0 {
            return edges;
        }
        level += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use transparency_log::{Frontier, leaf_hash};

    use super::*;

    #[test]
    fn a_node_folds_from_its_tile() {
        let mut frontier = Frontier::new();
        let mut nodes = Vec::new();
        for n in 0..600u32 {
            frontier
                .append(leaf_hash(&n.to_be_bytes()), &mut nodes)
                .unwrap();
        }
        let mut tiles: std::collections::HashMap<TileId, Vec<u8>> = Default::default();
        for (id, hash) in nodes.iter().filter(|(id, _)| is_stored(*id)) {
            let (tile, at) = slot(*id);
            let bytes = tiles.entry(tile).or_default();
            assert_eq!(bytes.len() as u64, at * 32, "nodes arrive in order");
            bytes.extend_from_slice(hash.as_bytes());
        }
        for (id, hash) in &nodes {
            let (tile, _, _) = locate(*id);
            assert_eq!(fold(*id, &tiles[&tile]), Some(*hash), "node {id}");
        }
        assert_eq!(tiles[&TileId { level: 0, index: 2 }].len(), 88 * 32);
        assert_eq!(tiles[&TileId { level: 1, index: 0 }].len(), 2 * 32);
    }

    #[test]
    fn the_right_edge_names_each_level_s_next_tile() {
        assert_eq!(edges(0), vec![(TileId { level: 0, index: 0 }, 0)]);
        assert_eq!(
            edges(600),
            vec![
                (TileId { level: 0, index: 2 }, 88),
                (TileId { level: 1, index: 0 }, 2)
            ]
        );
        assert_eq!(
            edges(65_536),
            vec![
                (
                    TileId {
                        level: 0,
                        index: 256
                    },
                    0
                ),
                (TileId { level: 1, index: 1 }, 0),
                (TileId { level: 2, index: 0 }, 1)
            ]
        );
    }
}

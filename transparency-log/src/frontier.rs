//! Appending leaves: the compact range of a tree, and the nodes each new leaf completes.

use crate::error::TreeError;
use crate::hash::{Hash, node_hash};
use crate::node::{NodeId, decompose};

/// The right edge of a tree of `size` leaves: the hashes of the complete subtrees that cover
/// `[0, size)`, one per set bit of `size`, largest (leftmost) first.
///
/// It is all an appender needs to keep: appending a leaf merges the subtrees the leaf
/// completes, and the root folds them from right to left. A worker restores it from the
/// store with [`Frontier::ids`] and [`Frontier::restore`] and carries it from batch to batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree's frontier.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// The stored nodes that make up the frontier of a tree of `size` leaves, in the order
    /// [`Frontier::restore`] asks for them.
    pub fn ids(size: u64) -> Vec<NodeId> {
        decompose(0, size).collect()
    }

    /// The frontier of a tree of `size` leaves, its nodes read from the store by `get`.
    pub fn restore(
        size: u64,
        mut get: impl FnMut(NodeId) -> Option<Hash>,
    ) -> Result<Frontier, TreeError> {
        let hashes = decompose(0, size)
            .map(|id| get(id).ok_or(TreeError::MissingNode(id)))
            .collect::<Result<Vec<Hash>, TreeError>>()?;
        Ok(Frontier { size, hashes })
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier's nodes, largest first, as the store holds them.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, Hash)> + '_ {
        decompose(0, self.size).zip(self.hashes.iter().copied())
    }

    /// The tree's root: RFC 9162's MTH of its leaves (the empty tree's is SHA-256 of nothing).
    pub fn root(&self) -> Hash {
        let mut nodes = self.hashes.iter().rev();
        let Some(&last) = nodes.next() else {
            return Hash::EMPTY_ROOT;
        };
        nodes.fold(last, |right, left| node_hash(left, &right))
    }

    /// Appends the leaf whose hash is `leaf` and pushes onto `new_nodes` what the store must
    /// now hold: the leaf at level 0, then every complete subtree the leaf closes, lowest first.
    ///
    /// On average a leaf closes one subtree, so appending costs one node hash per leaf besides
    /// the leaf's own hash. Nothing is pushed when the tree is full.
    pub fn append(
        &mut self,
        leaf: Hash,
        new_nodes: &mut Vec<(NodeId, Hash)>,
    ) -> Result<(), TreeError> {
        let new_size = self.size.checked_add(1).ok_or(TreeError::Full)?;
        new_nodes.push((NodeId::leaf(self.size), leaf));
        // The leaf closes one subtree per trailing zero of the new size: the frontier's last
        // `closed` subtrees, each merged with what the leaf has grown into so far.
        let closed = new_size.trailing_zeros() as usize;
        let keep = self.hashes.len() - closed;
        let mut hash = leaf;
        for (level, left) in (1u8..).zip(self.hashes.drain(keep..).rev()) {
            hash = node_hash(&left, &hash);
            new_nodes.push((NodeId::starting_at(level, new_size - (1u64 << level)), hash));
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn the_empty_tree_has_the_empty_root_and_no_nodes() {
        let frontier = Frontier::new();
        assert_eq!(frontier.root(), Hash::EMPTY_ROOT);
        assert!(Frontier::ids(0).is_empty());
        assert_eq!(frontier.nodes().count(), 0);
    }

    #[test]
    fn the_fourth_leaf_closes_two_subtrees() {
        let mut frontier = Frontier::new();
        let mut nodes = Vec::new();
        for i in 0..3u8 {
            frontier.append(leaf_hash(&[i]), &mut nodes).unwrap();
        }
        nodes.clear();
        frontier.append(leaf_hash(&[3]), &mut nodes).unwrap();
        let ids: Vec<NodeId> = nodes.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids,
            vec![
                NodeId::new(0, 3).unwrap(),
                NodeId::new(1, 1).unwrap(),
                NodeId::new(2, 0).unwrap()
            ]
        );
        assert_eq!(frontier.nodes().count(), 1);
        assert_eq!(frontier.root(), nodes[2].1);
    }

    #[test]
    fn a_full_tree_refuses_another_leaf() {
        let mut frontier = Frontier::restore(u64::MAX, |_| Some(Hash::EMPTY_ROOT)).unwrap();
        let mut nodes = Vec::new();
        assert_eq!(
            frontier.append(Hash::EMPTY_ROOT, &mut nodes),
            Err(TreeError::Full)
        );
        assert!(nodes.is_empty());
        assert_eq!(frontier.size(), u64::MAX);
    }

    #[test]
    fn restoring_reports_the_missing_node() {
        let missing = NodeId::new(1, 2).unwrap();
        let result = Frontier::restore(6, |id| (id != missing).then_some(Hash::EMPTY_ROOT));
        assert_eq!(result, Err(TreeError::MissingNode(missing)));
    }
}

//! The address of a stored node: a complete subtree, named by its level and index.

use std::fmt;
use std::ops::Range;

/// The complete subtree of `2^level` leaves covering `[index·2^level, (index+1)·2^level)`.
///
/// Level 0 holds the leaf hashes. Only complete subtrees are stored: once written they never
/// change, so the store is append-only. A node's leaves always fit below `u64::MAX`, the
/// largest tree size there is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NodeId {
    level: u8,
    index: u64,
}

impl NodeId {
    /// The node at `level` and `index`, if its leaves fit in a tree (below `u64::MAX`).
    pub const fn new(level: u8, index: u64) -> Option<NodeId> {
        if level < 64 && index < (u64::MAX >> level) {
            Some(NodeId { level, index })
        } else {
            None
        }
    }

    /// The leaf at `index`, at level 0.
    pub(crate) const fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }

    /// The node at `level` whose leaves start at `begin`, a multiple of `2^level`.
    pub(crate) const fn starting_at(level: u8, begin: u64) -> NodeId {
        NodeId {
            level,
            index: begin >> level,
        }
    }

    /// The node's level: it covers `2^level` leaves.
    pub const fn level(&self) -> u8 {
        self.level
    }

    /// The node's index among the nodes of its level, counted from the left.
    pub const fn index(&self) -> u64 {
        self.index
    }

    /// The leaves the node covers.
    pub const fn leaves(&self) -> Range<u64> {
        // `new` keeps (index + 1) << level at most u64::MAX.
        (self.index << self.level)..((self.index + 1) << self.level)
    }
}

impl fmt::Display for NodeId {
    /// `level/index`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.level, self.index)
    }
}

/// The complete subtrees, left to right, that make up the subtree `[begin, end)` of RFC 9162's
/// recursion: one per set bit of `end - begin`, largest first. `begin` is a multiple of the
/// largest, as it is for every subtree the recursion visits (and for `[0, size)`).
pub(crate) fn decompose(begin: u64, end: u64) -> impl Iterator<Item = NodeId> {
    let mut begin = begin;
    let mut remaining = end - begin;
    std::iter::from_fn(move || {
        if remaining == 0 {
            return None;
        }
        let level = 63 - remaining.leading_zeros() as u8;
        let node = NodeId::starting_at(level, begin);
        debug_assert_eq!(begin % (1u64 << level), 0, "unaligned subtree");
        begin += 1u64 << level;
        remaining -= 1u64 << level;
        Some(node)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_node_covers_its_aligned_leaves() {
        assert_eq!(NodeId::new(0, 5).unwrap().leaves(), 5..6);
        assert_eq!(NodeId::new(3, 2).unwrap().leaves(), 16..24);
        assert_eq!(NodeId::new(63, 0).unwrap().leaves(), 0..(1 << 63));
    }

    #[test]
    fn nodes_beyond_the_largest_tree_do_not_exist() {
        assert_eq!(NodeId::new(64, 0), None);
        assert_eq!(NodeId::new(63, 1), None);
        assert_eq!(NodeId::new(0, u64::MAX), None);
        assert!(NodeId::new(0, u64::MAX - 1).is_some());
    }

    #[test]
    fn a_range_decomposes_into_one_node_per_set_bit() {
        let nodes: Vec<NodeId> = decompose(0, 13).collect();
        assert_eq!(
            nodes,
            vec![
                NodeId::new(3, 0).unwrap(),
                NodeId::new(2, 2).unwrap(),
                NodeId::new(0, 12).unwrap()
            ]
        );
        let right_edge: Vec<NodeId> = decompose(8, 14).collect();
        assert_eq!(
            right_edge,
            vec![NodeId::new(2, 2).unwrap(), NodeId::new(1, 6).unwrap()]
        );
        assert_eq!(decompose(4, 4).count(), 0);
        assert_eq!(decompose(0, u64::MAX).count(), 64);
    }
}

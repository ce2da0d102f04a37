//! Building proofs from stored nodes in two steps: plan the nodes to read, then assemble.

use std::ops::Range;

use crate::error::TreeError;
use crate::hash::{Hash, node_hash};
use crate::node::{NodeId, decompose};

/// The stored nodes a proof (or a root) needs, and how to hash them into it.
///
/// The caller reads every node of [`Plan::nodes`] in one query, then calls
/// [`Plan::assemble`]. A subtree on the right edge of the tree is not complete, so it is not
/// stored: its hash is folded from the complete subtrees that make it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Each node once.
    nodes: Vec<NodeId>,
    /// Per hash of the result, indices into `nodes` (left to right) in `parts`.
    hashes: Vec<Range<usize>>,
    parts: Vec<usize>,
}

impl Plan {
    fn new() -> Plan {
        Plan {
            nodes: Vec::new(),
            hashes: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// Adds one hash to the result: RFC 9162's MTH of the leaves `[begin, end)`.
    fn push_subtree(&mut self, begin: u64, end: u64) {
        let start = self.parts.len();
        for id in decompose(begin, end) {
            let position = match self.nodes.iter().position(|known| *known == id) {
                Some(position) => position,
                None => {
                    self.nodes.push(id);
                    self.nodes.len() - 1
                }
            };
            self.parts.push(position);
        }
        self.hashes.push(start..self.parts.len());
    }

    /// Every stored node the result needs, each once.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// How many hashes [`Plan::assemble`] returns.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether [`Plan::assemble`] returns no hash at all (a proof that needs none).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The result's hashes, in order, from the stored nodes that `get` reads back. `get` is
    /// asked once for each node of [`Plan::nodes`]; a node it does not have is an error.
    pub fn assemble(
        &self,
        mut get: impl FnMut(NodeId) -> Option<Hash>,
    ) -> Result<Vec<Hash>, TreeError> {
        let stored = self
            .nodes
            .iter()
            .map(|&id| get(id).ok_or(TreeError::MissingNode(id)))
            .collect::<Result<Vec<Hash>, TreeError>>()?;
        let fold = |parts: &[usize]| {
            let mut parts = parts.iter().rev().map(|&part| &stored[part]);
            match parts.next() {
                Some(&last) => parts.fold(last, |right, left| node_hash(left, &right)),
                None => Hash::EMPTY_ROOT,
            }
        };
        Ok(self
            .hashes
            .iter()
            .map(|range| fold(&self.parts[range.clone()]))
            .collect())
    }
}

/// The largest power of two below `n` (for `n` ≥ 2): where RFC 9162 splits a subtree of `n`
/// leaves.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The plan of the inclusion proof of leaf `index` in the tree of `size` leaves: RFC 9162
/// §2.1.3.1's PATH, deepest sibling first.
pub fn inclusion_plan(index: u64, size: u64) -> Result<Plan, TreeError> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    // PATH(m, D[lo:hi]) recurses into the side holding m and appends the other side's MTH,
    // so walking down from the root lists the siblings shallowest first.
    let mut siblings = Vec::new();
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let mid = lo + split(hi - lo);
        if index < mid {
            siblings.push((mid, hi));
            hi = mid;
        } else {
            siblings.push((lo, mid));
            lo = mid;
        }
    }
    let mut plan = Plan::new();
    for &(begin, end) in siblings.iter().rev() {
        plan.push_subtree(begin, end);
    }
    Ok(plan)
}

/// The plan of the consistency proof from the tree of `old_size` leaves to the tree of
/// `new_size`: RFC 9162 §2.1.4.1's PROOF (SUBPROOF), empty when `old_size` is 0 or equals
/// `new_size`.
pub fn consistency_plan(old_size: u64, new_size: u64) -> Result<Plan, TreeError> {
    if old_size > new_size {
        return Err(TreeError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    let mut subtrees = Vec::new();
    if old_size > 0 && old_size < new_size {
        // SUBPROOF(m, D[lo:hi], b) with m = old_size - lo: walking down from the root lists
        // the subtrees in the reverse of the proof's order.
        let (mut lo, mut hi) = (0, new_size);
        let mut whole_old_tree = true;
        loop {
            if old_size == hi {
                if !whole_old_tree {
                    subtrees.push((lo, hi));
                }
                break;
            }
            let mid = lo + split(hi - lo);
            if old_size <= mid {
                subtrees.push((mid, hi));
                hi = mid;
            } else {
                subtrees.push((lo, mid));
                lo = mid;
                whole_old_tree = false;
            }
        }
    }
    let mut plan = Plan::new();
    for &(begin, end) in subtrees.iter().rev() {
        plan.push_subtree(begin, end);
    }
    Ok(plan)
}

/// The plan of the root of the tree of `size` leaves: it assembles into one hash, the root
/// (the empty tree's needs no node). [`Frontier::restore`](crate::Frontier::restore) reads the
/// same nodes and can append after them.
pub fn root_plan(size: u64) -> Plan {
    let mut plan = Plan::new();
    plan.push_subtree(0, size);
    plan
}

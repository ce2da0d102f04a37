//! Properties over random trees of up to a few thousand leaves, and plans for huge trees.

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::sample::Index;
use transparency_log::{
    Frontier, NodeId, consistency_plan, inclusion_plan, root_plan, verify_consistency,
    verify_inclusion,
};

use crate::fixture::{Tree, flip, mth, path, proof};

const MAX_LEAVES: u64 = 3000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    }
}

/// A tree size and `count` picks within it.
fn tree_and_picks(count: usize) -> impl Strategy<Value = (u64, u64, Vec<(Index, Index)>)> {
    (
        1..=MAX_LEAVES,
        any::<u64>(),
        prop::collection::vec((any::<Index>(), any::<Index>()), count),
    )
}

/// An index below `bound` (> 0).
fn below(pick: &Index, bound: u64) -> u64 {
    pick.index(bound as usize) as u64
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_frontier_root_is_the_rfc_root((size, salt, picks) in tree_and_picks(8)) {
        let tree = Tree::numbered(size, salt);
        prop_assert_eq!(tree.frontier.root(), mth(&tree.leaves));
        for (pick, _) in &picks {
            let prefix = below(pick, size + 1);
            prop_assert_eq!(tree.roots[prefix as usize], mth(&tree.leaves[..prefix as usize]));
            prop_assert_eq!(tree.assemble(&root_plan(prefix)).unwrap(), vec![tree.roots[prefix as usize]]);
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_a_flipped_bit_does_not(
        (size, salt, picks) in tree_and_picks(24),
        flips in prop::collection::vec((any::<Index>(), 0usize..256), 24),
    ) {
        let tree = Tree::numbered(size, salt);
        for ((size_pick, index_pick), (element, bit)) in picks.iter().zip(&flips) {
            let at = below(size_pick, size) + 1;
            let index = below(index_pick, at);
            let leaf = tree.leaves[index as usize];
            let root = tree.roots[at as usize];
            let proof = tree.inclusion_proof(index, at);
            prop_assert_eq!(&proof, &path(index as usize, &tree.leaves[..at as usize]));
            prop_assert_eq!(verify_inclusion(&leaf, index, at, &proof, &root), Ok(()));
            if !proof.is_empty() {
                let bad = flip(&proof, element.index(proof.len()), *bit);
                prop_assert!(verify_inclusion(&leaf, index, at, &bad, &root).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_a_flipped_bit_does_not(
        (size, salt, picks) in tree_and_picks(24),
        flips in prop::collection::vec((any::<Index>(), 0usize..256), 24),
    ) {
        let tree = Tree::numbered(size, salt);
        for ((new_pick, old_pick), (element, bit)) in picks.iter().zip(&flips) {
            let new = below(new_pick, size + 1);
            let old = below(old_pick, new + 1);
            let (old_root, new_root) = (tree.roots[old as usize], tree.roots[new as usize]);
            let consistency = tree.consistency_proof(old, new);
            prop_assert_eq!(&consistency, &proof(old as usize, &tree.leaves[..new as usize]));
            prop_assert_eq!(verify_consistency(old, new, &old_root, &new_root, &consistency), Ok(()));
            if !consistency.is_empty() {
                let bad = flip(&consistency, element.index(consistency.len()), *bit);
                prop_assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
            }
        }
    }

    #[test]
    fn a_restored_frontier_appends_as_if_never_restored(
        size in 1..=MAX_LEAVES,
        salt in any::<u64>(),
        cut in any::<Index>(),
    ) {
        let tree = Tree::numbered(size, salt);
        let cut = below(&cut, size + 1);
        let ids = Frontier::ids(cut);
        prop_assert!(ids.iter().all(|id| tree.store.contains_key(id)));
        let mut frontier = Frontier::restore(cut, tree.get()).unwrap();
        prop_assert_eq!(frontier.size(), cut);
        prop_assert_eq!(frontier.nodes().map(|(id, _)| id).collect::<Vec<_>>(), ids);
        prop_assert_eq!(frontier.root(), tree.roots[cut as usize]);
        let mut nodes = Vec::new();
        for i in cut..size {
            nodes.clear();
            frontier.append(tree.leaves[i as usize], &mut nodes).unwrap();
            prop_assert_eq!(frontier.root(), tree.roots[i as usize + 1]);
            for (id, hash) in &nodes {
                prop_assert_eq!(tree.store.get(id), Some(hash));
            }
        }
        prop_assert_eq!(frontier, tree.frontier.clone());
    }

    #[test]
    fn plans_for_huge_trees_stay_small_and_name_each_node_once(
        size in 1..=(1u64 << 40),
        index in any::<Index>(),
        old in any::<Index>(),
    ) {
        let index = below(&index, size);
        let old = below(&old, size + 1);
        for plan in [
            inclusion_plan(index, size).unwrap(),
            consistency_plan(old, size).unwrap(),
            root_plan(size),
        ] {
            let nodes = plan.nodes();
            // At most one node per level on the path, and one right-edge subtree made of at
            // most one node per level: far below the 2·64·64 an O(log² n) bound allows.
            prop_assert!(nodes.len() <= 2 * 41, "{} nodes", nodes.len());
            let distinct: HashSet<&NodeId> = nodes.iter().collect();
            prop_assert_eq!(distinct.len(), nodes.len());
            prop_assert!(nodes.iter().all(|id| id.leaves().end <= size));
        }
    }
}

#[test]
fn plans_at_the_largest_tree_size_do_not_overflow() {
    let size = u64::MAX;
    for plan in [
        inclusion_plan(size - 1, size).unwrap(),
        inclusion_plan(0, size).unwrap(),
        consistency_plan(size - 1, size).unwrap(),
        consistency_plan(1, size).unwrap(),
        root_plan(size),
    ] {
        assert!(plan.nodes().len() <= 2 * 64);
        assert!(plan.nodes().iter().all(|id| id.leaves().end <= size));
    }
}

#[test]
fn every_proof_of_every_tree_up_to_64_leaves_verifies() {
    let tree = Tree::numbered(64, 7);
    for size in 1..=64u64 {
        let root = tree.roots[size as usize];
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size);
            verify_inclusion(&tree.leaves[index as usize], index, size, &proof, &root).unwrap();
        }
        for old in 0..=size {
            let consistency = tree.consistency_proof(old, size);
            let old_root = tree.roots[old as usize];
            verify_consistency(old, size, &old_root, &root, &consistency).unwrap();
        }
    }
}

//! The RFC 6962 test vectors published with transparency-dev/merkle (`testonly/constants.go`,
//! `proof/verify_test.go`): eight leaves, the root of every prefix, every complete subtree, and
//! inclusion and consistency proofs.

use transparency_log::{
    Hash, NodeId, TreeError, VerifyError, consistency_plan, inclusion_plan, leaf_hash, root_plan,
    verify_consistency, verify_inclusion,
};

use crate::fixture::{Tree, flip, mth, path, proof};

const LEAVES: [&[u8]; 8] = [
    b"",
    &[0x00],
    &[0x10],
    &[0x20, 0x21],
    &[0x30, 0x31],
    &[0x40, 0x41, 0x42, 0x43],
    &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
    &[
        0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e,
        0x6f,
    ],
];

/// The root of the first `size` leaves, for sizes 0 to 8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Every complete subtree of the eight leaves, by level then index.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// Published inclusion proofs: (leaf index, tree size, proof).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// Published consistency proofs: (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn hash(hex: &str) -> Hash {
    Hash::from_hex(hex).unwrap()
}

fn hashes(hexes: &[&str]) -> Vec<Hash> {
    hexes.iter().map(|hex| hash(hex)).collect()
}

fn root(size: u64) -> Hash {
    hash(ROOTS[size as usize])
}

/// A hash unrelated to the tree.
fn stranger() -> Hash {
    leaf_hash(b"not in the tree")
}

#[test]
fn every_prefix_has_the_published_root() {
    let tree = Tree::of(LEAVES);
    for size in 0..=8u64 {
        assert_eq!(tree.roots[size as usize], root(size), "size {size}");
        assert_eq!(
            mth(&tree.leaves[..size as usize]),
            root(size),
            "size {size}"
        );
        let from_store = tree.assemble(&root_plan(size)).unwrap();
        assert_eq!(from_store, vec![root(size)], "size {size}");
    }
}

#[test]
fn appending_stores_exactly_the_published_complete_subtrees() {
    let tree = Tree::of(LEAVES);
    let mut expected = 0;
    for (level, nodes) in NODES.iter().enumerate() {
        for (index, hex) in nodes.iter().enumerate() {
            let id = NodeId::new(level as u8, index as u64).unwrap();
            assert_eq!(tree.store.get(&id), Some(&hash(hex)), "node {id}");
            expected += 1;
        }
    }
    assert_eq!(tree.store.len(), expected);
}

#[test]
fn inclusion_proofs_are_the_published_ones_and_verify() {
    let tree = Tree::of(LEAVES);
    for (index, size, published) in INCLUSION {
        let published = hashes(published);
        assert_eq!(
            tree.inclusion_proof(index, size),
            published,
            "{index} in {size}"
        );
        let leaf = tree.leaves[index as usize];
        verify_inclusion(&leaf, index, size, &published, &root(size)).unwrap();
    }
}

#[test]
fn consistency_proofs_are_the_published_ones_and_verify() {
    let tree = Tree::of(LEAVES);
    for (old, new, published) in CONSISTENCY {
        let published = hashes(published);
        assert_eq!(
            tree.consistency_proof(old, new),
            published,
            "{old} to {new}"
        );
        verify_consistency(old, new, &root(old), &root(new), &published).unwrap();
    }
}

#[test]
fn every_proof_of_the_eight_leaves_matches_the_rfc_definitions() {
    let tree = Tree::of(LEAVES);
    for size in 1..=8u64 {
        let leaves = &tree.leaves[..size as usize];
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size);
            assert_eq!(proof, path(index as usize, leaves), "{index} in {size}");
            verify_inclusion(&leaves[index as usize], index, size, &proof, &root(size)).unwrap();
        }
        for old in 0..=size {
            let consistency = tree.consistency_proof(old, size);
            assert_eq!(consistency, proof(old as usize, leaves), "{old} to {size}");
            verify_consistency(old, size, &root(old), &root(size), &consistency).unwrap();
        }
    }
}

#[test]
fn a_corrupted_inclusion_proof_is_refused() {
    let tree = Tree::of(LEAVES);
    for (index, size, published) in INCLUSION.into_iter().skip(1) {
        let proof = hashes(published);
        let leaf = tree.leaves[index as usize];
        let good_root = root(size);
        let refused = |leaf: Hash, index: u64, size: u64, proof: &[Hash], root: Hash| {
            let result = verify_inclusion(&leaf, index, size, proof, &root);
            assert!(result.is_err(), "{index} in {size} with {proof:?} verified");
        };
        if index > 0 {
            refused(leaf, index - 1, size, &proof, good_root);
        }
        refused(leaf, index + 1, size, &proof, good_root);
        refused(leaf, index ^ 2, size, &proof, good_root);
        refused(leaf, index, size * 2, &proof, good_root);
        refused(leaf, index, size / 2, &proof, good_root);
        refused(stranger(), index, size, &proof, good_root);
        refused(leaf, index, size, &proof, Hash::EMPTY_ROOT);
        refused(leaf, index, size, &proof, stranger());
        refused(
            leaf,
            index,
            size,
            &[proof.clone(), vec![good_root]].concat(),
            good_root,
        );
        refused(
            leaf,
            index,
            size,
            &[vec![good_root], proof.clone()].concat(),
            good_root,
        );
        refused(leaf, index, size, &proof[..proof.len() - 1], good_root);
        for element in 0..proof.len() {
            for bit in [0, 3, 100, 255] {
                refused(leaf, index, size, &flip(&proof, element, bit), good_root);
            }
        }
    }
}

#[test]
fn only_the_empty_root_stands_for_the_empty_tree() {
    for new in [1, 2, 5, 8] {
        verify_consistency(0, new, &Hash::EMPTY_ROOT, &root(new), &[]).unwrap();
        // A checkpoint of no leaves with another root is not a tree this one extends.
        for forged in [stranger(), root(new), root(1)] {
            let result = verify_consistency(0, new, &forged, &root(new), &[]);
            assert!(result.is_err(), "0 to {new} from {forged:?} verified");
        }
    }
    verify_consistency(0, 0, &Hash::EMPTY_ROOT, &Hash::EMPTY_ROOT, &[]).unwrap();
    let forged = stranger();
    assert!(verify_consistency(0, 0, &forged, &forged, &[]).is_err());
}

#[test]
fn a_corrupted_consistency_proof_is_refused() {
    for (old, new, published) in CONSISTENCY.into_iter().skip(1) {
        let proof = hashes(published);
        let (old_root, new_root) = (root(old), root(new));
        let refused = |old: u64, new: u64, old_root: Hash, new_root: Hash, proof: &[Hash]| {
            let result = verify_consistency(old, new, &old_root, &new_root, proof);
            assert!(result.is_err(), "{old} to {new} with {proof:?} verified");
        };
        refused(old - 1, new, old_root, new_root, &proof);
        refused(old + 1, new, old_root, new_root, &proof);
        refused(old ^ 2, new, old_root, new_root, &proof);
        refused(old, new * 2, old_root, new_root, &proof);
        refused(old, new / 2, old_root, new_root, &proof);
        refused(old, new, stranger(), new_root, &proof);
        refused(old, new, old_root, stranger(), &proof);
        refused(old, new, new_root, old_root, &proof);
        refused(old, new, old_root, new_root, &[]);
        refused(
            old,
            new,
            old_root,
            new_root,
            &[proof.clone(), vec![old_root]].concat(),
        );
        refused(
            old,
            new,
            old_root,
            new_root,
            &[proof.clone(), vec![new_root]].concat(),
        );
        refused(
            old,
            new,
            old_root,
            new_root,
            &[vec![old_root], proof.clone()].concat(),
        );
        refused(
            old,
            new,
            old_root,
            new_root,
            &[vec![proof[0]], proof.clone()].concat(),
        );
        refused(old, new, old_root, new_root, &proof[..proof.len() - 1]);
        for element in 0..proof.len() {
            for bit in [0, 4, 100, 255] {
                refused(old, new, old_root, new_root, &flip(&proof, element, bit));
            }
        }
    }
}

#[test]
fn trivial_consistency_holds_only_with_an_empty_proof_and_matching_roots() {
    let (a, b) = (root(3), root(4));
    verify_consistency(0, 0, &Hash::EMPTY_ROOT, &Hash::EMPTY_ROOT, &[]).unwrap();
    verify_consistency(0, 5, &Hash::EMPTY_ROOT, &b, &[]).unwrap();
    verify_consistency(4, 4, &b, &b, &[]).unwrap();
    assert_eq!(
        verify_consistency(4, 4, &a, &b, &[]),
        Err(VerifyError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(4, 4, &b, &b, &[a]),
        Err(VerifyError::WrongProofLength(1))
    );
    assert_eq!(
        verify_consistency(0, 4, &Hash::EMPTY_ROOT, &b, &[a]),
        Err(VerifyError::WrongProofLength(1))
    );
    assert_eq!(
        verify_consistency(5, 4, &a, &b, &[]),
        Err(VerifyError::SizesOutOfOrder { old: 5, new: 4 })
    );
    assert_eq!(
        verify_consistency(3, 4, &a, &b, &[]),
        Err(VerifyError::WrongProofLength(0))
    );
}

#[test]
fn inclusion_in_a_tree_that_does_not_hold_the_leaf_is_refused() {
    for (index, size) in [(0, 0), (1, 0), (1, 1), (2, 1), (8, 8)] {
        assert_eq!(
            verify_inclusion(&stranger(), index, size, &[], &Hash::EMPTY_ROOT),
            Err(VerifyError::IndexOutOfRange { index, size })
        );
        assert_eq!(
            inclusion_plan(index, size),
            Err(TreeError::IndexOutOfRange { index, size })
        );
    }
    let single = leaf_hash(b"data");
    verify_inclusion(&single, 0, 1, &[], &single).unwrap();
    assert_eq!(
        verify_inclusion(&single, 0, 1, &[], &stranger()),
        Err(VerifyError::RootMismatch)
    );
}

#[test]
fn a_consistency_plan_backwards_is_refused() {
    assert_eq!(
        consistency_plan(9, 8),
        Err(TreeError::SizesOutOfOrder { old: 9, new: 8 })
    );
}

#[test]
fn a_missing_stored_node_is_an_error() {
    let mut tree = Tree::of(LEAVES);
    let missing = NodeId::new(1, 1).unwrap();
    tree.store.remove(&missing);
    let plan = inclusion_plan(0, 8).unwrap();
    assert_eq!(tree.assemble(&plan), Err(TreeError::MissingNode(missing)));
}

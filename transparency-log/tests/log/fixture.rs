//! A tree kept in memory as a worker keeps it in a database, and RFC 9162's definitions,
//! written recursively from the RFC text to check the crate against.

use std::collections::HashMap;

use transparency_log::{
    Frontier, Hash, NodeId, Plan, TreeError, consistency_plan, inclusion_plan, leaf_hash, node_hash,
};

/// A tree whose stored nodes sit in a map, with its leaf hashes and the root at every size.
pub struct Tree {
    pub leaves: Vec<Hash>,
    pub store: HashMap<NodeId, Hash>,
    /// `roots[size]` is the root of the first `size` leaves, as the frontier computed it.
    pub roots: Vec<Hash>,
    pub frontier: Frontier,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            leaves: Vec::new(),
            store: HashMap::new(),
            roots: vec![Hash::EMPTY_ROOT],
            frontier: Frontier::new(),
        }
    }

    /// The tree of these leaves' bytes.
    pub fn of<T: AsRef<[u8]>>(data: impl IntoIterator<Item = T>) -> Tree {
        let mut tree = Tree::new();
        for leaf in data {
            tree.append(leaf.as_ref());
        }
        tree
    }

    /// The tree of `size` leaves, leaf `i` being the bytes of `i` after `salt`.
    pub fn numbered(size: u64, salt: u64) -> Tree {
        Tree::of((0..size).map(|i| [salt.to_be_bytes(), i.to_be_bytes()].concat()))
    }

    pub fn append(&mut self, data: &[u8]) {
        let leaf = leaf_hash(data);
        let mut nodes = Vec::new();
        self.frontier.append(leaf, &mut nodes).unwrap();
        for (id, hash) in nodes {
            let previous = self.store.insert(id, hash);
            assert_eq!(previous, None, "node {id} written twice");
        }
        self.leaves.push(leaf);
        self.roots.push(self.frontier.root());
    }

    pub fn get(&self) -> impl FnMut(NodeId) -> Option<Hash> + '_ {
        |id| self.store.get(&id).copied()
    }

    pub fn assemble(&self, plan: &Plan) -> Result<Vec<Hash>, TreeError> {
        plan.assemble(self.get())
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Hash> {
        self.assemble(&inclusion_plan(index, size).unwrap())
            .unwrap()
    }

    pub fn consistency_proof(&self, old: u64, new: u64) -> Vec<Hash> {
        self.assemble(&consistency_plan(old, new).unwrap()).unwrap()
    }
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.1: MTH(D[n]), from leaf hashes.
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.1: PATH(m, D[n]).
pub fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut proof = path(m, &leaves[..k]);
        proof.push(mth(&leaves[k..]));
        proof
    } else {
        let mut proof = path(m - k, &leaves[k..]);
        proof.push(mth(&leaves[..k]));
        proof
    }
}

/// RFC 9162 §2.1.4.1: PROOF(m, D[n]) for 0 < m < n, empty otherwise.
pub fn proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole { Vec::new() } else { vec![mth(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut proof = subproof(m, &leaves[..k], whole);
        proof.push(mth(&leaves[k..]));
        proof
    } else {
        let mut proof = subproof(m - k, &leaves[k..], false);
        proof.push(mth(&leaves[..k]));
        proof
    }
}

/// `proof` with bit `bit` of element `element` flipped.
pub fn flip(proof: &[Hash], element: usize, bit: usize) -> Vec<Hash> {
    let mut flipped = proof.to_vec();
    let mut bytes = *flipped[element].as_bytes();
    bytes[bit / 8] ^= 1 << (bit % 8);
    flipped[element] = Hash::from_bytes(bytes);
    flipped
}

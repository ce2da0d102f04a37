//! supplyline's transparency log, the pure part: an RFC 9162 (RFC 6962) Merkle tree over the
//! event log, kept as stored complete subtrees, its proofs, and its checkpoints signed as C2SP
//! signed notes. No I/O happens here; a worker and a CLI drive it against a database.
//!
//! Every event, in log order, is a leaf: [`leaf_hash`] of its bytes. The store holds only
//! complete subtrees ([`NodeId`]: a level and an index), which never change once written, so
//! it is append-only and any proof costs O(log n) reads:
//!
//! * Appending: the worker restores a [`Frontier`] (the tree's right edge; [`Frontier::ids`]
//!   says which nodes to read) and calls [`Frontier::append`] per leaf, which pushes the leaf
//!   and every subtree it completes onto a buffer for the worker to insert.
//!   [`Frontier::root`] is the root to sign.
//! * Proving: [`inclusion_plan`], [`consistency_plan`] and [`root_plan`] list the stored
//!   nodes a proof needs ([`Plan::nodes`]), for one batched read; [`Plan::assemble`] then hashes
//!   them into the proof, exactly as RFC 9162 §2.1.3 (PATH) and §2.1.4 (SUBPROOF) define it.
//! * Verifying: [`verify_inclusion`] and [`verify_consistency`] are RFC 9162 §2.1.3.2 and
//!   §2.1.4.2.
//! * Signing: a [`Checkpoint`] (<https://c2sp.org/tlog-checkpoint>) is signed by a
//!   [`SigningKey`] into a signed note (<https://c2sp.org/signed-note>) that a [`VerifierKey`]
//!   opens. Keys use the text forms of golang.org/x/mod/sumdb/note, and Ed25519.
//!
//! `verifier/verify_tlog.py` checks, independently of this crate, the proofs the CLI prints:
//!
//! ```text
//! inclusion:   {"checkpoint": "<signed note>", "leaf_index": 5, "tree_size": 8,
//!               "leaf_input": "<base64 of the leaf's bytes>",
//!               "inclusion_proof": ["<base64 hash>", ...]}
//! consistency: {"old_checkpoint": "<signed note>", "new_checkpoint": "<signed note>",
//!               "consistency_proof": ["<base64 hash>", ...]}
//! ```

mod checkpoint;
mod error;
mod frontier;
mod hash;
mod key;
mod node;
mod note;
mod proof;
mod verify;

pub use checkpoint::Checkpoint;
pub use error::{CheckpointError, HashError, KeyError, NoteError, TreeError, VerifyError};
pub use frontier::Frontier;
pub use hash::{Hash, leaf_hash, node_hash};
pub use key::{SigningKey, VerifierKey};
pub use node::NodeId;
pub use note::MAX_NOTE_BYTES;
pub use proof::{Plan, consistency_plan, inclusion_plan, root_plan};
pub use verify::{verify_consistency, verify_inclusion};

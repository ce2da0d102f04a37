//! supplyline's transparency log: every event of the log, in log order, is a leaf of an
//! RFC 9162 Merkle tree (the pure part is the `transparency-log` crate), built by a
//! checkpointed worker under the projectors' lease, with its nodes stored in tiles beside
//! the read models, and signed checkpoints (C2SP `tlog-checkpoint` notes) that auditors keep
//! outside the system.
//!
//! * [`TreeWorker`] appends the log to the tree and signs checkpoints.
//! * [`Auditor`] serves the latest checkpoint, inclusion and consistency proofs, and checks
//!   that the log as it is now still holds a held checkpoint's tree ([`LogAudit`]).

mod appender;
mod audit;
mod error;
mod leaf;
mod tables;
mod tiles;
mod worker;

pub use audit::{Auditor, ConsistencyProof, InclusionProof, LogAudit, check_consistency};
pub use error::TransparencyError;
pub use leaf::{event_leaf, leaf_input};
pub use worker::{TreeSettings, TreeWorker};

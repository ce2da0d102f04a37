//! What can go wrong in the transparency log.

use event_store::StoreError;
use transparency_log::{KeyError, NoteError, TreeError};

/// An error of the transparency log's worker or of an auditor's request.
#[derive(Debug, thiserror::Error)]
pub enum TransparencyError {
    /// The log could not be read.
    #[error("reading the log: {0}")]
    Store(#[from] StoreError),
    /// The tree's tables could not be read or written.
    #[error("the transparency log's tables: {0}")]
    Database(#[from] sqlx::Error),
    /// Another worker moved the tree while this one wrote a batch (it lost its lease).
    #[error("another worker moved the tree")]
    Moved,
    /// The stored tree is not what the worker wrote.
    #[error("the stored tree is damaged: {0}")]
    Corrupt(String),
    /// A proof or a node the tree does not have.
    #[error("{0}")]
    Tree(#[from] TreeError),
    /// A signing or verifier key that cannot be used.
    #[error("the key: {0}")]
    Key(#[from] KeyError),
    /// A checkpoint that is not a valid signed note of the key.
    #[error("the checkpoint: {0}")]
    Note(#[from] NoteError),
    /// An event the tree does not (yet) hold.
    #[error("no event {0} in the tree")]
    UnknownEvent(String),
    /// A request about a tree larger than the one stored, or otherwise out of range.
    #[error("{0}")]
    OutOfRange(String),
}

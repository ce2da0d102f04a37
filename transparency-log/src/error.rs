//! The crate's errors, one enum per kind of refusal.

use thiserror::Error;

use crate::node::NodeId;

/// A hash could not be read from text or bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashError {
    /// The text is not 64 hexadecimal digits.
    #[error("a hash is 64 hexadecimal digits")]
    Hex,
    /// The text is not standard, padded base64.
    #[error("a hash in base64 is standard, padded base64")]
    Base64,
    /// The bytes are not 32 of them.
    #[error("a hash is 32 bytes, not {0}")]
    WrongLength(usize),
}

/// A request does not fit the tree, or the stored nodes it needs are not all there.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TreeError {
    /// An inclusion proof was asked for a leaf the tree does not hold.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf asked for.
        index: u64,
        /// The tree's size.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("a tree of {old} leaves cannot grow into one of {new}")]
    SizesOutOfOrder {
        /// The earlier tree's size.
        old: u64,
        /// The later tree's size.
        new: u64,
    },
    /// The caller's store does not hold a node that must have been stored.
    #[error("the stored node {0} is missing")]
    MissingNode(NodeId),
    /// The tree already holds `u64::MAX` leaves.
    #[error("the tree holds as many leaves as it can count")]
    Full,
}

/// A proof does not prove what it claims.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The leaf's index is not below the tree's size.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf's index.
        index: u64,
        /// The tree's size.
        size: u64,
    },
    /// The old tree is larger than the new one.
    #[error("a tree of {old} leaves cannot grow into one of {new}")]
    SizesOutOfOrder {
        /// The old tree's size.
        old: u64,
        /// The new tree's size.
        new: u64,
    },
    /// The proof has too many or too few hashes for these sizes.
    #[error("a proof of {0} hashes does not fit these tree sizes")]
    WrongProofLength(usize),
    /// The proof leads to another root than the (new) tree's.
    #[error("the proof leads to another root than the tree's")]
    RootMismatch,
    /// The consistency proof leads to another root than the old tree's.
    #[error("the proof leads to another root than the old tree's")]
    OldRootMismatch,
}

/// A checkpoint's text is not origin, tree size and root hash, one per line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// Fewer than the three mandatory lines.
    #[error("a checkpoint has at least three lines: origin, tree size and root hash")]
    TooFewLines,
    /// The text does not end in a newline.
    #[error("a checkpoint's text ends in a newline")]
    NoFinalNewline,
    /// A line (origin or extension) is empty.
    #[error("a checkpoint's lines are not empty")]
    EmptyLine,
    /// A line holds a control character.
    #[error("a checkpoint's lines hold no control characters")]
    ControlCharacter,
    /// The tree size is not a decimal `u64` without leading zeros.
    #[error("the tree size is a decimal number without leading zeros")]
    BadSize,
    /// The root hash is not standard base64 of 32 bytes.
    #[error("the root hash is standard base64 of 32 bytes")]
    BadRoot,
}

/// A signed note is refused: malformed, too large, or not signed by the expected key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`](crate::MAX_NOTE_BYTES).
    #[error("a note of {0} bytes is over the size limit")]
    TooLarge(usize),
    /// The note holds an ASCII control character other than newline.
    #[error("a note holds no control characters but newlines")]
    ControlCharacter,
    /// The note text to sign is empty or does not end in a newline.
    #[error("a note's text is not empty and ends in a newline")]
    BadText,
    /// No blank line followed by signature lines ends the note.
    #[error("a note is text, a blank line, then signature lines")]
    NoSignatures,
    /// A signature line is not `— <name> <base64(key id || signature)>`.
    #[error("a signature line is an em dash, a space, the key name, a space and base64")]
    BadSignatureLine,
    /// No signature line names the expected key.
    #[error("the note is not signed by {0}")]
    NotSignedBy(String),
    /// A signature line names the expected key, but its signature does not verify.
    #[error("the note's signature by {0} does not verify")]
    BadSignature(String),
    /// The signed text is not a checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// A key's text is refused, or a key could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The text is not `<name>+<hex key id>+<base64 key>` (after `PRIVATE+KEY+` for a private
    /// key).
    #[error("a key is <name>+<8 hex digits key id>+<base64>, after PRIVATE+KEY+ if private")]
    Malformed,
    /// The key name is empty or holds a `+`, whitespace or a control character.
    #[error("a key name is not empty and holds no '+', whitespace or control character")]
    BadName,
    /// The key's algorithm byte is not Ed25519's (0x01).
    #[error("key algorithm {0:#04x} is not Ed25519 (0x01)")]
    UnknownAlgorithm(u8),
    /// The key material is not 1 + 32 bytes.
    #[error("an Ed25519 key is 1 + 32 bytes, not {0}")]
    WrongLength(usize),
    /// The public key is not a point on the curve.
    #[error("the public key is not a valid Ed25519 key")]
    BadPublicKey,
    /// The key id in the text is not the one computed from the name and the key.
    #[error("the key id {stated:08x} is not the key's ({computed:08x})")]
    KeyIdMismatch {
        /// The id the text states.
        stated: u32,
        /// The id computed from the name and the public key.
        computed: u32,
    },
    /// The operating system gave no randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    NoRandomness(String),
}

//! The C2SP signed-note format: text, a blank line, then one signature line per signer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::NoteError;
use crate::key::is_valid_name;

/// The largest signed note accepted, in bytes (1 MiB): far more than any checkpoint with its
/// signatures needs, and C2SP asks verifiers for a limit.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// What starts a signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// One signature line: `— <name> base64(key id || signature)`.
pub(crate) struct SignatureLine<'a> {
    pub(crate) name: &'a str,
    pub(crate) key_id: u32,
    pub(crate) signature: Vec<u8>,
}

/// A note split into its text and signature lines, none of them verified yet.
pub(crate) struct SplitNote<'a> {
    /// The signed text, including its final newline.
    pub(crate) text: &'a str,
    pub(crate) signatures: Vec<SignatureLine<'a>>,
}

/// Splits a signed note at its last blank line and reads its signature lines.
pub(crate) fn split(note: &str) -> Result<SplitNote<'_>, NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge(note.len()));
    }
    check_control_characters(note)?;
    let blank = note.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
    let (text, signature_block) = (&note[..=blank], &note[blank + 2..]);
    let lines = signature_block
        .strip_suffix('\n')
        .ok_or(NoteError::NoSignatures)?;
    let signatures = lines
        .split('\n')
        .map(signature_line)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SplitNote { text, signatures })
}

fn signature_line(line: &str) -> Result<SignatureLine<'_>, NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::BadSignatureLine)?;
    let (name, encoded) = rest.split_once(' ').ok_or(NoteError::BadSignatureLine)?;
    if !is_valid_name(name) {
        return Err(NoteError::BadSignatureLine);
    }
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| NoteError::BadSignatureLine)?;
    let (Some(id), Some(signature)) = (decoded.get(..4), decoded.get(4..)) else {
        return Err(NoteError::BadSignatureLine);
    };
    if signature.is_empty() {
        return Err(NoteError::BadSignatureLine);
    }
    let mut key_id = [0u8; 4];
    key_id.copy_from_slice(id);
    Ok(SignatureLine {
        name,
        key_id: u32::from_be_bytes(key_id),
        signature: signature.to_vec(),
    })
}

/// Checks that `text` can be signed: not empty, ending in a newline, no control characters.
pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::BadText);
    }
    check_control_characters(text)
}

fn check_control_characters(text: &str) -> Result<(), NoteError> {
    // UTF-8 encodes every non-ASCII character with bytes >= 0x80, so a byte check is exact.
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

/// The signed note: `text`, a blank line and the signature line of `name`'s key `key_id`.
pub(crate) fn assemble(text: &str, name: &str, key_id: u32, signature: &[u8]) -> String {
    let mut payload = Vec::with_capacity(4 + signature.len());
    payload.extend_from_slice(&key_id.to_be_bytes());
    payload.extend_from_slice(signature);
    format!(
        "{text}\n{SIGNATURE_PREFIX}{name} {}\n",
        STANDARD.encode(payload)
    )
}

//! Ed25519 note keys in the golang.org/x/mod/sumdb/note text forms: signing and verifying.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use rand::TryRngCore as _;
use sha2::{Digest, Sha256};

use crate::checkpoint::Checkpoint;
use crate::error::{KeyError, NoteError};
use crate::note;

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

/// What starts a private key's text.
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

/// Whether `name` may name a key: not empty, and no `+`, whitespace or control character.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control())
}

/// The key id: the first four bytes, big-endian, of SHA-256(name || "\n" || 0x01 || public key).
fn key_id(name: &str, public_key: &ed25519_dalek::VerifyingKey) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519])
        .chain_update(public_key.as_bytes())
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Splits `<name>+<8 hex digits>+<base64(0x01 || 32 bytes)>` into the name, the stated key id
/// and the 32 key bytes.
fn split_key_text(text: &str) -> Result<(&str, u32, [u8; 32]), KeyError> {
    // Names hold no '+', but base64 may: the key is all after the second '+'.
    let mut fields = text.splitn(3, '+');
    let (Some(name), Some(id), Some(encoded)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(KeyError::Malformed);
    };
    if !is_valid_name(name) {
        return Err(KeyError::BadName);
    }
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::Malformed);
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| KeyError::Malformed)?;
    let decoded = STANDARD.decode(encoded).map_err(|_| KeyError::Malformed)?;
    let Some((&algorithm, key)) = decoded.split_first() else {
        return Err(KeyError::WrongLength(0));
    };
    if algorithm != ED25519 {
        return Err(KeyError::UnknownAlgorithm(algorithm));
    }
    let key = <[u8; 32]>::try_from(key).map_err(|_| KeyError::WrongLength(decoded.len()))?;
    Ok((name, id, key))
}

fn encode_key(bytes: &[u8; 32]) -> String {
    let mut payload = [0u8; 33];
    payload[0] = ED25519;
    payload[1..].copy_from_slice(bytes);
    STANDARD.encode(payload)
}

/// A log's private key: signs checkpoints as signed notes.
///
/// Its text is `PRIVATE+KEY+<name>+<key id as 8 hex digits>+<base64(0x01 || 32-byte seed)>`,
/// as golang.org/x/mod/sumdb/note writes it; parse it with [`str::parse`]. It is never
/// printed: its `Debug` shows the name and key id only.
pub struct SigningKey {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A new random key named `name`: its private key text and its verifier key text.
    pub fn generate(name: &str) -> Result<(String, String), KeyError> {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|error| KeyError::NoRandomness(error.to_string()))?;
        let key = SigningKey::from_seed(name, seed)?;
        let private = format!(
            "{PRIVATE_PREFIX}{}+{:08x}+{}",
            key.name,
            key.id,
            encode_key(&seed)
        );
        seed.fill(0);
        Ok((private, key.verifier_key().to_string()))
    }

    /// The key named `name` whose Ed25519 seed (RFC 8032 private key) is `seed`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SigningKey, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::BadName);
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        Ok(SigningKey {
            name: name.to_owned(),
            id: key_id(name, &key.verifying_key()),
            key,
        })
    }

    /// The key's name, as its signature lines carry it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, as its signature lines carry it.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The public half, for verifiers.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The signed note of `checkpoint`: its body, a blank line and this key's signature line.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        self.sign_text(&checkpoint.to_body())
    }

    /// The signed note of any note text (non-empty, ending in a newline, without control
    /// characters other than newlines).
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        note::check_text(text)?;
        Ok(self.sign_text(text))
    }

    fn sign_text(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        note::assemble(text, &self.name, self.id, &signature.to_bytes())
    }
}

impl FromStr for SigningKey {
    type Err = KeyError;

    /// Reads `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>` (surrounding whitespace
    /// ignored), refusing a key id that is not the key's.
    fn from_str(text: &str) -> Result<SigningKey, KeyError> {
        let rest = text
            .trim()
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(KeyError::Malformed)?;
        let (name, stated, seed) = split_key_text(rest)?;
        let key = SigningKey::from_seed(name, seed)?;
        if key.id != stated {
            return Err(KeyError::KeyIdMismatch {
                stated,
                computed: key.id,
            });
        }
        Ok(key)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

/// A log's public key: opens the notes its private key signed.
///
/// Its text is `<name>+<key id as 8 hex digits>+<base64(0x01 || 32-byte public key)>`, as
/// golang.org/x/mod/sumdb/note writes it; parse it with [`str::parse`], print it with
/// `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// The key's name, as signature lines carry it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, as signature lines carry it.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// `<name>+<hex key id>`, how errors name the key.
    fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }

    /// The checkpoint in `note`, once a signature line of this key verifies over it.
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        Ok(Checkpoint::parse_body(self.open_note(note)?)?)
    }

    /// The text of `note`, once a signature line of this key verifies over it.
    ///
    /// Lines of other keys (another name or key id) are ignored, as C2SP requires; a line of
    /// this key that does not verify refuses the whole note. A note over
    /// [`MAX_NOTE_BYTES`](crate::MAX_NOTE_BYTES) or malformed is refused.
    pub fn open_note<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let note = note::split(note)?;
        let mut verified = false;
        for line in &note.signatures {
            if line.name != self.name || line.key_id != self.id {
                continue;
            }
            let signature = ed25519_dalek::Signature::from_slice(&line.signature)
                .map_err(|_| NoteError::BadSignature(self.label()))?;
            self.key
                .verify_strict(note.text.as_bytes(), &signature)
                .map_err(|_| NoteError::BadSignature(self.label()))?;
            verified = true;
        }
        if verified {
            Ok(note.text)
        } else {
            Err(NoteError::NotSignedBy(self.label()))
        }
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;

    /// Reads `<name>+<hex key id>+<base64(0x01 || public key)>` (surrounding whitespace
    /// ignored), refusing a key id that is not the key's.
    fn from_str(text: &str) -> Result<VerifierKey, KeyError> {
        let (name, stated, bytes) = split_key_text(text.trim())?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadPublicKey)?;
        let computed = key_id(name, &key);
        if computed != stated {
            return Err(KeyError::KeyIdMismatch { stated, computed });
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            id: computed,
            key,
        })
    }
}

impl fmt::Display for VerifierKey {
    /// The key's text: `<name>+<hex key id>+<base64(0x01 || public key)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.id,
            encode_key(self.key.as_bytes())
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

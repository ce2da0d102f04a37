//! SHA-256 hashes and the RFC 6962 / RFC 9162 leaf and node hashing rules.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::error::HashError;

/// A SHA-256 hash: a leaf hash, the hash of a subtree, or a tree's root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The root of the empty tree: SHA-256 of nothing (RFC 9162 §2.1.1).
    pub const EMPTY_ROOT: Hash = Hash([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// The hash made of these 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }

    /// The hash's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(text: &str) -> Result<Hash, HashError> {
        let digits = text.as_bytes();
        if digits.len() != 64 {
            return Err(HashError::Hex);
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or(HashError::Hex)?;
            let low = hex_value(pair[1]).ok_or(HashError::Hex)?;
            *byte = (high << 4) | low;
        }
        Ok(Hash(bytes))
    }

    /// The hash in standard, padded base64 (RFC 4648 §4), as checkpoints and proofs carry it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses standard, padded base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Hash, HashError> {
        let bytes = STANDARD.decode(text).map_err(|_| HashError::Base64)?;
        Hash::try_from(bytes.as_slice())
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }
}

impl TryFrom<&[u8]> for Hash {
    type Error = HashError;

    /// A stored hash read back as bytes: exactly 32 of them.
    fn try_from(bytes: &[u8]) -> Result<Hash, HashError> {
        <[u8; 32]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| HashError::WrongLength(bytes.len()))
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// The hash of a leaf whose bytes are `data`: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node over its two children: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_empty_root_is_the_sha256_of_nothing() {
        assert_eq!(Hash::EMPTY_ROOT, Hash(Sha256::digest(b"").into()));
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        // RFC 6962 vectors (transparency-dev/merkle testonly): leaf "" and the root of {"", 0x00}.
        let empty_leaf = leaf_hash(b"");
        assert_eq!(
            empty_leaf.to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let second = leaf_hash(&[0x00]);
        assert_eq!(
            node_hash(&empty_leaf, &second).to_hex(),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
    }

    #[test]
    fn hex_and_base64_round_trip() {
        let hash = leaf_hash(b"round trip");
        assert_eq!(Hash::from_hex(&hash.to_hex()).unwrap(), hash);
        assert_eq!(Hash::from_hex(&hash.to_hex().to_uppercase()).unwrap(), hash);
        assert_eq!(Hash::from_base64(&hash.to_base64()).unwrap(), hash);
    }

    #[test]
    fn malformed_hashes_are_refused() {
        assert_eq!(Hash::from_hex("00"), Err(HashError::Hex));
        assert_eq!(Hash::from_hex(&"g".repeat(64)), Err(HashError::Hex));
        assert_eq!(
            Hash::from_hex(&format!("+{}", "0".repeat(63))),
            Err(HashError::Hex)
        );
        assert_eq!(Hash::from_base64("AAAA"), Err(HashError::WrongLength(3)));
        assert_eq!(Hash::from_base64("not base64!"), Err(HashError::Base64));
        // Unpadded base64 is not the standard encoding.
        let unpadded = leaf_hash(b"x").to_base64().trim_end_matches('=').to_owned();
        assert_eq!(Hash::from_base64(&unpadded), Err(HashError::Base64));
    }
}

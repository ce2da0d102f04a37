//! Positions in the global log and the opaque tokens clients hold.

use std::fmt;
use std::str::FromStr;

/// A place in the global log. Positions order exactly as readers see events: by the log's
/// epoch, then the writing transaction, then the insertion counter (DESIGN.md "The log").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    epoch: u32,
    tx: u64,
    seq: u64,
}

/// A string that is not a position token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a log position token")]
pub struct InvalidPosition(pub String);

impl Position {
    /// Before the first event: reading after it reads the whole log.
    pub const START: Self = Self {
        epoch: 0,
        tx: 0,
        seq: 0,
    };

    /// The position of an event written in `epoch` by transaction `tx` as row `seq`.
    pub const fn new(epoch: u32, tx: u64, seq: u64) -> Self {
        Self { epoch, tx, seq }
    }

    /// The log's epoch (raised when the log is restored into a new cluster).
    pub const fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The writing transaction's id (0 where the backend serialises writers).
    pub const fn tx(&self) -> u64 {
        self.tx
    }

    /// The insertion counter.
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// The opaque token handed to clients: fixed-width hex, so tokens compare as strings the
    /// way positions compare.
    pub fn token(&self) -> String {
        // The three numbers' big-endian bytes in hex: the same text as zero-padded `{:x}`
        // formatting, without the formatter's cost (every relayed event and page cursor pays it).
        let mut bytes = [0_u8; 20];
        bytes[..4].copy_from_slice(&self.epoch.to_be_bytes());
        bytes[4..12].copy_from_slice(&self.tx.to_be_bytes());
        bytes[12..].copy_from_slice(&self.seq.to_be_bytes());
        hex::encode(bytes)
    }

    /// Reads a token made by [`Position::token`].
    pub fn from_token(token: &str) -> Result<Self, InvalidPosition> {
        let invalid = || InvalidPosition(token.chars().take(64).collect());
        if token.len() != 40 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let epoch = u32::from_str_radix(&token[..8], 16).map_err(|_| invalid())?;
        let tx = u64::from_str_radix(&token[8..24], 16).map_err(|_| invalid())?;
        let seq = u64::from_str_radix(&token[24..], 16).map_err(|_| invalid())?;
        // Only positions the databases can hold (signed 32- and 64-bit integers).
        if i32::try_from(epoch).is_err()
            || i64::try_from(tx).is_err()
            || i64::try_from(seq).is_err()
        {
            return Err(invalid());
        }
        Ok(Self { epoch, tx, seq })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.token())
    }
}

impl FromStr for Position {
    type Err = InvalidPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_token(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips() {
        let p = Position::new(1, 123_456, 789);
        assert_eq!(Position::from_token(&p.token()), Ok(p));
    }

    #[test]
    fn tokens_compare_like_positions() {
        let a = Position::new(0, 9, 100);
        let b = Position::new(0, 10, 1);
        let c = Position::new(1, 0, 0);
        assert!(a < b && b < c);
        assert!(a.token() < b.token() && b.token() < c.token());
    }

    #[test]
    fn a_token_is_zero_padded_lowercase_hex() {
        for (epoch, tx, seq) in [(0, 0, 0), (1, 0xab, 7), (u32::MAX, u64::MAX, u64::MAX)] {
            assert_eq!(
                Position::new(epoch, tx, seq).token(),
                format!("{epoch:08x}{tx:016x}{seq:016x}")
            );
        }
    }

    #[test]
    fn a_token_past_what_a_database_holds_is_refused() {
        assert!(Position::from_token(&format!("{:08x}{:016x}{:016x}", 0, 0, u64::MAX)).is_err());
        assert!(Position::from_token(&format!("{:08x}{:016x}{:016x}", u32::MAX, 0, 1)).is_err());
    }

    #[test]
    fn garbage_is_not_a_token() {
        assert!(Position::from_token("abc").is_err());
        assert!(Position::from_token(&"g".repeat(40)).is_err());
    }
}

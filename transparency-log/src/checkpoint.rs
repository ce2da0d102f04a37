//! The C2SP tlog-checkpoint: the text a log signs to commit to its tree at a size.

use crate::error::CheckpointError;
use crate::hash::Hash;

/// A log's tree head: its origin line, tree size and root hash, plus optional extension lines
/// (<https://c2sp.org/tlog-checkpoint>).
///
/// Built by [`Checkpoint::new`] or [`Checkpoint::parse_body`], so every one has a well-formed
/// body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint of the log `origin` at `size` leaves with root `root`. The origin is a
    /// non-empty line without ASCII control characters (a schema-less URL is recommended, such as
    /// `supplyline.example/events`).
    pub fn new(
        origin: impl Into<String>,
        size: u64,
        root: Hash,
    ) -> Result<Checkpoint, CheckpointError> {
        let origin = origin.into();
        check_line(&origin)?;
        Ok(Checkpoint {
            origin,
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The checkpoint with one more extension line (non-empty, without control characters).
    /// C2SP does not recommend them: monitors cannot audit them.
    pub fn with_extension(
        mut self,
        line: impl Into<String>,
    ) -> Result<Checkpoint, CheckpointError> {
        let line = line.into();
        check_line(&line)?;
        self.extensions.push(line);
        Ok(self)
    }

    /// The log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root hash.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The extension lines, in order.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: `origin\nsize\nbase64(root)\n`, then each extension line and a newline.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Reads a note text that [`Checkpoint::to_body`] could have written, and nothing else.
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let text = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::NoFinalNewline)?;
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::TooFewLines);
        };
        check_line(origin)?;
        let size = parse_size(size)?;
        let root = Hash::from_base64(root).map_err(|_| CheckpointError::BadRoot)?;
        let mut checkpoint = Checkpoint::new(origin, size, root)?;
        for line in lines {
            checkpoint = checkpoint.with_extension(line)?;
        }
        Ok(checkpoint)
    }
}

fn check_line(line: &str) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::EmptyLine);
    }
    if line.bytes().any(|b| b < 0x20) {
        return Err(CheckpointError::ControlCharacter);
    }
    Ok(())
}

/// A decimal tree size: digits only, no leading zero unless the tree is empty.
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let digits_only = !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (line.len() > 1 && line.starts_with('0')) {
        return Err(CheckpointError::BadSize);
    }
    line.parse().map_err(|_| CheckpointError::BadSize)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::hash::leaf_hash;

    fn example() -> Checkpoint {
        Checkpoint::new("supplyline.example/events", 20852163, leaf_hash(b"root")).unwrap()
    }

    #[test]
    fn a_body_is_origin_size_and_root_one_per_line() {
        let checkpoint = example();
        assert_eq!(
            checkpoint.to_body(),
            format!(
                "supplyline.example/events\n20852163\n{}\n",
                leaf_hash(b"root").to_base64()
            )
        );
    }

    #[test]
    fn a_body_reads_back_as_the_same_checkpoint() {
        let plain = example();
        assert_eq!(Checkpoint::parse_body(&plain.to_body()).unwrap(), plain);
        let extended = example().with_extension("an extension").unwrap();
        assert_eq!(
            Checkpoint::parse_body(&extended.to_body()).unwrap(),
            extended
        );
        let empty = Checkpoint::new("o", 0, Hash::EMPTY_ROOT).unwrap();
        assert_eq!(Checkpoint::parse_body(&empty.to_body()).unwrap(), empty);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let root = leaf_hash(b"root").to_base64();
        let cases = [
            (format!("o\n1\n{root}"), CheckpointError::NoFinalNewline),
            ("o\n1\n".to_owned(), CheckpointError::TooFewLines),
            (format!("\n1\n{root}\n"), CheckpointError::EmptyLine),
            (
                format!("o\t\n1\n{root}\n"),
                CheckpointError::ControlCharacter,
            ),
            (format!("o\n01\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n+1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n-1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n\n{root}\n"), CheckpointError::BadSize),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                CheckpointError::BadSize,
            ),
            ("o\n1\nAAAA\n".to_owned(), CheckpointError::BadRoot),
            (format!("o\n1\n{root}\n\n"), CheckpointError::EmptyLine),
            (
                format!("o\n1\n{root}\next\r\n"),
                CheckpointError::ControlCharacter,
            ),
        ];
        for (body, error) in cases {
            assert_eq!(Checkpoint::parse_body(&body), Err(error), "{body:?}");
        }
    }

    #[test]
    fn an_origin_must_be_one_non_empty_line() {
        assert_eq!(
            Checkpoint::new("", 1, Hash::EMPTY_ROOT),
            Err(CheckpointError::EmptyLine)
        );
        assert_eq!(
            Checkpoint::new("a\nb", 1, Hash::EMPTY_ROOT),
            Err(CheckpointError::ControlCharacter)
        );
    }
}

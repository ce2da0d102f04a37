//! Why the `stock` aggregate refuses a command. PLACEHOLDER: replaced by the aggregate's author.

use crate::{Refusal, RefusalKind};

/// A refused `stock` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockError {
    /// No such aggregate.
    #[error("not found")]
    NotFound,
}

impl Refusal for StockError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
        }
    }
}

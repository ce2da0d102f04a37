//! Why the `purchase` aggregate refuses a command. PLACEHOLDER: replaced by the aggregate's author.

use crate::{Refusal, RefusalKind};

/// A refused `purchase` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseError {
    /// No such aggregate.
    #[error("not found")]
    NotFound,
}

impl Refusal for PurchaseError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
        }
    }
}

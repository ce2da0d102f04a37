//! Why the `order` aggregate refuses a command. PLACEHOLDER: replaced by the aggregate's author.

use crate::{Refusal, RefusalKind};

/// A refused `order` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// No such aggregate.
    #[error("not found")]
    NotFound,
}

impl Refusal for OrderError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
        }
    }
}

//! Why the `inspection` aggregate refuses a command. PLACEHOLDER: replaced by the aggregate's author.

use crate::{Refusal, RefusalKind};

/// A refused `inspection` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectionError {
    /// No such aggregate.
    #[error("not found")]
    NotFound,
}

impl Refusal for InspectionError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
        }
    }
}

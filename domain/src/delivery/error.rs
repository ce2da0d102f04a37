//! Why the `delivery` aggregate refuses a command. PLACEHOLDER: replaced by the aggregate's author.

use crate::{Refusal, RefusalKind};

/// A refused `delivery` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// No such aggregate.
    #[error("not found")]
    NotFound,
}

impl Refusal for DeliveryError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
        }
    }
}

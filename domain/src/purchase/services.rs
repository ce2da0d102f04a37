//! The outside facts a purchase's decisions need, behind a port the caller implements.

use std::sync::Arc;

use async_trait::async_trait;
use event_schemas::values::{ActorId, StockItemId};

/// The store that knows stock items could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stock items could not be looked up: {0}")]
pub struct LookupUnavailable(pub String);

/// Tells who owns a stock item, from the stock aggregate's own events.
#[async_trait]
pub trait StockItemOwners: Send + Sync {
    /// The owner of `stock_item_id`, or `None` when no such stock item exists.
    async fn owner_of(&self, stock_item_id: StockItemId)
    -> Result<Option<ActorId>, LookupUnavailable>;
}

/// The services the `purchase` aggregate's decisions use.
#[derive(Clone)]
pub struct PurchaseServices {
    /// Who owns which stock item.
    pub owners: Arc<dyn StockItemOwners>,
}

impl PurchaseServices {
    /// Services backed by `owners`.
    pub fn new(owners: Arc<dyn StockItemOwners>) -> Self {
        Self { owners }
    }
}

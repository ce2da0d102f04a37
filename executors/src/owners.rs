//! Who owns a stock item, read from the stock aggregate's own events: the port the purchase
//! aggregate decides ownership with.

use async_trait::async_trait;
use domain::purchase::{LookupUnavailable, StockItemOwners};
use domain::stock::StockItem;
use event_schemas::values::{ActorId, StockItemId};
use event_store::Executor;

/// Loads stock items through their executor (snapshot plus later events).
pub struct StoreStockItemOwners {
    stock: Executor<StockItem>,
}

impl StoreStockItemOwners {
    /// Owners read through `stock`.
    pub fn new(stock: Executor<StockItem>) -> Self {
        Self { stock }
    }
}

#[async_trait]
impl StockItemOwners for StoreStockItemOwners {
    async fn owner_of(
        &self,
        stock_item_id: StockItemId,
    ) -> Result<Option<ActorId>, LookupUnavailable> {
        self.stock
            .load(&stock_item_id.to_string())
            .await
            .map(|loaded| loaded.state.owner().cloned())
            .map_err(|e| LookupUnavailable(e.to_string()))
    }
}

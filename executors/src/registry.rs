//! [`Executors`]: one executor per aggregate type, over one store.

use std::sync::Arc;

use domain::delivery::Delivery;
use domain::inspection::Inspection;
use domain::order::Order;
use domain::purchase::{Purchase, PurchaseServices};
use domain::stock::StockItem;
use domain::{Refusal, RefusalKind};
use event_store::{DEFAULT_CACHE_CAPACITY, DEFAULT_SNAPSHOT_EVERY, EventStore, Executor};

use crate::StoreStockItemOwners;

/// How the executors keep aggregates.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorSettings {
    /// Snapshot every this many events of a stream (0: never).
    pub snapshot_every: u64,
    /// Keep up to this many aggregates per type in memory (0: none).
    pub cache_capacity: usize,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}

/// The executors of the five aggregates over one store. Cheap to clone; clones share turns and
/// kept states, so build it once per process and hand it to every writer.
#[derive(Clone)]
pub struct Executors {
    /// Stock items.
    pub stock: Executor<StockItem>,
    /// Orders.
    pub orders: Executor<Order>,
    /// Deliveries.
    pub deliveries: Executor<Delivery>,
    /// Inspections.
    pub inspections: Executor<Inspection>,
    /// Purchases (which look up stock items' owners through `stock`).
    pub purchases: Executor<Purchase>,
    store: EventStore,
}

impl Executors {
    /// The executors over `store`.
    pub fn new(store: EventStore, settings: ExecutorSettings) -> Self {
        let ExecutorSettings {
            snapshot_every,
            cache_capacity,
        } = settings;
        let stock = Executor::<StockItem>::new(store.clone(), ())
            .with_snapshot_every(snapshot_every)
            .with_cache(cache_capacity)
            .with_transient_refusals(unavailable);
        let owners = Arc::new(StoreStockItemOwners::new(stock.clone()));
        Self {
            orders: Executor::new(store.clone(), ())
                .with_snapshot_every(snapshot_every)
                .with_cache(cache_capacity)
                .with_transient_refusals(unavailable),
            deliveries: Executor::new(store.clone(), ())
                .with_snapshot_every(snapshot_every)
                .with_cache(cache_capacity)
                .with_transient_refusals(unavailable),
            inspections: Executor::new(store.clone(), ())
                .with_snapshot_every(snapshot_every)
                .with_cache(cache_capacity)
                .with_transient_refusals(unavailable),
            purchases: Executor::new(store.clone(), PurchaseServices::new(owners))
                .with_snapshot_every(snapshot_every)
                .with_cache(cache_capacity)
                .with_transient_refusals(unavailable),
            stock,
            store,
        }
    }

    /// The store they write to.
    pub fn store(&self) -> &EventStore {
        &self.store
    }
}

/// A refusal because something the decision needed was unavailable: a passing failure, never
/// kept as an idempotency key's answer.
fn unavailable<E: Refusal>(refusal: &E) -> bool {
    refusal.kind() == RefusalKind::Unavailable
}

#[cfg(test)]
mod tests {
    use domain::purchase::PurchaseError;

    use super::*;

    #[tokio::test]
    async fn a_refusal_for_want_of_a_lookup_is_transient_and_a_rule_is_not() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("log.db").display());
        let store = EventStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let executors = Executors::new(store, ExecutorSettings::default());

        let lookup = PurchaseError::Unavailable("connection refused".into());

        assert!(executors.purchases.is_transient(&lookup));
        assert!(!executors.purchases.is_transient(&PurchaseError::NotFound));
    }
}

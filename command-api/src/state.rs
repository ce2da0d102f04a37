//! What every handler shares: the executors of the five aggregates, the authenticator and the
//! store.

use std::sync::Arc;

use axum::extract::FromRef;
use domain::delivery::Delivery;
use domain::inspection::Inspection;
use domain::order::Order;
use domain::purchase::{Purchase, PurchaseServices};
use domain::stock::StockItem;
use event_store::{EventStore, Executor};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Authenticator;
use crate::owners::StoreStockItemOwners;
use crate::rate_limit::{DEFAULT_PER_ACTOR_PER_SECOND, RateLimit};

/// The shared state of the command API (cheap to clone: every request gets a copy).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct Shared {
    pub(crate) store: EventStore,
    pub(crate) rate_limit: RateLimit,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) metrics: PrometheusHandle,
    pub(crate) stock: Executor<StockItem>,
    pub(crate) orders: Executor<Order>,
    pub(crate) deliveries: Executor<Delivery>,
    pub(crate) inspections: Executor<Inspection>,
    pub(crate) purchases: Executor<Purchase>,
}

impl AppState {
    /// State over `store`, snapshotting every `snapshot_every` events.
    pub fn new(store: EventStore, auth: Authenticator, snapshot_every: u64) -> Self {
        let stock =
            Executor::<StockItem>::new(store.clone(), ()).with_snapshot_every(snapshot_every);
        let owners = Arc::new(StoreStockItemOwners::new(stock.clone()));
        let shared = Shared {
            rate_limit: RateLimit::per_actor(DEFAULT_PER_ACTOR_PER_SECOND),
            auth: Arc::new(auth),
            metrics: crate::metrics::prometheus(),
            orders: Executor::new(store.clone(), ()).with_snapshot_every(snapshot_every),
            deliveries: Executor::new(store.clone(), ()).with_snapshot_every(snapshot_every),
            inspections: Executor::new(store.clone(), ()).with_snapshot_every(snapshot_every),
            purchases: Executor::new(store.clone(), PurchaseServices::new(owners))
                .with_snapshot_every(snapshot_every),
            stock,
            store,
        };
        Self {
            inner: Arc::new(shared),
        }
    }

    /// Limits each actor to `per_second` requests per second (0: no limit).
    pub fn with_rate_limit(self, per_second: u32) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.inner);
        shared.rate_limit = RateLimit::per_actor(per_second);
        Self {
            inner: Arc::new(shared),
        }
    }

    /// The event store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.inner
    }
}

impl FromRef<AppState> for RateLimit {
    fn from_ref(state: &AppState) -> Self {
        state.rate_limit.clone()
    }
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

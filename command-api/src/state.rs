//! What every handler shares: the process's executors, the authenticator and the store.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use event_store::EventStore;
use executors::{ExecutorSettings, Executors};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Authenticator;
use crate::rate_limit::{DEFAULT_PER_ACTOR_PER_SECOND, RateLimit};

/// By default a client's idempotency key stands for its first answer this long.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

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
    pub(crate) idempotency_ttl: Duration,
    pub(crate) executors: Executors,
}

impl AppState {
    /// State over `store` with executors of its own, snapshotting every `snapshot_every`
    /// events.
    pub fn new(store: EventStore, auth: Authenticator, snapshot_every: u64) -> Self {
        let executors = Executors::new(
            store,
            ExecutorSettings {
                snapshot_every,
                ..ExecutorSettings::default()
            },
        );
        Self::with_executors(executors, auth)
    }

    /// State over the process's shared executors (which the process managers use too, so
    /// both take turns on the same aggregates).
    pub fn with_executors(executors: Executors, auth: Authenticator) -> Self {
        let shared = Shared {
            rate_limit: RateLimit::per_actor(DEFAULT_PER_ACTOR_PER_SECOND),
            auth: Arc::new(auth),
            metrics: crate::metrics::prometheus(),
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
            store: executors.store().clone(),
            executors,
        };
        Self {
            inner: Arc::new(shared),
        }
    }

    /// Keeps each client's idempotency key for `ttl` (then it is free again, and removed).
    pub fn with_idempotency_ttl(self, ttl: Duration) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.inner);
        shared.idempotency_ttl = ttl;
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

//! The live relay's lag as metrics: events not yet published and how long the oldest has
//! waited.

use std::time::Duration;

use event_store::EventStore;
use projections::ReadDb;

use crate::checkpoint;

/// How often the live relay publishes its lag as metrics.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(5);

/// The live relay's lag, published as metrics every few seconds until dropped.
pub(crate) struct LagReport(tokio::task::JoinHandle<()>);

impl LagReport {
    pub(crate) fn start(store: EventStore, db: ReadDb, name: String) -> Self {
        Self(tokio::spawn(async move {
            loop {
                if let Ok((position, _)) = checkpoint::load(&db, &name).await
                    && let Ok(lag) = projections::runtime::lag(&store, position).await
                {
                    metrics::gauge!("supplyline_relay_lag_events", "relay" => name.clone())
                        .set(lag.events as f64);
                    metrics::gauge!("supplyline_relay_lag_seconds", "relay" => name.clone())
                        .set(lag.seconds);
                }
                tokio::time::sleep(LAG_REPORT_EVERY).await;
            }
        }))
    }
}

impl Drop for LagReport {
    fn drop(&mut self) {
        self.0.abort();
    }
}

//! Batch loaders: the objects under a page of parents (each order's timeline and delivery)
//! load in one query per kind, whatever the page size, not one per parent.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use projections::ReadDb;
use projections::models::deliveries::{self, DeliveryRow};
use projections::models::orders::{self, TimelineRow};

/// Why a batch could not be loaded (shared by every waiting field).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(Arc<str>);

impl From<sqlx::Error> for LoadError {
    fn from(error: sqlx::Error) -> Self {
        tracing::warn!(%error, "a batch load failed");
        Self(Arc::from("the read models are unavailable; retry"))
    }
}

/// Orders' timelines, by order id.
pub struct Timelines(pub ReadDb);

impl Loader<String> for Timelines {
    type Value = Vec<TimelineRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let mut found: HashMap<String, Self::Value> = HashMap::new();
        for row in orders::timelines(&self.0, keys).await? {
            found.entry(row.order_id.clone()).or_default().push(row);
        }
        Ok(found)
    }
}

/// Deliveries, by id.
pub struct Deliveries(pub ReadDb);

impl Loader<String> for Deliveries {
    type Value = DeliveryRow;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        Ok(deliveries::deliveries_by_id(&self.0, keys)
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect())
    }
}

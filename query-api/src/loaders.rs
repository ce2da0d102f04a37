//! Batch loaders: the objects under a page of parents (each order's timeline and delivery,
//! each stock item's farm compliance, each inspection's violations) load in one query per
//! kind, whatever the page size, not one per parent.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use projections::ReadDb;
use projections::models::deliveries::{self, DeliveryRow};
use projections::models::inspections::{self, FarmCompliance, ViolationRow};
use projections::models::orders::{self, TimelineRow};

use crate::error::unavailable;

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

/// Farms' compliance, by farmer id (every farm asked for has one, `UNINSPECTED` at first).
pub struct Compliances(pub ReadDb);

impl Loader<String> for Compliances {
    type Value = FarmCompliance;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        Ok(inspections::farm_compliances(&self.0, keys)
            .await?
            .into_iter()
            .map(|farm| (farm.farmer_id.clone(), farm))
            .collect())
    }
}

/// Inspections' violations, by inspection id.
pub struct Violations(pub ReadDb);

impl Loader<String> for Violations {
    type Value = Vec<ViolationRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let mut found: HashMap<String, Self::Value> = HashMap::new();
        for row in inspections::violations_of(&self.0, keys).await? {
            found
                .entry(row.inspection_id.clone())
                .or_default()
                .push(row);
        }
        Ok(found)
    }
}

/// What `L` loads for `keys`, in one batch, when the nodes of the connection being resolved
/// select `field`; `None` when they do not. Left to each node, loads that miss the loader's
/// short window (a busy or slow server) would split a page into several batches. The page's
/// keys are a whole batch already, so they load at once, not after the loader's wait for
/// other requests' keys (a millisecond, and a task, per page).
pub async fn preload<L>(
    ctx: &Context<'_>,
    field: &str,
    keys: impl IntoIterator<Item = String>,
) -> async_graphql::Result<Option<HashMap<String, L::Value>>>
where
    L: Loader<String, Error = LoadError>,
{
    if !ctx
        .look_ahead()
        .field("edges")
        .field("node")
        .field(field)
        .exists()
    {
        return Ok(None);
    }
    let mut keys: Vec<String> = keys.into_iter().collect();
    keys.sort_unstable();
    keys.dedup();
    let loaded = ctx
        .data::<DataLoader<L>>()?
        .loader()
        .load(&keys)
        .await
        .map_err(unavailable)?;
    Ok(Some(loaded))
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

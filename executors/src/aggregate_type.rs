//! [`AggregateType`]: the aggregate types of the contract, from their names to their Rust
//! types.

use cqrs_es::Aggregate;
use domain::delivery::Delivery;
use domain::inspection::Inspection;
use domain::order::Order;
use domain::purchase::Purchase;
use domain::stock::StockItem;
use event_store::{EventStore, Position, ReplayUntil, StoreError, replay};
use serde::Serialize;
use serde_json::Value;

/// One of the five aggregate types (API.md: `stock`, `order`, `delivery`, `inspection`,
/// `purchase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateType {
    /// `stock`: stock items.
    Stock,
    /// `order`: orders.
    Order,
    /// `delivery`: deliveries.
    Delivery,
    /// `inspection`: inspections.
    Inspection,
    /// `purchase`: purchases.
    Purchase,
}

/// A name that is not an aggregate type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown aggregate type `{0}`: use one of stock, order, delivery, inspection, purchase")]
pub struct UnknownAggregateType(pub String);

/// An aggregate's state rebuilt from its events up to a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// The stream version reached.
    pub version: u64,
    /// The position of the last event applied.
    pub position: Option<Position>,
    /// The aggregate's state, as JSON.
    pub state: Value,
}

impl AggregateType {
    /// Every aggregate type.
    pub const ALL: [Self; 5] = [
        Self::Stock,
        Self::Order,
        Self::Delivery,
        Self::Inspection,
        Self::Purchase,
    ];

    /// The name stored in the log's `aggregate_type` column.
    pub fn name(self) -> &'static str {
        match self {
            Self::Stock => StockItem::TYPE,
            Self::Order => Order::TYPE,
            Self::Delivery => Delivery::TYPE,
            Self::Inspection => Inspection::TYPE,
            Self::Purchase => Purchase::TYPE,
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Result<Self, UnknownAggregateType> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| UnknownAggregateType(name.to_owned()))
    }

    /// Rebuilds aggregate `id` of this type from its events only (upcast, no snapshot) up to
    /// `until`; `None` when it had no event by then.
    pub async fn replay(
        self,
        store: &EventStore,
        id: &str,
        until: ReplayUntil,
    ) -> Result<Option<Replayed>, StoreError> {
        match self {
            Self::Stock => replayed::<StockItem>(store, id, until).await,
            Self::Order => replayed::<Order>(store, id, until).await,
            Self::Delivery => replayed::<Delivery>(store, id, until).await,
            Self::Inspection => replayed::<Inspection>(store, id, until).await,
            Self::Purchase => replayed::<Purchase>(store, id, until).await,
        }
    }
}

impl std::fmt::Display for AggregateType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

async fn replayed<A: Aggregate + Serialize>(
    store: &EventStore,
    id: &str,
    until: ReplayUntil,
) -> Result<Option<Replayed>, StoreError> {
    let loaded = replay::<A>(store, id, until).await?;
    if loaded.version == 0 {
        return Ok(None);
    }
    Ok(Some(Replayed {
        version: loaded.version,
        position: loaded.position,
        state: serde_json::to_value(&loaded.state)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_found_by_its_name_and_nothing_else() {
        for aggregate_type in AggregateType::ALL {
            assert_eq!(
                AggregateType::parse(aggregate_type.name()),
                Ok(aggregate_type)
            );
        }
        assert_eq!(
            AggregateType::parse("Stock"),
            Err(UnknownAggregateType("Stock".into()))
        );
    }
}

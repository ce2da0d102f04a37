//! Aggregate and entity identifiers: UUIDs wrapped so that an order id is never passed where a
//! stock item id is expected.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::InvalidValue;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID that the caller made (the server's UUIDv7 or a client's choice).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The id derived deterministically from `name` within `namespace`, so that a
            /// process that issues the same command twice names the same aggregate.
            pub fn derived(namespace: Uuid, name: &str) -> Self {
                Self(Uuid::new_v5(&namespace, name.as_bytes()))
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| InvalidValue(format!("`{s}` is not a UUID")))
            }
        }
    };
}

uuid_id!(
    /// Identifies a stock item (a lot of produce a farmer lists).
    StockItemId
);
uuid_id!(
    /// Identifies an order placed by a restaurant.
    OrderId
);
uuid_id!(
    /// Identifies a delivery of an order.
    DeliveryId
);
uuid_id!(
    /// Identifies an inspection of a farm.
    InspectionId
);
uuid_id!(
    /// Identifies a purchase that restocks a stock item from a supplier.
    PurchaseId
);
uuid_id!(
    /// Identifies a violation recorded during an inspection.
    ViolationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_parses_from_its_display() {
        let id = OrderId::from_uuid(Uuid::now_v7());
        assert_eq!(id.to_string().parse::<OrderId>(), Ok(id));
    }

    #[test]
    fn a_non_uuid_is_refused() {
        assert!("order-1".parse::<OrderId>().is_err());
    }

    #[test]
    fn derived_ids_are_deterministic() {
        let ns = Uuid::now_v7();
        assert_eq!(
            DeliveryId::derived(ns, "delivery"),
            DeliveryId::derived(ns, "delivery")
        );
        assert_ne!(DeliveryId::derived(ns, "a"), DeliveryId::derived(ns, "b"));
    }
}

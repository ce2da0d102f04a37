//! The contract of supplyline's log: every event payload of the five aggregates, the value types
//! they are made of, the metadata stored with each event, and their JSON Schemas.
//!
//! Events are versioned contracts. A published `(event_type, event_version)` never changes:
//! a new shape gets a new version and an upcaster from the old one ([`upcasters`], [`upcast`]),
//! and the golden fixtures under `tests/fixtures/` keep every published version loading.

mod catalog;
mod delivery;
mod inspection;
mod metadata;
mod order;
mod purchase;
mod stock;
mod upcast;
pub mod values;

pub use catalog::{EventKind, all_kinds, all_schemas};
pub use delivery::{
    DeliveryCompleted, DeliveryEvent, DeliveryFailed, DeliveryPickedUp, DeliveryScheduled,
    DeliveryStatus, DeliveryWindow, DriverAssigned, LocationUpdated,
};
pub use inspection::{
    InspectionEvent, InspectionFailed, InspectionPassed, InspectionScheduled, InspectionStarted,
    InspectionStatus, ViolationRecorded, ViolationResolved,
};
pub use metadata::{ChainHash, EventMetadata};
pub use order::{
    OrderCancelled, OrderConfirmed, OrderDelivered, OrderDeliveryFailed, OrderEvent,
    OrderInTransit, OrderLine, OrderPlaced, OrderPreparing, OrderReadyForPickup, OrderRejected,
    OrderStatus, PricedLine, RefusedLine,
};
pub use purchase::{
    CarrierReserved, GoodsReceived, PurchaseCancelled, PurchaseCompleted, PurchaseEvent,
    PurchaseReceived, PurchaseStatus, SupplierOrderRequested,
};
pub use stock::{
    LowStockReached, PriceChanged, QuarantineReleased, ReservationCommitted, ReservationRefusal,
    ReservationReleased, StockAdjusted, StockEvent, StockItemRegistered, StockLevels,
    StockQuarantineRefused, StockQuarantined, StockReceived, StockReservationRefused,
    StockReserved,
};
pub use upcast::{DeliveryScheduledV1ToV2, needs_upcast, upcast, upcasters};

/// The JSON Schema of [`EventMetadata`].
pub fn metadata_schema() -> schemars::Schema {
    schemars::schema_for!(EventMetadata)
}

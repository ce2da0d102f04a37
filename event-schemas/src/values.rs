//! Value types shared by events, commands and read models: each is parsed once, at the edge,
//! and trusted everywhere after.

mod actor;
mod address;
mod catalog;
mod geo;
mod ids;
mod money;
mod quantity;
mod score;
mod text;

pub use actor::{Actor, ActorId, Role};
pub use address::{Address, AddressParts};
pub use catalog::{Category, QualityGrade, Severity, Unit};
pub use geo::{GeoPoint, Latitude, Longitude};
pub use ids::{DeliveryId, InspectionId, OrderId, PurchaseId, StockItemId, ViolationId};
pub use money::{Cents, MAX_CENTS};
pub use quantity::{MAX_QUANTITY, PositiveQuantity, Quantity, QuantityDelta};
pub use score::Score;
pub use text::{
    CarrierId, Certification, Description, Notes, ProductName, ProofRef, Reason, RecipientName,
    Resolution, SupplierId, SupplierOrderRef, TrackingRef, Vehicle, ViolationCode, VoucherCode,
};

/// Why a raw value was refused by a value type's constructor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub(crate) String);

impl InvalidValue {
    /// The human-readable reason, suitable for a field-level validation message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

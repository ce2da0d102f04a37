//! The `purchase` aggregate's state and decisions: who may restock a stock item, and a
//! purchase's way from the supplier order through the carrier to the goods received.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::values::{
    Actor, ActorId, Cents, PositiveQuantity, PurchaseId, Role, StockItemId, SupplierId,
};
use event_schemas::{
    CarrierReserved, GoodsReceived, PurchaseCancelled, PurchaseCompleted, PurchaseEvent,
    PurchaseReceived, PurchaseStatus, SupplierOrderRequested,
};
use serde::{Deserialize, Serialize};

use super::PurchaseServices;
use super::{PurchaseCommand, PurchaseError};
use crate::Issued;

/// A purchase restocking one stock item; `Default` is a purchase that does not exist yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Purchase {
    /// What the purchase is, once it exists.
    details: Option<Details>,
}

/// The facts of an existing purchase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Details {
    /// The purchase's id.
    purchase_id: PurchaseId,
    /// The stock item it restocks.
    stock_item_id: StockItemId,
    /// The stock item's owner when the purchase was created, who owns the purchase.
    farmer_id: ActorId,
    /// The supplier bought from.
    supplier_id: SupplierId,
    /// How many units were bought.
    quantity: PositiveQuantity,
    /// What one unit costs.
    unit_cost_cents: Cents,
    /// Where the purchase is in its life.
    status: PurchaseStatus,
}

impl Purchase {
    /// Whether the purchase exists.
    pub fn exists(&self) -> bool {
        self.details.is_some()
    }

    /// The purchase's id, once it exists.
    pub fn id(&self) -> Option<PurchaseId> {
        self.details.as_ref().map(|d| d.purchase_id)
    }

    /// Where the purchase is in its life, once it exists.
    pub fn status(&self) -> Option<PurchaseStatus> {
        self.details.as_ref().map(|d| d.status)
    }

    /// The farmer who owns the purchase (the stock item's owner at creation).
    pub fn owner(&self) -> Option<&ActorId> {
        self.details.as_ref().map(|d| &d.farmer_id)
    }

    /// The stock item the purchase restocks.
    pub fn stock_item_id(&self) -> Option<StockItemId> {
        self.details.as_ref().map(|d| d.stock_item_id)
    }

    /// The supplier bought from.
    pub fn supplier_id(&self) -> Option<&SupplierId> {
        self.details.as_ref().map(|d| &d.supplier_id)
    }

    /// How many units were bought.
    pub fn quantity(&self) -> Option<PositiveQuantity> {
        self.details.as_ref().map(|d| d.quantity)
    }

    /// What one unit costs.
    pub fn unit_cost_cents(&self) -> Option<Cents> {
        self.details.as_ref().map(|d| d.unit_cost_cents)
    }

    /// Checks that the actor's role may issue purchase commands at all: farmers and admins only.
    fn ensure_role(by: &Actor) -> Result<(), PurchaseError> {
        match by.role {
            Role::Farmer | Role::Admin => Ok(()),
            role @ (Role::Restaurant
            | Role::Distributor
            | Role::Inspector
            | Role::Auditor
            | Role::Analyst
            | Role::System) => Err(PurchaseError::RoleNotAllowed { role }),
        }
    }

    /// Checks that the purchase exists and that `by` is its owner or an admin; returns its
    /// current status.
    fn ensure_owned_by(&self, by: &Actor) -> Result<PurchaseStatus, PurchaseError> {
        let details = self.details.as_ref().ok_or(PurchaseError::NotFound)?;
        if by.is_admin() || by.sub == details.farmer_id {
            Ok(details.status)
        } else {
            Err(PurchaseError::NotOwner)
        }
    }

    /// Who will own a new purchase of `stock_item_id`: the stock item's owner, provided `by` is
    /// that owner or an admin.
    async fn owner_for_new_purchase(
        by: &Actor,
        stock_item_id: StockItemId,
        services: &PurchaseServices,
    ) -> Result<ActorId, PurchaseError> {
        let owner = services
            .owners
            .owner_of(stock_item_id)
            .await
            .map_err(|e| PurchaseError::Unavailable(e.0))?
            .ok_or(PurchaseError::UnknownStockItem { stock_item_id })?;
        if by.is_admin() || by.sub == owner {
            Ok(owner)
        } else {
            Err(PurchaseError::NotStockItemOwner)
        }
    }

    /// Writes `event` to the sink, which applies it to `self`.
    async fn record(&mut self, event: impl Into<PurchaseEvent>, sink: &EventSink<Self>) {
        sink.write(event.into(), self).await;
    }

    /// Moves an existing purchase to `status`; events on a purchase that does not exist are
    /// ignored (they cannot come from this aggregate's decisions).
    fn set_status(&mut self, status: PurchaseStatus) {
        if let Some(details) = self.details.as_mut() {
            details.status = status;
        }
    }
}

/// Checks that the purchase is in the one status `command` is allowed from.
fn ensure_status(
    status: PurchaseStatus,
    allowed: PurchaseStatus,
    command: &'static str,
) -> Result<(), PurchaseError> {
    if status == allowed {
        Ok(())
    } else {
        Err(PurchaseError::InvalidTransition {
            from: status,
            command: command.into(),
        })
    }
}

impl Aggregate for Purchase {
    const TYPE: &'static str = "purchase";
    type Command = Issued<PurchaseCommand>;
    type Event = PurchaseEvent;
    type Error = PurchaseError;
    type Services = PurchaseServices;

    async fn handle(
        &mut self,
        issued: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let Issued { by, at, command } = issued;
        Self::ensure_role(&by)?;
        let name = command.name();
        match command {
            PurchaseCommand::CreatePurchase {
                purchase_id,
                stock_item_id,
                supplier_id,
                quantity,
                unit_cost_cents,
                voucher_code,
            } => {
                if self.exists() {
                    return Err(PurchaseError::AlreadyCreated);
                }
                let farmer_id = Self::owner_for_new_purchase(&by, stock_item_id, services).await?;
                let total_cost_cents = unit_cost_cents
                    .times(quantity.quantity())
                    .ok_or(PurchaseError::CostOverflow)?;
                let received = PurchaseReceived {
                    purchase_id,
                    stock_item_id,
                    farmer_id,
                    supplier_id,
                    quantity,
                    unit_cost_cents,
                    total_cost_cents,
                    voucher_code,
                    received_at: at,
                };
                self.record(received, sink).await;
            }
            PurchaseCommand::RequestSupplierOrder { supplier_order_ref } => {
                let status = self.ensure_owned_by(&by)?;
                ensure_status(status, PurchaseStatus::Received, name)?;
                let requested = SupplierOrderRequested {
                    supplier_order_ref,
                    requested_at: at,
                };
                self.record(requested, sink).await;
            }
            PurchaseCommand::ReserveCarrier {
                carrier_id,
                tracking_ref,
                eta,
            } => {
                let status = self.ensure_owned_by(&by)?;
                ensure_status(status, PurchaseStatus::OrderRequested, name)?;
                let reserved = CarrierReserved {
                    carrier_id,
                    tracking_ref,
                    eta,
                    reserved_at: at,
                };
                self.record(reserved, sink).await;
            }
            PurchaseCommand::ReceiveGoods { quantity_received } => {
                let status = self.ensure_owned_by(&by)?;
                ensure_status(status, PurchaseStatus::ReserveDelivered, name)?;
                let stock_item_id = self.stock_item_id().ok_or(PurchaseError::NotFound)?;
                let received = GoodsReceived {
                    stock_item_id,
                    quantity_received,
                    received_at: at,
                };
                self.record(received, sink).await;
                self.record(PurchaseCompleted { completed_at: at }, sink)
                    .await;
            }
            PurchaseCommand::CancelPurchase { reason } => {
                let status = self.ensure_owned_by(&by)?;
                match status {
                    PurchaseStatus::Received
                    | PurchaseStatus::OrderRequested
                    | PurchaseStatus::ReserveDelivered => {}
                    PurchaseStatus::Completed => return Err(PurchaseError::AlreadyReceived),
                    PurchaseStatus::Cancelled => return Err(PurchaseError::AlreadyCancelled),
                }
                let cancelled = PurchaseCancelled {
                    reason,
                    previous_status: status,
                    cancelled_at: at,
                };
                self.record(cancelled, sink).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            PurchaseEvent::PurchaseReceived(e) => {
                self.details = Some(Details {
                    purchase_id: e.purchase_id,
                    stock_item_id: e.stock_item_id,
                    farmer_id: e.farmer_id,
                    supplier_id: e.supplier_id,
                    quantity: e.quantity,
                    unit_cost_cents: e.unit_cost_cents,
                    status: PurchaseStatus::Received,
                });
            }
            PurchaseEvent::SupplierOrderRequested(_) => {
                self.set_status(PurchaseStatus::OrderRequested);
            }
            PurchaseEvent::CarrierReserved(_) => self.set_status(PurchaseStatus::ReserveDelivered),
            // The goods' arrival is a fact for the stock item; the purchase completes with the
            // `PurchaseCompleted` that always follows it.
            PurchaseEvent::GoodsReceived(_) => {}
            PurchaseEvent::PurchaseCompleted(_) => self.set_status(PurchaseStatus::Completed),
            PurchaseEvent::PurchaseCancelled(_) => self.set_status(PurchaseStatus::Cancelled),
        }
    }
}

//! The `stock` aggregate's state and decisions: registration, levels, reservations per order,
//! price, quarantine and the low-stock signal.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::values::{
    Actor, ActorId, Category, Cents, Certification, InspectionId, OrderId, PositiveQuantity,
    ProductName, PurchaseId, QualityGrade, Quantity, QuantityDelta, Reason, Role, StockItemId,
    Unit,
};
use event_schemas::{
    LowStockReached, PriceChanged, QuarantineReleased, ReservationCommitted, ReservationRefusal,
    ReservationReleased, StockAdjusted, StockEvent, StockItemRegistered, StockLevels,
    StockQuarantineRefused, StockQuarantined, StockReceived, StockReservationRefused,
    StockReserved,
};
use serde::{Deserialize, Serialize};

use super::{RegisterStockItem, StockCommand, StockError};
use crate::Issued;

/// The facts recorded when the item was registered (the price changes later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Listing {
    stock_item_id: StockItemId,
    farmer_id: ActorId,
    product_name: ProductName,
    category: Category,
    unit: Unit,
    unit_price_cents: Cents,
    quality_grade: QualityGrade,
    harvest_date: Option<NaiveDate>,
    certifications: Vec<Certification>,
    low_stock_threshold: Quantity,
    registered_at: DateTime<Utc>,
}

/// A lot of produce a farmer lists; `Default` is an item not registered yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StockItem {
    listing: Option<Listing>,
    on_hand: Quantity,
    reserved: Quantity,
    quarantined: bool,
    low: bool,
    /// The open (held) reservations, by order: what release and commit need. Closed ones are
    /// forgotten, so the state stays the size of what is open however long the history; a
    /// repeated reservation after one closed is caught by its idempotency key, which the
    /// order process's system actor keeps forever.
    held: BTreeMap<OrderId, PositiveQuantity>,
}

impl StockItem {
    /// Whether the item has been registered.
    pub fn is_registered(&self) -> bool {
        self.listing.is_some()
    }

    /// The item's id, once registered.
    pub fn id(&self) -> Option<StockItemId> {
        self.listing.as_ref().map(|l| l.stock_item_id)
    }

    /// The farmer who owns the item, once registered.
    pub fn owner(&self) -> Option<&ActorId> {
        self.listing.as_ref().map(|l| &l.farmer_id)
    }

    /// The product's name, once registered.
    pub fn product_name(&self) -> Option<&ProductName> {
        self.listing.as_ref().map(|l| &l.product_name)
    }

    /// The current unit price, once registered.
    pub fn unit_price_cents(&self) -> Option<Cents> {
        self.listing.as_ref().map(|l| l.unit_price_cents)
    }

    /// The low-stock threshold, once registered.
    pub fn low_stock_threshold(&self) -> Option<Quantity> {
        self.listing.as_ref().map(|l| l.low_stock_threshold)
    }

    /// Units on hand and reserved now.
    pub fn levels(&self) -> StockLevels {
        StockLevels {
            on_hand: self.on_hand,
            reserved: self.reserved,
        }
    }

    /// Units that can still be reserved: on hand minus reserved.
    pub fn available(&self) -> Quantity {
        self.levels().available()
    }

    /// Whether the item is quarantined (no new reservations).
    pub fn is_quarantined(&self) -> bool {
        self.quarantined
    }

    /// Whether available is at or below the low-stock threshold now.
    pub fn is_low(&self) -> bool {
        self.low
    }

    /// The units held for an order, while its reservation is open.
    pub fn held_for(&self, order_id: OrderId) -> Option<PositiveQuantity> {
        self.held.get(&order_id).copied()
    }

    /// How many reservations are open.
    pub fn open_reservations(&self) -> usize {
        self.held.len()
    }

    /// Sets the levels an event recorded and follows them with the low flag.
    fn set_levels(&mut self, levels: StockLevels) {
        self.on_hand = levels.on_hand;
        self.reserved = levels.reserved;
        self.low = self
            .listing
            .as_ref()
            .is_some_and(|l| levels.available() <= l.low_stock_threshold);
    }

    /// Records `event`, then `LowStockReached` if it took the item from above its threshold to
    /// at or below it.
    async fn record(
        &mut self,
        event: impl Into<StockEvent>,
        at: DateTime<Utc>,
        sink: &EventSink<Self>,
    ) {
        let was_low = self.low;
        sink.write(event.into(), self).await;
        if was_low || !self.low {
            return;
        }
        if let Some(low_stock_threshold) = self.low_stock_threshold() {
            let reached = LowStockReached {
                available: self.available(),
                low_stock_threshold,
                reached_at: at,
            };
            sink.write(reached.into(), self).await;
        }
    }

    /// The listing of a registered item, or `NotFound`.
    fn listing(&self) -> Result<&Listing, StockError> {
        self.listing.as_ref().ok_or(StockError::NotFound)
    }

    /// Checks that a farmer manages only its own item (admins and the system pass).
    fn check_owner(&self, by: &Actor) -> Result<(), StockError> {
        let listing = self.listing()?;
        if by.role == Role::Farmer && by.sub != listing.farmer_id {
            return Err(StockError::NotOwner);
        }
        Ok(())
    }

    async fn register(
        &mut self,
        by: &Actor,
        at: DateTime<Utc>,
        command: RegisterStockItem,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        if self.is_registered() {
            return Err(StockError::AlreadyRegistered);
        }
        let farmer_id = match (by.role, command.farmer_id) {
            (Role::Farmer, Some(named)) if named != by.sub => {
                return Err(StockError::FarmerMismatch);
            }
            (Role::Farmer, _) => by.sub.clone(),
            (_, Some(named)) => named,
            (_, None) => return Err(StockError::FarmerRequired),
        };
        let registered = StockItemRegistered {
            stock_item_id: command.stock_item_id,
            farmer_id,
            product_name: command.product_name,
            category: command.category,
            unit: command.unit,
            unit_price_cents: command.unit_price_cents,
            quality_grade: command.quality_grade,
            harvest_date: command.harvest_date,
            certifications: command.certifications,
            low_stock_threshold: command.low_stock_threshold,
            initial_quantity: command.initial_quantity,
            registered_at: at,
        };
        self.record(registered, at, sink).await;
        Ok(())
    }

    async fn receive(
        &mut self,
        by: &Actor,
        at: DateTime<Utc>,
        quantity: PositiveQuantity,
        purchase_id: Option<PurchaseId>,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        self.check_owner(by)?;
        let on_hand = self
            .on_hand
            .checked_add(quantity.quantity())
            .ok_or(StockError::QuantityOverflow)?;
        let received = StockReceived {
            quantity,
            purchase_id,
            levels: StockLevels {
                on_hand,
                reserved: self.reserved,
            },
            received_at: at,
        };
        self.record(received, at, sink).await;
        Ok(())
    }

    async fn adjust(
        &mut self,
        by: &Actor,
        at: DateTime<Utc>,
        delta: QuantityDelta,
        reason: Reason,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        self.check_owner(by)?;
        let below_reserved = StockError::BelowReserved {
            on_hand: self.on_hand,
            reserved: self.reserved,
            delta,
        };
        let on_hand = match self.on_hand.checked_apply(delta) {
            Some(on_hand) if on_hand < self.reserved => return Err(below_reserved),
            Some(on_hand) => on_hand,
            None if delta.get() < 0 => return Err(below_reserved),
            None => return Err(StockError::QuantityOverflow),
        };
        let adjusted = StockAdjusted {
            delta,
            reason,
            levels: StockLevels {
                on_hand,
                reserved: self.reserved,
            },
            adjusted_at: at,
        };
        self.record(adjusted, at, sink).await;
        Ok(())
    }

    async fn change_price(
        &mut self,
        by: &Actor,
        at: DateTime<Utc>,
        unit_price_cents: Cents,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        self.check_owner(by)?;
        let previous_unit_price_cents = self.listing()?.unit_price_cents;
        if previous_unit_price_cents == unit_price_cents {
            return Ok(());
        }
        let changed = PriceChanged {
            previous_unit_price_cents,
            unit_price_cents,
            changed_at: at,
        };
        self.record(changed, at, sink).await;
        Ok(())
    }

    async fn quarantine(
        &mut self,
        by: &Actor,
        at: DateTime<Utc>,
        reason: Reason,
        inspection_id: Option<InspectionId>,
        inspected_farmer_id: Option<ActorId>,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        let listing = self.listing()?;
        // The farm is checked before the quarantine state: a violation naming another farm's
        // item is refused whether or not that item happens to be quarantined already.
        if let Some(inspected_farmer_id) = inspected_farmer_id
            && inspected_farmer_id != listing.farmer_id
        {
            return match (by.role, inspection_id) {
                // The inspection process cannot be answered with an error it would only log:
                // its refusal is recorded on the item, for the audit and for the process.
                (Role::System, Some(inspection_id)) => {
                    let refused = StockQuarantineRefused {
                        reason,
                        inspection_id,
                        inspected_farmer_id,
                        refused_at: at,
                    };
                    self.record(refused, at, sink).await;
                    Ok(())
                }
                _ => Err(StockError::OtherFarm),
            };
        }
        if self.quarantined {
            return Err(StockError::AlreadyQuarantined);
        }
        let quarantined = StockQuarantined {
            reason,
            inspection_id,
            quarantined_at: at,
        };
        self.record(quarantined, at, sink).await;
        Ok(())
    }

    async fn release_quarantine(
        &mut self,
        at: DateTime<Utc>,
        reason: Reason,
        inspection_id: Option<InspectionId>,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        self.listing()?;
        if !self.quarantined {
            return Err(StockError::NotQuarantined);
        }
        let released = QuarantineReleased {
            reason,
            inspection_id,
            released_at: at,
        };
        self.record(released, at, sink).await;
        Ok(())
    }

    async fn reserve(
        &mut self,
        at: DateTime<Utc>,
        order_id: OrderId,
        farmer_id: ActorId,
        quantity: PositiveQuantity,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        let listing = self.listing()?;
        // At most one open reservation per order: a repeat while it is open does nothing.
        if self.held.contains_key(&order_id) {
            return Ok(());
        }
        let available = self.available();
        let refusal = if farmer_id != listing.farmer_id {
            Some(ReservationRefusal::OtherFarmer)
        } else if self.quarantined {
            Some(ReservationRefusal::Quarantined)
        } else if available < quantity.quantity() {
            Some(ReservationRefusal::InsufficientStock { available })
        } else {
            None
        };
        if let Some(reason) = refusal {
            let refused = StockReservationRefused {
                order_id,
                quantity,
                reason,
                refused_at: at,
            };
            self.record(refused, at, sink).await;
            return Ok(());
        }
        let product_name = listing.product_name.clone();
        let unit_price_cents = listing.unit_price_cents;
        // Never overflows: reserved + quantity <= on_hand since quantity <= available.
        let reserved = self
            .reserved
            .checked_add(quantity.quantity())
            .ok_or(StockError::QuantityOverflow)?;
        let reserved_event = StockReserved {
            order_id,
            quantity,
            product_name,
            unit_price_cents,
            levels: StockLevels {
                on_hand: self.on_hand,
                reserved,
            },
            reserved_at: at,
        };
        self.record(reserved_event, at, sink).await;
        Ok(())
    }

    async fn release_reservation(
        &mut self,
        at: DateTime<Utc>,
        order_id: OrderId,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        self.listing()?;
        let Some(quantity) = self.held_for(order_id) else {
            return Ok(());
        };
        // Held units are always counted in `reserved`, so this never saturates.
        let reserved = self.reserved.saturating_sub(quantity.quantity());
        let released = ReservationReleased {
            order_id,
            quantity,
            levels: StockLevels {
                on_hand: self.on_hand,
                reserved,
            },
            released_at: at,
        };
        self.record(released, at, sink).await;
        Ok(())
    }

    async fn commit_reservation(
        &mut self,
        at: DateTime<Utc>,
        order_id: OrderId,
        sink: &EventSink<Self>,
    ) -> Result<(), StockError> {
        self.listing()?;
        let Some(quantity) = self.held_for(order_id) else {
            return Ok(());
        };
        // Held units are always counted in `reserved <= on_hand`, so neither saturates.
        let committed = ReservationCommitted {
            order_id,
            quantity,
            levels: StockLevels {
                on_hand: self.on_hand.saturating_sub(quantity.quantity()),
                reserved: self.reserved.saturating_sub(quantity.quantity()),
            },
            committed_at: at,
        };
        self.record(committed, at, sink).await;
        Ok(())
    }
}

/// Whether `role` may issue `command` at all (API.md's role table; `System` for the processes).
fn role_allowed(role: Role, command: &StockCommand) -> bool {
    match command {
        StockCommand::RegisterStockItem(_)
        | StockCommand::AdjustStock { .. }
        | StockCommand::ChangePrice { .. } => matches!(role, Role::Farmer | Role::Admin),
        StockCommand::ReceiveStock { .. } => {
            matches!(role, Role::Farmer | Role::Admin | Role::System)
        }
        StockCommand::QuarantineStock { .. } | StockCommand::ReleaseQuarantine { .. } => {
            matches!(role, Role::Inspector | Role::Admin | Role::System)
        }
        StockCommand::ReserveStock { .. }
        | StockCommand::ReleaseReservation { .. }
        | StockCommand::CommitReservation { .. } => matches!(role, Role::System | Role::Admin),
    }
}

impl Aggregate for StockItem {
    const TYPE: &'static str = "stock";
    type Command = Issued<StockCommand>;
    type Event = StockEvent;
    type Error = StockError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let Issued { by, at, command } = command;
        if !role_allowed(by.role, &command) {
            return Err(StockError::RoleNotAllowed { role: by.role });
        }
        match command {
            StockCommand::RegisterStockItem(register) => {
                self.register(&by, at, register, sink).await
            }
            StockCommand::ReceiveStock {
                quantity,
                purchase_id,
            } => self.receive(&by, at, quantity, purchase_id, sink).await,
            StockCommand::AdjustStock { delta, reason } => {
                self.adjust(&by, at, delta, reason, sink).await
            }
            StockCommand::ChangePrice { unit_price_cents } => {
                self.change_price(&by, at, unit_price_cents, sink).await
            }
            StockCommand::QuarantineStock {
                reason,
                inspection_id,
                inspected_farmer_id,
            } => {
                self.quarantine(&by, at, reason, inspection_id, inspected_farmer_id, sink)
                    .await
            }
            StockCommand::ReleaseQuarantine {
                reason,
                inspection_id,
            } => {
                self.release_quarantine(at, reason, inspection_id, sink)
                    .await
            }
            StockCommand::ReserveStock {
                order_id,
                farmer_id,
                quantity,
            } => self.reserve(at, order_id, farmer_id, quantity, sink).await,
            StockCommand::ReleaseReservation { order_id } => {
                self.release_reservation(at, order_id, sink).await
            }
            StockCommand::CommitReservation { order_id } => {
                self.commit_reservation(at, order_id, sink).await
            }
        }
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            StockEvent::StockItemRegistered(e) => {
                *self = Self {
                    listing: Some(Listing {
                        stock_item_id: e.stock_item_id,
                        farmer_id: e.farmer_id,
                        product_name: e.product_name,
                        category: e.category,
                        unit: e.unit,
                        unit_price_cents: e.unit_price_cents,
                        quality_grade: e.quality_grade,
                        harvest_date: e.harvest_date,
                        certifications: e.certifications,
                        low_stock_threshold: e.low_stock_threshold,
                        registered_at: e.registered_at,
                    }),
                    ..Self::default()
                };
                self.set_levels(StockLevels {
                    on_hand: e.initial_quantity,
                    reserved: Quantity::ZERO,
                });
            }
            StockEvent::StockReceived(e) => self.set_levels(e.levels),
            StockEvent::StockAdjusted(e) => self.set_levels(e.levels),
            StockEvent::PriceChanged(e) => {
                if let Some(listing) = self.listing.as_mut() {
                    listing.unit_price_cents = e.unit_price_cents;
                }
            }
            StockEvent::StockReserved(e) => {
                self.set_levels(e.levels);
                self.held.insert(e.order_id, e.quantity);
            }
            // A refusal sets nothing aside and leaves nothing open.
            StockEvent::StockReservationRefused(_) => {}
            StockEvent::ReservationReleased(e) => {
                self.set_levels(e.levels);
                self.held.remove(&e.order_id);
            }
            StockEvent::ReservationCommitted(e) => {
                self.set_levels(e.levels);
                self.held.remove(&e.order_id);
            }
            // The low flag follows the levels; this event only records the crossing.
            StockEvent::LowStockReached(_) => {}
            StockEvent::StockQuarantined(_) => self.quarantined = true,
            StockEvent::QuarantineReleased(_) => self.quarantined = false,
            // A refused quarantine changes nothing: the item stays as it was.
            StockEvent::StockQuarantineRefused(_) => {}
        }
    }
}

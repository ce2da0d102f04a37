//! Synthetic farm activity appended straight to the log: whole lives of stock items, orders,
//! deliveries, inspections and purchases, with consistent levels and hash chains. Benchmarks
//! and failure tests need a realistic log of a million events in a minute, which commands
//! through the executors cannot give.

use chrono::{TimeDelta, Utc};
use cqrs_es::DomainEvent;
use event_schemas::values::{
    Actor, ActorId, Address, AddressParts, CarrierId, Category, Cents, Description, GeoPoint,
    InspectionId, InvalidValue, Latitude, Longitude, OrderId, PositiveQuantity, ProductName,
    PurchaseId, QualityGrade, Quantity, Reason, RecipientName, Resolution, Role, Score, Severity,
    StockItemId, SupplierId, SupplierOrderRef, TrackingRef, Unit, ViolationCode, ViolationId,
};
use event_schemas::{
    CarrierReserved, ChainHash, DeliveryCompleted, DeliveryEvent, DeliveryFailed, DeliveryPickedUp,
    DeliveryScheduled, DeliveryWindow, DriverAssigned, EventMetadata, GoodsReceived,
    InspectionEvent, InspectionPassed, InspectionScheduled, InspectionStarted, LocationUpdated,
    OrderCancelled, OrderConfirmed, OrderDelivered, OrderDeliveryFailed, OrderEvent,
    OrderInTransit, OrderLine, OrderPlaced, OrderPreparing, OrderReadyForPickup, OrderRejected,
    OrderStatus, PriceChanged, PricedLine, PurchaseCompleted, PurchaseEvent, PurchaseReceived,
    RefusedLine, ReservationCommitted, ReservationRefusal, ReservationReleased, StockEvent,
    StockItemRegistered, StockLevels, StockReceived, StockReservationRefused, StockReserved,
    SupplierOrderRequested, ViolationRecorded, ViolationResolved,
};
use event_store::{AppendRequest, EventStore, NewEvent, Position, StoreError, StreamId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use uuid::Uuid;

/// Why a simulation step failed.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// The log refused an append.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value out of the domain's bounds (a bug of the simulator).
    #[error(transparent)]
    Value(#[from] InvalidValue),
    /// An event that does not serialize.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// A stock item the simulator sells from.
#[derive(Debug, Clone)]
struct Item {
    id: StockItemId,
    farmer: ActorId,
    product: ProductName,
    price: Cents,
    on_hand: u64,
    version: u64,
    hash: ChainHash,
}

/// Appends synthetic activity; each simulator owns its stock items, so several can run at
/// once against one log without conflicting.
#[derive(Debug)]
pub struct Simulator {
    store: EventStore,
    rng: StdRng,
    farmers: Vec<ActorId>,
    items: Vec<Item>,
    steps: u64,
    last: Position,
}

impl Simulator {
    /// A simulator appending to `store`, its choices drawn from `seed`.
    pub fn new(store: EventStore, seed: u64) -> Result<Self, SimulationError> {
        let farmers = (0..4)
            .map(|n| ActorId::parse(&format!("farmer-{seed}-{n}")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            store,
            rng: StdRng::seed_from_u64(seed),
            farmers,
            items: Vec::new(),
            steps: 0,
            last: Position::START,
        })
    }

    /// The position of the last event it appended: once a reader has passed it, it has seen
    /// everything this simulator wrote.
    pub fn last_position(&self) -> Position {
        self.last
    }

    /// Appends one step of activity (an order's whole life, now and then a new stock item, a
    /// restock, an inspection or a purchase); returns how many events it appended.
    pub async fn step(&mut self) -> Result<u64, SimulationError> {
        self.steps += 1;
        let mut events = 0;
        if self.items.is_empty() || self.steps.is_multiple_of(20) {
            events += self.register().await?;
        }
        let index = self.rng.random_range(0..self.items.len());
        if self.items[index].on_hand < 50 {
            events += self.restock(index).await?;
        }
        if self.steps.is_multiple_of(10) {
            events += self.change_price(index).await?;
        }
        if self.steps.is_multiple_of(25) {
            events += self.inspection(index).await?;
        }
        if self.steps.is_multiple_of(15) {
            events += self.purchase(index).await?;
        }
        let roll: f64 = self.rng.random();
        events += if roll < 0.7 {
            self.delivered_order(index).await?
        } else if roll < 0.85 {
            self.cancelled_order(index).await?
        } else {
            self.rejected_order(index).await?
        };
        Ok(events)
    }

    async fn register(&mut self) -> Result<u64, SimulationError> {
        let id = StockItemId::from_uuid(Uuid::now_v7());
        let farmer = self.farmers[self.rng.random_range(0..self.farmers.len())].clone();
        let categories = [
            Category::Vegetables,
            Category::Fruits,
            Category::Herbs,
            Category::Dairy,
            Category::Grains,
            Category::Eggs,
            Category::Meat,
        ];
        let category = categories[self.rng.random_range(0..categories.len())];
        let product = ProductName::parse(&format!("Produce {}", self.rng.random_range(0..50)))?;
        let price = Cents::new(self.rng.random_range(100..5000))?;
        let on_hand = self.rng.random_range(200..2000);
        let event = StockEvent::StockItemRegistered(StockItemRegistered {
            stock_item_id: id,
            farmer_id: farmer.clone(),
            product_name: product.clone(),
            category,
            unit: Unit::Kg,
            unit_price_cents: price,
            quality_grade: QualityGrade::A,
            harvest_date: None,
            certifications: Vec::new(),
            low_stock_threshold: Quantity::new(20)?,
            initial_quantity: Quantity::new(on_hand)?,
            registered_at: Utc::now(),
        });
        let mut item = Item {
            id,
            farmer,
            product,
            price,
            on_hand,
            version: 0,
            hash: ChainHash::GENESIS,
        };
        self.append_stock(&mut item, vec![event]).await?;
        self.items.push(item);
        Ok(1)
    }

    async fn restock(&mut self, index: usize) -> Result<u64, SimulationError> {
        let mut item = self.items[index].clone();
        let quantity = self.rng.random_range(500..1500);
        item.on_hand += quantity;
        let event = StockEvent::StockReceived(StockReceived {
            quantity: PositiveQuantity::new(quantity)?,
            purchase_id: None,
            levels: levels(item.on_hand, 0)?,
            received_at: Utc::now(),
        });
        self.append_stock(&mut item, vec![event]).await?;
        self.items[index] = item;
        Ok(1)
    }

    async fn change_price(&mut self, index: usize) -> Result<u64, SimulationError> {
        let mut item = self.items[index].clone();
        let previous = item.price;
        item.price = Cents::new(previous.get() + 10)?;
        let event = StockEvent::PriceChanged(PriceChanged {
            previous_unit_price_cents: previous,
            unit_price_cents: item.price,
            changed_at: Utc::now(),
        });
        self.append_stock(&mut item, vec![event]).await?;
        self.items[index] = item;
        Ok(1)
    }

    /// Placed, reserved, confirmed, prepared, delivered, committed: 13 events; one order in
    /// ten has a first delivery that fails on the way (6 more events).
    async fn delivered_order(&mut self, index: usize) -> Result<u64, SimulationError> {
        let mut item = self.items[index].clone();
        let quantity = self.rng.random_range(1..10);
        let order_id = OrderId::from_uuid(Uuid::now_v7());
        let delivery_id = event_schemas::values::DeliveryId::from_uuid(Uuid::now_v7());
        let order = StreamId::new("order", order_id.to_string());
        let now = Utc::now();
        let placed = self.placed(order_id, &item, quantity)?;
        let mut order_version = self
            .append(&order, 0, ChainHash::GENESIS, vec![placed])
            .await?;
        self.reserve(&mut item, order_id, quantity).await?;
        let line_total = item
            .price
            .times(Quantity::new(quantity)?)
            .unwrap_or(item.price);
        let confirmed = OrderEvent::OrderConfirmed(OrderConfirmed {
            lines: vec![PricedLine {
                stock_item_id: item.id,
                product_name: item.product.clone(),
                quantity: PositiveQuantity::new(quantity)?,
                unit_price_cents: item.price,
                line_total_cents: line_total,
            }],
            total_cents: line_total,
            confirmed_at: now,
        });
        let preparing = OrderEvent::OrderPreparing(OrderPreparing { at: now });
        let ready = OrderEvent::OrderReadyForPickup(OrderReadyForPickup { at: now });
        order_version = self
            .append(
                &order,
                order_version.0,
                order_version.1,
                vec![confirmed, preparing, ready],
            )
            .await?;
        let mut events = 13;
        if self.rng.random_bool(0.1) {
            order_version = self.failed_delivery(order_id, order_version).await?;
            events += 6;
        }
        let delivery = StreamId::new("delivery", delivery_id.to_string());
        let mut delivery_events = self.picked_up(delivery_id, order_id)?;
        delivery_events.push(DeliveryEvent::LocationUpdated(LocationUpdated {
            location: GeoPoint {
                lat: Latitude::new(self.rng.random_range(-60.0..60.0))?,
                lon: Longitude::new(self.rng.random_range(-150.0..150.0))?,
            },
            recorded_at: now,
            eta: Some(now + TimeDelta::hours(1)),
        }));
        let delivery_version = self
            .append(&delivery, 0, ChainHash::GENESIS, delivery_events)
            .await?;
        let in_transit = OrderEvent::OrderInTransit(OrderInTransit {
            delivery_id,
            at: now,
        });
        order_version = self
            .append(&order, order_version.0, order_version.1, vec![in_transit])
            .await?;
        let completed = DeliveryEvent::DeliveryCompleted(DeliveryCompleted {
            order_id,
            recipient_name: RecipientName::parse("Chef")?,
            proof_ref: Some(event_schemas::values::ProofRef::parse("photo-1")?),
            delivered_at: now,
        });
        self.append(
            &delivery,
            delivery_version.0,
            delivery_version.1,
            vec![completed],
        )
        .await?;
        let delivered = OrderEvent::OrderDelivered(OrderDelivered {
            delivery_id,
            at: now,
        });
        self.append(&order, order_version.0, order_version.1, vec![delivered])
            .await?;
        let committed = StockEvent::ReservationCommitted(ReservationCommitted {
            order_id,
            quantity: PositiveQuantity::new(quantity)?,
            levels: levels(item.on_hand - quantity, 0)?,
            committed_at: now,
        });
        item.on_hand -= quantity;
        self.append_stock(&mut item, vec![committed]).await?;
        self.items[index] = item;
        Ok(events)
    }

    /// A delivery of the order scheduled, assigned and picked up: its first 3 events.
    fn picked_up(
        &mut self,
        delivery_id: event_schemas::values::DeliveryId,
        order_id: OrderId,
    ) -> Result<Vec<DeliveryEvent>, SimulationError> {
        let now = Utc::now();
        let driver = ActorId::parse(&format!("driver-{}", self.rng.random_range(0..20)))?;
        Ok(vec![
            DeliveryEvent::DeliveryScheduled(DeliveryScheduled {
                delivery_id,
                order_id,
                pickup_address: None,
                dropoff_address: address()?,
                window: DeliveryWindow {
                    start: now,
                    end: now + TimeDelta::hours(24),
                },
                scheduled_at: now,
            }),
            DeliveryEvent::DriverAssigned(DriverAssigned {
                driver_id: driver.clone(),
                vehicle: None,
                assigned_at: now,
            }),
            DeliveryEvent::DeliveryPickedUp(DeliveryPickedUp {
                order_id,
                driver_id: driver,
                picked_up_at: now,
            }),
        ])
    }

    /// A delivery of the ready order that fails on the way, which sends the order back to the
    /// farm: 4 delivery events and 2 order events. Returns the order's new version and hash.
    async fn failed_delivery(
        &mut self,
        order_id: OrderId,
        order_version: (u64, ChainHash),
    ) -> Result<(u64, ChainHash), SimulationError> {
        let now = Utc::now();
        let delivery_id = event_schemas::values::DeliveryId::from_uuid(Uuid::now_v7());
        let delivery = StreamId::new("delivery", delivery_id.to_string());
        let reason = Reason::parse("Restaurant closed")?;
        let order = StreamId::new("order", order_id.to_string());
        // In the order the processes would write them: pickup, the order in transit, the
        // failure, the order back at the farm.
        let picked_up = self.picked_up(delivery_id, order_id)?;
        let delivery_version = self
            .append(&delivery, 0, ChainHash::GENESIS, picked_up)
            .await?;
        let in_transit = OrderEvent::OrderInTransit(OrderInTransit {
            delivery_id,
            at: now,
        });
        let order_version = self
            .append(&order, order_version.0, order_version.1, vec![in_transit])
            .await?;
        let failed = DeliveryEvent::DeliveryFailed(DeliveryFailed {
            order_id,
            reason: reason.clone(),
            failed_at: now,
        });
        self.append(
            &delivery,
            delivery_version.0,
            delivery_version.1,
            vec![failed],
        )
        .await?;
        let back = OrderEvent::OrderDeliveryFailed(OrderDeliveryFailed {
            delivery_id,
            reason,
            failed_deliveries: 1,
            failed_at: now,
        });
        self.append(&order, order_version.0, order_version.1, vec![back])
            .await
    }

    /// Placed, reserved, confirmed, cancelled, released: 5 events.
    async fn cancelled_order(&mut self, index: usize) -> Result<u64, SimulationError> {
        let mut item = self.items[index].clone();
        let quantity = self.rng.random_range(1..10);
        let order_id = OrderId::from_uuid(Uuid::now_v7());
        let order = StreamId::new("order", order_id.to_string());
        let now = Utc::now();
        let placed = self.placed(order_id, &item, quantity)?;
        let version = self
            .append(&order, 0, ChainHash::GENESIS, vec![placed])
            .await?;
        self.reserve(&mut item, order_id, quantity).await?;
        let total = item
            .price
            .times(Quantity::new(quantity)?)
            .unwrap_or(item.price);
        let events = vec![
            OrderEvent::OrderConfirmed(OrderConfirmed {
                lines: vec![PricedLine {
                    stock_item_id: item.id,
                    product_name: item.product.clone(),
                    quantity: PositiveQuantity::new(quantity)?,
                    unit_price_cents: item.price,
                    line_total_cents: total,
                }],
                total_cents: total,
                confirmed_at: now,
            }),
            OrderEvent::OrderCancelled(OrderCancelled {
                reason: Reason::parse("changed our menu")?,
                previous_status: OrderStatus::Confirmed,
                cancelled_at: now,
            }),
        ];
        self.append(&order, version.0, version.1, events).await?;
        let released = StockEvent::ReservationReleased(ReservationReleased {
            order_id,
            quantity: PositiveQuantity::new(quantity)?,
            levels: levels(item.on_hand, 0)?,
            released_at: now,
        });
        self.append_stock(&mut item, vec![released]).await?;
        self.items[index] = item;
        Ok(5)
    }

    /// Placed, refused (not enough stock), rejected: 3 events.
    async fn rejected_order(&mut self, index: usize) -> Result<u64, SimulationError> {
        let mut item = self.items[index].clone();
        let quantity = item.on_hand + 1;
        let order_id = OrderId::from_uuid(Uuid::now_v7());
        let order = StreamId::new("order", order_id.to_string());
        let now = Utc::now();
        let placed = self.placed(order_id, &item, quantity)?;
        let version = self
            .append(&order, 0, ChainHash::GENESIS, vec![placed])
            .await?;
        let reason = ReservationRefusal::InsufficientStock {
            available: Quantity::new(item.on_hand)?,
        };
        let refused = StockEvent::StockReservationRefused(StockReservationRefused {
            order_id,
            quantity: PositiveQuantity::new(quantity)?,
            reason: reason.clone(),
            refused_at: now,
        });
        self.append_stock(&mut item, vec![refused]).await?;
        let rejected = OrderEvent::OrderRejected(OrderRejected {
            reason: Reason::parse("not enough stock")?,
            refused_lines: vec![RefusedLine {
                stock_item_id: item.id,
                reason,
            }],
            rejected_at: now,
        });
        self.append(&order, version.0, version.1, vec![rejected])
            .await?;
        self.items[index] = item;
        Ok(3)
    }

    /// Scheduled, started, a minor violation recorded and resolved, passed: 5 events.
    async fn inspection(&mut self, index: usize) -> Result<u64, SimulationError> {
        let item = &self.items[index];
        let id = InspectionId::from_uuid(Uuid::now_v7());
        let now = Utc::now();
        let violation_id = ViolationId::from_uuid(Uuid::now_v7());
        let inspector = ActorId::parse("inspector-1")?;
        let events = vec![
            InspectionEvent::InspectionScheduled(InspectionScheduled {
                inspection_id: id,
                farmer_id: item.farmer.clone(),
                inspector_id: inspector,
                scheduled_for: now,
                scheduled_at: now,
            }),
            InspectionEvent::InspectionStarted(InspectionStarted { started_at: now }),
            InspectionEvent::ViolationRecorded(ViolationRecorded {
                violation_id,
                farmer_id: item.farmer.clone(),
                code: ViolationCode::parse("LABEL-1")?,
                severity: Severity::Minor,
                description: Description::parse("a label is missing")?,
                stock_item_ids: vec![item.id],
                recorded_at: now,
            }),
            InspectionEvent::ViolationResolved(ViolationResolved {
                violation_id,
                severity: Severity::Minor,
                resolution: Resolution::parse("labelled")?,
                resolved_at: now,
            }),
            InspectionEvent::InspectionPassed(InspectionPassed {
                farmer_id: item.farmer.clone(),
                score: Score::new(self.rng.random_range(70..=100))?,
                notes: None,
                completed_at: now,
            }),
        ];
        let stream = StreamId::new("inspection", id.to_string());
        self.append(&stream, 0, ChainHash::GENESIS, events).await?;
        Ok(5)
    }

    /// A purchase from request to completion, and the stock it brings: 6 events.
    async fn purchase(&mut self, index: usize) -> Result<u64, SimulationError> {
        let mut item = self.items[index].clone();
        let id = PurchaseId::from_uuid(Uuid::now_v7());
        let now = Utc::now();
        let quantity = self.rng.random_range(100..500);
        let cost = Cents::new(100)?;
        let events = vec![
            PurchaseEvent::PurchaseReceived(PurchaseReceived {
                purchase_id: id,
                stock_item_id: item.id,
                farmer_id: item.farmer.clone(),
                supplier_id: SupplierId::parse("supplier-1")?,
                quantity: PositiveQuantity::new(quantity)?,
                unit_cost_cents: cost,
                total_cost_cents: cost.times(Quantity::new(quantity)?).unwrap_or(cost),
                voucher_code: None,
                received_at: now,
            }),
            PurchaseEvent::SupplierOrderRequested(SupplierOrderRequested {
                supplier_order_ref: SupplierOrderRef::parse("so-1")?,
                requested_at: now,
            }),
            PurchaseEvent::CarrierReserved(CarrierReserved {
                carrier_id: CarrierId::parse("carrier-1")?,
                tracking_ref: TrackingRef::parse("tr-1")?,
                eta: now + TimeDelta::days(2),
                reserved_at: now,
            }),
            PurchaseEvent::GoodsReceived(GoodsReceived {
                stock_item_id: item.id,
                quantity_received: PositiveQuantity::new(quantity)?,
                received_at: now,
            }),
            PurchaseEvent::PurchaseCompleted(PurchaseCompleted { completed_at: now }),
        ];
        let stream = StreamId::new("purchase", id.to_string());
        self.append(&stream, 0, ChainHash::GENESIS, events).await?;
        item.on_hand += quantity;
        let received = StockEvent::StockReceived(StockReceived {
            quantity: PositiveQuantity::new(quantity)?,
            purchase_id: Some(id),
            levels: levels(item.on_hand, 0)?,
            received_at: now,
        });
        self.append_stock(&mut item, vec![received]).await?;
        self.items[index] = item;
        Ok(6)
    }

    fn placed(
        &self,
        order_id: OrderId,
        item: &Item,
        quantity: u64,
    ) -> Result<OrderEvent, SimulationError> {
        Ok(OrderEvent::OrderPlaced(OrderPlaced {
            order_id,
            customer_id: ActorId::parse(&format!(
                "restaurant-{}",
                order_id.as_uuid().as_u128() % 50
            ))?,
            farmer_id: item.farmer.clone(),
            lines: vec![OrderLine {
                stock_item_id: item.id,
                quantity: PositiveQuantity::new(quantity)?,
            }],
            delivery_address: address()?,
            requested_delivery_date: None,
            notes: None,
            placed_at: Utc::now(),
        }))
    }

    async fn reserve(
        &mut self,
        item: &mut Item,
        order_id: OrderId,
        quantity: u64,
    ) -> Result<(), SimulationError> {
        let reserved = StockEvent::StockReserved(StockReserved {
            order_id,
            quantity: PositiveQuantity::new(quantity)?,
            product_name: item.product.clone(),
            unit_price_cents: item.price,
            levels: levels(item.on_hand, quantity)?,
            reserved_at: Utc::now(),
        });
        self.append_stock(item, vec![reserved]).await
    }

    async fn append_stock(
        &mut self,
        item: &mut Item,
        events: Vec<StockEvent>,
    ) -> Result<(), SimulationError> {
        let stream = StreamId::new("stock", item.id.to_string());
        (item.version, item.hash) = self
            .append(&stream, item.version, item.hash, events)
            .await?;
        Ok(())
    }

    async fn append<E: DomainEvent + Serialize>(
        &mut self,
        stream: &StreamId,
        version: u64,
        hash: ChainHash,
        events: Vec<E>,
    ) -> Result<(u64, ChainHash), SimulationError> {
        let by = Actor::new(ActorId::parse("simulator")?, Role::Admin);
        let events = events
            .iter()
            .map(|event| new_event(&by, event))
            .collect::<Result<Vec<_>, _>>()?;
        let appended = self
            .store
            .append(AppendRequest {
                stream: stream.clone(),
                expected_version: version,
                prev_hash: hash,
                events,
                idempotency: None,
            })
            .await?;
        self.last = self.last.max(appended.position);
        Ok((appended.version, appended.last_hash))
    }
}

fn levels(on_hand: u64, reserved: u64) -> Result<StockLevels, InvalidValue> {
    Ok(StockLevels {
        on_hand: Quantity::new(on_hand)?,
        reserved: Quantity::new(reserved)?,
    })
}

fn address() -> Result<Address, InvalidValue> {
    Address::parse(AddressParts {
        line1: "1 Market Street".into(),
        line2: None,
        city: "Lyon".into(),
        postal_code: "69001".into(),
        country: "FR".into(),
    })
    .map_err(|(_, e)| e)
}

fn new_event<E: DomainEvent + Serialize>(
    by: &Actor,
    event: &E,
) -> Result<NewEvent, serde_json::Error> {
    let id = Uuid::now_v7();
    Ok(NewEvent {
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_value(event)?,
        metadata: EventMetadata {
            event_id: id,
            correlation_id: id,
            causation_id: id,
            actor: by.clone(),
            command: "Simulate".into(),
            idempotency_key: None,
            request_id: id.to_string(),
            recorded_at: Utc::now(),
            prev_hash: ChainHash::GENESIS,
            hash: ChainHash::GENESIS,
        },
    })
}

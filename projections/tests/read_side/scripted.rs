//! Every read model's rows after a scripted series of commands, run through the same executors
//! as the command API; and replaying the log into fresh tables, twice, gives the same rows.

use chrono::{TimeDelta, Utc};
use domain::Issued;
use domain::delivery::{DeliveryCommand, ScheduleDelivery};
use domain::inspection::InspectionCommand;
use domain::order::{OrderCommand, PlaceOrder};
use domain::purchase::PurchaseCommand;
use domain::stock::{RegisterStockItem, StockCommand};
use event_schemas::values::{
    Actor, ActorId, Address, AddressParts, CarrierId, Category, Cents, Description, GeoPoint,
    InspectionId, Latitude, Longitude, OrderId, PositiveQuantity, ProductName, PurchaseId,
    QualityGrade, Quantity, QuantityDelta, Reason, RecipientName, Resolution, Role, Score,
    Severity, StockItemId, SupplierId, SupplierOrderRef, TrackingRef, Unit, ViolationCode,
    ViolationId,
};
use event_schemas::{DeliveryWindow, OrderLine, PricedLine, RefusedLine, ReservationRefusal};
use event_store::{CommandContext, Position};
use executors::Executors;
use projections::models::{deliveries, inspections, orders, purchases, sales, stock};
use projections::query::Page;
use uuid::Uuid;

use crate::on_both;
use crate::support::Env;

fn actor(sub: &str, role: Role) -> Actor {
    Actor::new(ActorId::parse(sub).unwrap(), role)
}

fn context(by: &Actor, command: &str) -> CommandContext {
    CommandContext::new(by.clone(), command)
}

fn address() -> Address {
    Address::parse(AddressParts {
        line1: "2 Rue Neuve".into(),
        line2: None,
        city: "Lyon".into(),
        postal_code: "69002".into(),
        country: "FR".into(),
    })
    .unwrap()
}

fn qty(n: u64) -> PositiveQuantity {
    PositiveQuantity::new(n).unwrap()
}

/// Runs commands as their actors would, through the shared executors.
struct Script {
    ex: Executors,
    /// The position of the last event appended.
    last: std::sync::Mutex<Position>,
}

macro_rules! run {
    ($self:ident, $executor:ident, $id:expr, $by:expr, $command:expr) => {{
        let command = $command;
        let name = command.name();
        let executed = $self
            .ex
            .$executor
            .execute(
                &$id.to_string(),
                Issued::new($by.clone(), Utc::now(), command),
                &context(&$by, name),
            )
            .await
            .unwrap_or_else(|e| panic!("{name} failed: {e}"));
        $self.saw(executed.position);
        executed
    }};
}

/// The ids the script made.
struct Ids {
    kale: StockItemId,
    apples: StockItemId,
    delivered: OrderId,
    rejected: OrderId,
    cancelled: OrderId,
    delivery: event_schemas::values::DeliveryId,
    failed_delivery: event_schemas::values::DeliveryId,
    inspection: InspectionId,
    violation: ViolationId,
    purchase: PurchaseId,
}

impl Script {
    fn saw(&self, position: Option<Position>) {
        if let Some(position) = position {
            let mut last = self.last.lock().unwrap();
            *last = (*last).max(position);
        }
    }

    async fn play(&self) -> Ids {
        let farmer = actor("farmer-ana", Role::Farmer);
        let restaurant = actor("resto-bob", Role::Restaurant);
        let driver = actor("driver-cy", Role::Distributor);
        let inspector = actor("inspector-di", Role::Inspector);
        let admin = actor("admin-eve", Role::Admin);
        let system = Actor::system("test");
        let ids = Ids {
            kale: StockItemId::from_uuid(Uuid::now_v7()),
            apples: StockItemId::from_uuid(Uuid::now_v7()),
            delivered: OrderId::from_uuid(Uuid::now_v7()),
            rejected: OrderId::from_uuid(Uuid::now_v7()),
            cancelled: OrderId::from_uuid(Uuid::now_v7()),
            delivery: event_schemas::values::DeliveryId::from_uuid(Uuid::now_v7()),
            failed_delivery: event_schemas::values::DeliveryId::from_uuid(Uuid::now_v7()),
            inspection: InspectionId::from_uuid(Uuid::now_v7()),
            violation: ViolationId::from_uuid(Uuid::now_v7()),
            purchase: PurchaseId::from_uuid(Uuid::now_v7()),
        };
        let register = |id, name: &str, category, unit, price, threshold, initial| {
            StockCommand::RegisterStockItem(RegisterStockItem {
                stock_item_id: id,
                farmer_id: None,
                product_name: ProductName::parse(name).unwrap(),
                category,
                unit,
                unit_price_cents: Cents::new(price).unwrap(),
                quality_grade: QualityGrade::A,
                harvest_date: None,
                certifications: Vec::new(),
                low_stock_threshold: Quantity::new(threshold).unwrap(),
                initial_quantity: Quantity::new(initial).unwrap(),
            })
        };
        let (kale, apples) = (ids.kale, ids.apples);
        run!(
            self,
            stock,
            kale,
            farmer,
            register(kale, "Kale", Category::Vegetables, Unit::Bunch, 300, 5, 20)
        );
        run!(
            self,
            stock,
            apples,
            farmer,
            register(apples, "Apples", Category::Fruits, Unit::Kg, 250, 10, 12)
        );
        run!(
            self,
            stock,
            kale,
            farmer,
            StockCommand::ReceiveStock {
                quantity: qty(10),
                purchase_id: None
            }
        );
        run!(
            self,
            stock,
            apples,
            farmer,
            StockCommand::AdjustStock {
                delta: QuantityDelta::new(-2).unwrap(),
                reason: Reason::parse("spoiled").unwrap(),
            }
        );
        run!(
            self,
            stock,
            kale,
            farmer,
            StockCommand::ChangePrice {
                unit_price_cents: Cents::new(350).unwrap()
            }
        );

        // Three orders: delivered, rejected, cancelled.
        let place = |id, lines: Vec<(StockItemId, u64)>| {
            OrderCommand::PlaceOrder(PlaceOrder {
                order_id: id,
                customer_id: None,
                farmer_id: farmer.sub.clone(),
                lines: lines
                    .into_iter()
                    .map(|(stock_item_id, n)| OrderLine {
                        stock_item_id,
                        quantity: qty(n),
                    })
                    .collect(),
                delivery_address: address(),
                requested_delivery_date: None,
                notes: None,
            })
        };
        run!(
            self,
            orders,
            ids.delivered,
            restaurant,
            place(ids.delivered, vec![(kale, 4), (apples, 2)])
        );
        run!(
            self,
            orders,
            ids.rejected,
            restaurant,
            place(ids.rejected, vec![(kale, 100)])
        );
        run!(
            self,
            orders,
            ids.cancelled,
            restaurant,
            place(ids.cancelled, vec![(apples, 1)])
        );
        let reserve = |order_id, n| StockCommand::ReserveStock {
            order_id,
            farmer_id: farmer.sub.clone(),
            quantity: qty(n),
        };
        run!(self, stock, kale, system, reserve(ids.delivered, 4));
        run!(self, stock, apples, system, reserve(ids.delivered, 2));
        let priced = |id, name: &str, n: u64, price: u64| PricedLine {
            stock_item_id: id,
            product_name: ProductName::parse(name).unwrap(),
            quantity: qty(n),
            unit_price_cents: Cents::new(price).unwrap(),
            line_total_cents: Cents::new(n * price).unwrap(),
        };
        run!(
            self,
            orders,
            ids.delivered,
            system,
            OrderCommand::ConfirmOrder {
                lines: vec![
                    priced(kale, "Kale", 4, 350),
                    priced(apples, "Apples", 2, 250)
                ],
            }
        );
        run!(self, stock, kale, system, reserve(ids.rejected, 100));
        run!(
            self,
            orders,
            ids.rejected,
            system,
            OrderCommand::RejectOrder {
                reason: Reason::parse("not enough kale").unwrap(),
                refused_lines: vec![RefusedLine {
                    stock_item_id: kale,
                    reason: ReservationRefusal::InsufficientStock {
                        available: Quantity::new(26).unwrap()
                    },
                }],
            }
        );
        run!(self, stock, apples, system, reserve(ids.cancelled, 1));
        run!(
            self,
            orders,
            ids.cancelled,
            system,
            OrderCommand::ConfirmOrder {
                lines: vec![priced(apples, "Apples", 1, 250)],
            }
        );
        run!(
            self,
            orders,
            ids.cancelled,
            restaurant,
            OrderCommand::CancelOrder {
                reason: Reason::parse("menu changed").unwrap(),
            }
        );
        run!(
            self,
            stock,
            apples,
            system,
            StockCommand::ReleaseReservation {
                order_id: ids.cancelled
            }
        );

        // The delivered order's trip.
        run!(
            self,
            orders,
            ids.delivered,
            farmer,
            OrderCommand::MarkPreparing
        );
        run!(
            self,
            orders,
            ids.delivered,
            farmer,
            OrderCommand::MarkReadyForPickup
        );
        let now = Utc::now();
        // A first delivery fails on the way: the order goes back to the farm.
        run!(
            self,
            deliveries,
            ids.failed_delivery,
            admin,
            DeliveryCommand::ScheduleDelivery(ScheduleDelivery {
                delivery_id: ids.failed_delivery,
                order_id: ids.delivered,
                pickup_address: None,
                dropoff_address: address(),
                window: DeliveryWindow {
                    start: now,
                    end: now + TimeDelta::hours(4)
                },
            })
        );
        run!(
            self,
            deliveries,
            ids.failed_delivery,
            driver,
            DeliveryCommand::AssignDriver {
                driver_id: None,
                vehicle: None
            }
        );
        run!(
            self,
            deliveries,
            ids.failed_delivery,
            driver,
            DeliveryCommand::PickUp
        );
        run!(
            self,
            orders,
            ids.delivered,
            system,
            OrderCommand::MarkInTransit {
                delivery_id: ids.failed_delivery
            }
        );
        run!(
            self,
            deliveries,
            ids.failed_delivery,
            driver,
            DeliveryCommand::FailDelivery {
                reason: Reason::parse("restaurant closed").unwrap()
            }
        );
        run!(
            self,
            orders,
            ids.delivered,
            system,
            OrderCommand::MarkDeliveryFailed {
                delivery_id: ids.failed_delivery,
                reason: Reason::parse("restaurant closed").unwrap()
            }
        );
        run!(
            self,
            deliveries,
            ids.delivery,
            admin,
            DeliveryCommand::ScheduleDelivery(ScheduleDelivery {
                delivery_id: ids.delivery,
                order_id: ids.delivered,
                pickup_address: None,
                dropoff_address: address(),
                window: DeliveryWindow {
                    start: now,
                    end: now + TimeDelta::hours(4)
                },
            })
        );
        run!(
            self,
            deliveries,
            ids.delivery,
            driver,
            DeliveryCommand::AssignDriver {
                driver_id: None,
                vehicle: None
            }
        );
        run!(
            self,
            deliveries,
            ids.delivery,
            driver,
            DeliveryCommand::PickUp
        );
        run!(
            self,
            orders,
            ids.delivered,
            system,
            OrderCommand::MarkInTransit {
                delivery_id: ids.delivery
            }
        );
        run!(
            self,
            deliveries,
            ids.delivery,
            driver,
            DeliveryCommand::UpdateLocation {
                location: GeoPoint {
                    lat: Latitude::new(45.75).unwrap(),
                    lon: Longitude::new(4.85).unwrap()
                },
                recorded_at: Utc::now(),
                eta: Some(Utc::now() + TimeDelta::minutes(30)),
            }
        );
        run!(
            self,
            deliveries,
            ids.delivery,
            driver,
            DeliveryCommand::CompleteDelivery {
                recipient_name: RecipientName::parse("Chef Bob").unwrap(),
                proof_ref: Some(event_schemas::values::ProofRef::parse("photo-42").unwrap()),
                delivered_at: Utc::now(),
            }
        );
        run!(
            self,
            orders,
            ids.delivered,
            system,
            OrderCommand::MarkDelivered {
                delivery_id: ids.delivery
            }
        );
        run!(
            self,
            stock,
            kale,
            system,
            StockCommand::CommitReservation {
                order_id: ids.delivered
            }
        );
        run!(
            self,
            stock,
            apples,
            system,
            StockCommand::CommitReservation {
                order_id: ids.delivered
            }
        );

        // An inspection that fails the farm and quarantines the kale.
        run!(
            self,
            inspections,
            ids.inspection,
            inspector,
            InspectionCommand::ScheduleInspection {
                inspection_id: ids.inspection,
                farmer_id: farmer.sub.clone(),
                inspector_id: inspector.sub.clone(),
                scheduled_for: Utc::now(),
            }
        );
        run!(
            self,
            inspections,
            ids.inspection,
            inspector,
            InspectionCommand::StartInspection
        );
        run!(
            self,
            inspections,
            ids.inspection,
            inspector,
            InspectionCommand::RecordViolation {
                violation_id: ids.violation,
                code: ViolationCode::parse("PEST-3").unwrap(),
                severity: Severity::Critical,
                description: Description::parse("aphids").unwrap(),
                stock_item_ids: vec![kale],
            }
        );
        run!(
            self,
            stock,
            kale,
            inspector,
            StockCommand::QuarantineStock {
                reason: Reason::parse("aphids").unwrap(),
                inspection_id: Some(ids.inspection),
                inspected_farmer_id: None,
            }
        );
        run!(
            self,
            inspections,
            ids.inspection,
            inspector,
            InspectionCommand::CompleteInspection {
                score: Score::new(60).unwrap(),
                notes: None,
            }
        );

        // A purchase restocking the apples.
        run!(
            self,
            purchases,
            ids.purchase,
            farmer,
            PurchaseCommand::CreatePurchase {
                purchase_id: ids.purchase,
                stock_item_id: apples,
                supplier_id: SupplierId::parse("orchard-co").unwrap(),
                quantity: qty(50),
                unit_cost_cents: Cents::new(100).unwrap(),
                voucher_code: None,
            }
        );
        run!(
            self,
            purchases,
            ids.purchase,
            farmer,
            PurchaseCommand::RequestSupplierOrder {
                supplier_order_ref: SupplierOrderRef::parse("SO-9").unwrap(),
            }
        );
        run!(
            self,
            purchases,
            ids.purchase,
            farmer,
            PurchaseCommand::ReserveCarrier {
                carrier_id: CarrierId::parse("truckers").unwrap(),
                tracking_ref: TrackingRef::parse("TR-1").unwrap(),
                eta: Utc::now() + TimeDelta::days(1),
            }
        );
        run!(
            self,
            purchases,
            ids.purchase,
            farmer,
            PurchaseCommand::ReceiveGoods {
                quantity_received: qty(48)
            }
        );
        run!(
            self,
            stock,
            apples,
            system,
            StockCommand::ReceiveStock {
                quantity: qty(48),
                purchase_id: Some(ids.purchase)
            }
        );
        run!(
            self,
            inspections,
            ids.inspection,
            inspector,
            InspectionCommand::ResolveViolation {
                violation_id: ids.violation,
                resolution: Resolution::parse("treated").unwrap(),
            }
        );
        ids
    }
}

async fn scripted_commands_give_these_rows(env: &Env) {
    let runtime = env.runtime().await;
    let script = Script {
        ex: env.executors(),
        last: std::sync::Mutex::new(Position::START),
    };
    let ids = script.play().await;
    let last = *script.last.lock().unwrap();
    env.caught_up(last).await;
    runtime.stop().await;
    let db = &env.db;

    let kale = stock::stock_item(db, &ids.kale.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((kale.on_hand, kale.reserved, kale.available), (26, 0, 26));
    assert_eq!(kale.unit_price_cents, 350);
    assert!(kale.quarantined && !kale.low_stock);
    assert_eq!(kale.quarantine_reason.as_deref(), Some("aphids"));
    let apples = stock::stock_item(db, &ids.apples.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (apples.on_hand, apples.reserved, apples.available),
        (56, 0, 56)
    );
    assert!(!apples.low_stock && !apples.quarantined);
    let low = stock::stock_items(
        db,
        &stock::StockItemFilter {
            quarantined: Some(true),
            ..Default::default()
        },
        &Page::first(),
    )
    .await
    .unwrap();
    assert_eq!(low.total_count, 1);
    let inventory = stock::inventory_report(db).await.unwrap();
    let fruits = inventory.iter().find(|r| r.category == "fruits").unwrap();
    assert_eq!(
        (
            fruits.items,
            fruits.on_hand,
            fruits.available,
            fruits.low_stock_items
        ),
        (1, 56, 56, 0)
    );

    let delivered = orders::order(db, &ids.delivered.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivered.status, "DELIVERED");
    assert_eq!(delivered.total_cents, Some(1900));
    assert_eq!(delivered.delivery_id, Some(ids.delivery.to_string()));
    let lines: Vec<orders::OrderLineView> = serde_json::from_str(&delivered.lines).unwrap();
    assert_eq!(lines[0].product_name.as_deref(), Some("Kale"));
    assert_eq!(lines[0].unit_price_cents, Some(350));
    let timeline: Vec<(String, Option<String>)> = orders::timeline(db, &ids.delivered.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.status, t.note))
        .collect();
    let entry = |status: &str, note: Option<&str>| (status.to_owned(), note.map(str::to_owned));
    assert_eq!(
        timeline,
        [
            entry("PENDING", None),
            entry("CONFIRMED", None),
            entry("PREPARING", None),
            entry("READY_FOR_PICKUP", None),
            entry("IN_TRANSIT", None),
            entry("READY_FOR_PICKUP", Some("restaurant closed")),
            entry("IN_TRANSIT", None),
            entry("DELIVERED", None),
        ]
    );
    let failed = deliveries::delivery(db, &ids.failed_delivery.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, "FAILED");
    let rejected = orders::order(db, &ids.rejected.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (rejected.status.as_str(), rejected.closing_reason.as_deref()),
        ("REJECTED", Some("not enough kale"))
    );
    let cancelled = orders::order(db, &ids.cancelled.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.status, "CANCELLED");
    let by_customer = orders::orders(
        db,
        &orders::OrderFilter {
            customer_id: Some("resto-bob".into()),
            ..Default::default()
        },
        &Page::new(Some(2), None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            by_customer.total_count,
            by_customer.rows.len(),
            by_customer.has_next_page
        ),
        (3, 2, true)
    );
    let next = Page::new(Some(2), Some(&by_customer.rows[1].0)).unwrap();
    let rest = orders::orders(
        db,
        &orders::OrderFilter {
            customer_id: Some("resto-bob".into()),
            ..Default::default()
        },
        &next,
    )
    .await
    .unwrap();
    assert_eq!((rest.rows.len(), rest.has_next_page), (1, false));

    let delivery = deliveries::delivery(db, &ids.delivery.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.status, "DELIVERED");
    assert_eq!(delivery.driver_id.as_deref(), Some("driver-cy"));
    assert_eq!(
        (delivery.last_lat, delivery.last_lon),
        (Some(45.75), Some(4.85))
    );
    assert_eq!(delivery.proof_ref.as_deref(), Some("photo-42"));
    assert!(delivery.eta.is_some() && delivery.delivered_at.is_some());

    let inspection = inspections::inspection(db, &ids.inspection.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            inspection.status.as_str(),
            inspection.score,
            inspection.violations
        ),
        ("FAILED", Some(60), 1)
    );
    let farm = inspections::farm_compliance(db, "farmer-ana")
        .await
        .unwrap();
    assert_eq!(farm.status, "NON_COMPLIANT");
    assert!(
        farm.open_violations.is_empty(),
        "the violation was resolved"
    );
    let other = inspections::farm_compliance(db, "farmer-nobody")
        .await
        .unwrap();
    assert_eq!(other.status, "UNINSPECTED");

    let purchase = purchases::purchase(db, &ids.purchase.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (purchase.status.as_str(), purchase.quantity_received),
        ("COMPLETED", Some(48))
    );
    assert_eq!(purchase.farmer_id, "farmer-ana");

    let today = Utc::now().date_naive();
    let by_product = sales::sales_report(db, today, today, sales::SalesGrouping::Product, None)
        .await
        .unwrap();
    let summary: Vec<(String, i64, i64, i64)> = by_product
        .into_iter()
        .map(|r| (r.key, r.orders, r.quantity, r.revenue_cents))
        .collect();
    // The cancelled order's sale is gone; the rejected one never was.
    assert_eq!(
        summary,
        [("Apples".into(), 1, 2, 500), ("Kale".into(), 1, 4, 1400)]
    );
    let mine = sales::sales_report(
        db,
        today,
        today,
        sales::SalesGrouping::Farmer,
        Some("farmer-x"),
    )
    .await
    .unwrap();
    assert!(mine.is_empty());

    // Replaying the log into fresh tables, twice, gives the very same rows.
    env.assert_equals_a_fresh_replay(7).await;
    env.assert_equals_a_fresh_replay(7).await;
}

on_both!(scripted_commands, scripted_commands_give_these_rows);

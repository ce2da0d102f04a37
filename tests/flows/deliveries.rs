//! The delivery process: an order ready for pickup gets a delivery; its pickup and completion
//! move the order and commit the stock; a failed delivery sends the order back to the farm
//! and gets a new one, at most three in all.

use domain::process::{DeliveryProcess, MAX_DELIVERIES};
use event_schemas::values::Role;
use projections::models::orders;
use serde_json::json;

use crate::on_both;
use crate::support::App;

const FARMER: &str = "farmer-ada";
const RESTAURANT: &str = "bistro-rue";
const DRIVER: &str = "driver-dan";

/// An order of 4 units from a 10-unit item, confirmed, prepared and ready for pickup.
async fn ready_order(app: &App) -> (String, String) {
    let item = app.stock_item(FARMER, 10).await;
    let order = app.place_order(RESTAURANT, FARMER, &[(&item, 4)]).await;
    app.order_in(&order, "CONFIRMED").await;
    for step in ["preparing", "ready-for-pickup"] {
        app.post(
            &format!("/v1/orders/{order}/{step}"),
            (FARMER, Role::Farmer),
            &json!({}),
        )
        .await
        .expect(200);
    }
    (order, item)
}

/// Waits for the delivery scheduled for `order` as its `attempt`-th, and returns its id.
async fn scheduled(app: &App, order: &str, attempt: u32) -> String {
    app.scheduled_delivery(order, attempt).await
}

async fn drive(app: &App, delivery: &str, steps: &[(&str, serde_json::Value)]) {
    for (step, body) in steps {
        app.post(
            &format!("/v1/deliveries/{delivery}/{step}"),
            (DRIVER, Role::Distributor),
            body,
        )
        .await
        .expect(200);
    }
}

/// A delivery an admin schedules over HTTP for `order` (which need not exist); its id.
async fn admin_schedules(app: &App, order: &str) -> String {
    app.post(
        "/v1/deliveries",
        ("admin-amy", Role::Admin),
        &json!({
            "order_id": order,
            "pickup_address": {"line1": "1 Farm Road", "city": "Montreuil",
                "postal_code": "93100", "country": "FR"},
            "dropoff_address": {"line1": "12 Market Street", "city": "Paris",
                "postal_code": "75011", "country": "FR"},
            "window_start": "2026-05-04T08:00:00Z",
            "window_end": "2026-05-04T10:00:00Z",
        }),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn completed() -> (&'static str, serde_json::Value) {
    (
        "complete",
        json!({"recipient_name": "Chef Marie", "delivered_at": chrono::Utc::now()}),
    )
}

async fn a_delivery_carries_the_order_and_commits_its_stock(app: &App) {
    let (order, item) = ready_order(app).await;
    let delivery = scheduled(app, &order, 1).await;
    drive(
        app,
        &delivery,
        &[("assign", json!({})), ("pickup", json!({}))],
    )
    .await;
    app.order_in(&order, "IN_TRANSIT").await;
    drive(app, &delivery, &[completed()]).await;
    let row = app.order_in(&order, "DELIVERED").await;
    assert_eq!(row.delivery_id.as_deref(), Some(delivery.as_str()));
    // Delivered: the reserved units left the farm.
    app.stock_where(&item, "committed", |s| {
        s.on_hand == 6 && s.reserved == 0 && s.available == 6
    })
    .await;
    app.settled().await;
    let stock = app.events("stock", &item).await;
    assert_eq!(stock.last().unwrap().0, "ReservationCommitted");
    let loaded = app.executors.orders.load(&order).await.unwrap();
    assert_eq!(
        loaded.state.status(),
        Some(event_schemas::OrderStatus::Delivered)
    );
}
on_both!(
    delivered,
    a_delivery_carries_the_order_and_commits_its_stock
);

async fn a_failed_delivery_gets_another_and_the_reservation_stays(app: &App) {
    let (order, item) = ready_order(app).await;
    let first = scheduled(app, &order, 1).await;
    drive(app, &first, &[("assign", json!({})), ("pickup", json!({}))]).await;
    app.order_in(&order, "IN_TRANSIT").await;
    drive(
        app,
        &first,
        &[("fail", json!({"reason": "van broke down"}))],
    )
    .await;

    // Back at the farm, the reason on the timeline, the units still held.
    app.order_in(&order, "READY_FOR_PICKUP").await;
    let timeline = orders::timeline(&app.db, &order).await.unwrap();
    let last = timeline.last().unwrap();
    assert_eq!(last.status, "READY_FOR_PICKUP");
    assert!(
        last.note
            .as_deref()
            .unwrap_or_default()
            .contains("van broke down"),
        "{last:?}"
    );
    app.stock_where(&item, "still reserved", |s| s.reserved == 4)
        .await;

    let second = scheduled(app, &order, 2).await;
    assert_ne!(first, second);
    drive(
        app,
        &second,
        &[("assign", json!({})), ("pickup", json!({}))],
    )
    .await;
    app.order_in(&order, "IN_TRANSIT").await;
    drive(app, &second, &[completed()]).await;
    app.order_in(&order, "DELIVERED").await;
    app.stock_where(&item, "committed", |s| s.on_hand == 6 && s.reserved == 0)
        .await;
    app.settled().await;
    let order_events: Vec<String> = app
        .events("order", &order)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        order_events,
        [
            "OrderPlaced",
            "OrderConfirmed",
            "OrderPreparing",
            "OrderReadyForPickup",
            "OrderInTransit",
            "OrderDeliveryFailed",
            "OrderInTransit",
            "OrderDelivered",
        ]
    );
}
on_both!(
    failed_then_delivered,
    a_failed_delivery_gets_another_and_the_reservation_stays
);

async fn after_three_failed_deliveries_no_more_and_an_admin_cancels(app: &App) {
    let (order, item) = ready_order(app).await;
    for attempt in 1..=MAX_DELIVERIES {
        let delivery = scheduled(app, &order, attempt).await;
        let steps = [
            ("assign", json!({})),
            ("pickup", json!({})),
            (
                "fail",
                json!({"reason": format!("closed, attempt {attempt}")}),
            ),
        ];
        drive(app, &delivery, &steps).await;
        app.eventually(&format!("failure {attempt} recorded"), || async {
            let loaded = app.executors.orders.load(&order).await.unwrap();
            (loaded.state.failed_deliveries() == attempt).then_some(())
        })
        .await;
    }
    app.order_in(&order, "READY_FOR_PICKUP").await;
    app.settled().await;
    let fourth = DeliveryProcess::delivery_id_for(order.parse().unwrap(), MAX_DELIVERIES + 1);
    assert!(
        app.events("delivery", &fourth.to_string()).await.is_empty(),
        "no fourth delivery"
    );
    app.post(
        &format!("/v1/orders/{order}/cancel"),
        ("admin-amy", Role::Admin),
        &json!({"reason": "undeliverable"}),
    )
    .await
    .expect(200);
    app.order_in(&order, "CANCELLED").await;
    app.stock_where(&item, "released", |s| s.reserved == 0 && s.available == 10)
        .await;
}
on_both!(
    three_failures,
    after_three_failed_deliveries_no_more_and_an_admin_cancels
);

/// A delivery an admin scheduled for an order that does not exist is picked up and completed:
/// the process notes it and goes on, and real orders are still delivered.
async fn a_delivery_of_no_known_order_does_not_stop_the_process(app: &App) {
    let stray = admin_schedules(app, &uuid::Uuid::now_v7().to_string()).await;
    drive(
        app,
        &stray,
        &[("assign", json!({})), ("pickup", json!({})), completed()],
    )
    .await;
    let (order, _) = ready_order(app).await;
    let delivery = scheduled(app, &order, 1).await;
    drive(
        app,
        &delivery,
        &[("assign", json!({})), ("pickup", json!({})), completed()],
    )
    .await;
    app.order_in(&order, "DELIVERED").await;
}
on_both!(
    stray_delivery,
    a_delivery_of_no_known_order_does_not_stop_the_process
);

/// An admin schedules the delivery itself before the order is ready: the process schedules no
/// second one, and the admin's delivery carries the order to the end.
async fn an_admins_delivery_is_the_orders_only_one(app: &App) {
    let item = app.stock_item(FARMER, 10).await;
    let order = app.place_order(RESTAURANT, FARMER, &[(&item, 4)]).await;
    app.order_in(&order, "CONFIRMED").await;
    let admins = admin_schedules(app, &order).await;
    for step in ["preparing", "ready-for-pickup"] {
        app.post(
            &format!("/v1/orders/{order}/{step}"),
            (FARMER, Role::Farmer),
            &json!({}),
        )
        .await
        .expect(200);
    }
    drive(
        app,
        &admins,
        &[("assign", json!({})), ("pickup", json!({})), completed()],
    )
    .await;
    app.order_in(&order, "DELIVERED").await;
    app.settled().await;
    let own = DeliveryProcess::delivery_id_for(order.parse().unwrap(), 1);
    assert!(
        app.events("delivery", &own.to_string()).await.is_empty(),
        "the process scheduled a second delivery"
    );
}
on_both!(admins_delivery, an_admins_delivery_is_the_orders_only_one);

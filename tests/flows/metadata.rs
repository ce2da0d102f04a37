//! One order's whole story, through the metadata: every event shares the correlation id the
//! clients sent, and each effect of a process names its causing event as its cause.

use std::collections::HashMap;

use event_schemas::values::Role;
use event_store::{Position, RecordedEvent};
use serde_json::json;
use uuid::Uuid;

use crate::on_both;
use crate::support::App;

const FARMER: &str = "farmer-ada";
const RESTAURANT: &str = "bistro-rue";
const DRIVER: &str = "driver-dan";

async fn one_order_is_one_chain(app: &App) {
    let item = app.stock_item(FARMER, 10).await;
    let correlation = Uuid::now_v7().to_string();
    let headers = [("x-correlation-id", correlation.as_str())];
    let body = crate::support::order_body(FARMER, &[(&item, 2)]);
    let order = app
        .post_with(
            "/v1/orders",
            (RESTAURANT, Role::Restaurant),
            &body,
            &headers,
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.order_in(&order, "CONFIRMED").await;
    for step in ["preparing", "ready-for-pickup"] {
        app.post_with(
            &format!("/v1/orders/{order}/{step}"),
            (FARMER, Role::Farmer),
            &json!({}),
            &headers,
        )
        .await
        .expect(200);
    }
    let delivery =
        domain::process::DeliveryProcess::delivery_id_for(order.parse().unwrap(), 1).to_string();
    app.eventually("the delivery", || async {
        projections::models::deliveries::delivery(&app.db, &delivery)
            .await
            .unwrap()
    })
    .await;
    for (step, body) in [
        ("assign", json!({})),
        ("pickup", json!({})),
        (
            "complete",
            json!({"recipient_name": "Chef Marie", "delivered_at": chrono::Utc::now()}),
        ),
    ] {
        app.post_with(
            &format!("/v1/deliveries/{delivery}/{step}"),
            (DRIVER, Role::Distributor),
            &body,
            &headers,
        )
        .await
        .expect(200);
    }
    app.order_in(&order, "DELIVERED").await;
    app.settled().await;

    let log = app.store.read_all(Position::START, 10_000).await.unwrap();
    let story: Vec<&RecordedEvent> = log
        .iter()
        .filter(|e| e.metadata["correlation_id"] == correlation.as_str())
        .collect();
    let by_type: HashMap<&str, &RecordedEvent> =
        story.iter().map(|e| (e.event_type.as_str(), *e)).collect();
    // Every event of the story carries the one correlation id, whoever issued it.
    let mut types: Vec<&str> = story.iter().map(|e| e.event_type.as_str()).collect();
    types.sort_unstable();
    let mut expected = vec![
        "OrderPlaced",
        "StockReserved",
        "OrderConfirmed",
        "OrderPreparing",
        "OrderReadyForPickup",
        "DeliveryScheduled",
        "DriverAssigned",
        "DeliveryPickedUp",
        "OrderInTransit",
        "DeliveryCompleted",
        "OrderDelivered",
        "ReservationCommitted",
    ];
    expected.sort_unstable();
    assert_eq!(types, expected);
    let id = |t: &str| by_type[t].metadata["event_id"].clone();
    let cause = |t: &str| by_type[t].metadata["causation_id"].clone();
    // Each process effect names the event that caused it.
    for (effect, cause_type) in [
        ("StockReserved", "OrderPlaced"),
        ("OrderConfirmed", "StockReserved"),
        ("DeliveryScheduled", "OrderReadyForPickup"),
        ("OrderInTransit", "DeliveryPickedUp"),
        ("OrderDelivered", "DeliveryCompleted"),
        ("ReservationCommitted", "OrderDelivered"),
    ] {
        assert_eq!(cause(effect), id(cause_type), "{effect} <- {cause_type}");
        assert_eq!(
            by_type[effect].metadata["actor"]["role"], "system",
            "{effect}"
        );
    }
    // Each client's command is caused by its request, in the same correlation.
    for human in [
        "OrderPlaced",
        "OrderPreparing",
        "OrderReadyForPickup",
        "DriverAssigned",
        "DeliveryPickedUp",
        "DeliveryCompleted",
    ] {
        assert_eq!(cause(human), correlation.as_str(), "{human}");
    }
}
on_both!(chain, one_order_is_one_chain);

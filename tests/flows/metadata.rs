//! One order's whole story, through the metadata: every event shares the correlation id the
//! clients sent, and each effect of a process names its causing event as its cause.

use std::collections::HashMap;

use event_schemas::values::Role;
use event_store::{RecordedEvent, StreamId};
use serde_json::json;
use uuid::Uuid;

use crate::on_both;
use crate::support::App;

const FARMER: &str = "farmer-ada";
const RESTAURANT: &str = "bistro-rue";
const DRIVER: &str = "driver-dan";

async fn one_order_is_one_chain(app: &App) {
    let item = app.stock_item(FARMER, 10).await;
    // Each request its own correlation id, so an effect taking its cause's id shows.
    let placing = Uuid::now_v7().to_string();
    let headers = [("x-correlation-id", placing.as_str())];
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
        let correlation = Uuid::now_v7().to_string();
        app.post_with(
            &format!("/v1/orders/{order}/{step}"),
            (FARMER, Role::Farmer),
            &json!({}),
            &[("x-correlation-id", correlation.as_str())],
        )
        .await
        .expect(200);
    }
    let delivery = app.scheduled_delivery(&order, 1).await;
    for (step, body) in [
        ("assign", json!({})),
        ("pickup", json!({})),
        (
            "complete",
            json!({"recipient_name": "Chef Marie", "delivered_at": chrono::Utc::now()}),
        ),
    ] {
        let correlation = Uuid::now_v7().to_string();
        app.post_with(
            &format!("/v1/deliveries/{delivery}/{step}"),
            (DRIVER, Role::Distributor),
            &body,
            &[("x-correlation-id", correlation.as_str())],
        )
        .await
        .expect(200);
    }
    app.order_in(&order, "DELIVERED").await;
    app.settled().await;

    // The order's story: its stream, its item's and its delivery's.
    let mut story: Vec<RecordedEvent> = Vec::new();
    for (aggregate_type, id) in [("order", &order), ("stock", &item), ("delivery", &delivery)] {
        story.extend(
            app.store
                .read_stream(&StreamId::new(aggregate_type, id), 0)
                .await
                .unwrap(),
        );
    }
    story.sort_by_key(|e| e.position);
    let by_type: HashMap<&str, &RecordedEvent> =
        story.iter().map(|e| (e.event_type.as_str(), e)).collect();
    assert_eq!(
        by_type.len(),
        story.len(),
        "each event type once in this story"
    );
    let meta = |t: &str, field: &str| by_type[t].metadata[field].clone();
    // Each process effect names the event that caused it, and shares its correlation id:
    // one chain from the placement to the commit of the stock.
    for (effect, cause_type) in [
        ("StockReserved", "OrderPlaced"),
        ("OrderConfirmed", "StockReserved"),
        ("DeliveryScheduled", "OrderReadyForPickup"),
        ("OrderInTransit", "DeliveryPickedUp"),
        ("OrderDelivered", "DeliveryCompleted"),
        ("ReservationCommitted", "OrderDelivered"),
    ] {
        assert_eq!(
            meta(effect, "causation_id"),
            meta(cause_type, "event_id"),
            "{effect} <- {cause_type}"
        );
        assert_eq!(
            meta(effect, "correlation_id"),
            meta(cause_type, "correlation_id"),
            "{effect} <- {cause_type}"
        );
        assert_eq!(meta(effect, "actor")["role"], "system", "{effect}");
    }
    assert_eq!(meta("OrderConfirmed", "correlation_id"), placing.as_str());
    // Each client's command is caused by its own request.
    for human in [
        "OrderPlaced",
        "OrderPreparing",
        "OrderReadyForPickup",
        "DriverAssigned",
        "DeliveryPickedUp",
        "DeliveryCompleted",
    ] {
        assert_eq!(
            meta(human, "causation_id"),
            meta(human, "correlation_id"),
            "{human}"
        );
        assert_ne!(meta(human, "actor")["role"], "system", "{human}");
    }
}
on_both!(chain, one_order_is_one_chain);

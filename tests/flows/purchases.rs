//! The purchase process: goods received restock the purchase's stock item, once.

use event_schemas::values::Role;
use serde_json::json;

use crate::on_both;
use crate::support::App;

const FARMER: &str = "farmer-ada";

async fn goods_received_restock_the_item(app: &App) {
    let item = app.stock_item(FARMER, 10).await;
    let purchase = app
        .post(
            "/v1/purchases",
            (FARMER, Role::Farmer),
            &json!({
                "stock_item_id": item,
                "supplier_id": "seed-co",
                "quantity": 40,
                "unit_cost_cents": 120,
            }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let steps = [
        ("supplier-order", json!({"supplier_order_ref": "SO-881"})),
        (
            "carrier-reservation",
            json!({
                "carrier_id": "fast-freight",
                "tracking_ref": "FF-20260504-17",
                "eta": "2026-05-06T14:00:00+02:00",
            }),
        ),
        ("receive", json!({"quantity_received": 37})),
    ];
    for (step, body) in steps {
        app.post(
            &format!("/v1/purchases/{purchase}/{step}"),
            (FARMER, Role::Farmer),
            &body,
        )
        .await
        .expect(200);
    }
    app.stock_where(&item, "restocked", |s| s.on_hand == 47 && s.available == 47)
        .await;
    app.settled().await;
    let events = app.events("stock", &item).await;
    let (last_type, received) = events.last().unwrap();
    assert_eq!(last_type, "StockReceived");
    assert_eq!(received["quantity"], 37);
    assert_eq!(received["purchase_id"], purchase.as_str());
    let loaded = app.executors.stock.load(&item).await.unwrap();
    assert_eq!(loaded.state.levels().on_hand.get(), 47);
    let purchase_row = projections::models::purchases::purchase(&app.db, &purchase)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purchase_row.quantity_received, Some(37));
}
on_both!(restock, goods_received_restock_the_item);

//! The purchase process: goods received restock the purchase's stock item, once.

use event_schemas::values::Role;
use serde_json::json;

use crate::on_both;
use crate::support::App;

const FARMER: &str = "farmer-ada";

async fn goods_received_restock_the_item(app: &App) {
    let item = app.stock_item(FARMER, 10).await;
    let purchase = received_purchase(app, &item, 40, 37).await;
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

/// Goods that would overflow their item are left out with an error logged, and the purchase
/// process goes on: the next purchase still restocks.
async fn an_overflowing_restock_does_not_stop_the_process(app: &App) {
    let full = app.stock_item(FARMER, 1_000_000_000_000).await;
    let overflowing = received_purchase(app, &full, 1, 1).await;
    let item = app.stock_item(FARMER, 10).await;
    received_purchase(app, &item, 5, 5).await;
    app.stock_where(&item, "restocked after the overflow", |s| s.on_hand == 15)
        .await;
    app.settled().await;
    let rows = projections::status::all(&app.db).await.unwrap();
    let purchase_process = rows.iter().find(|r| r.name == "purchase-process").unwrap();
    assert_eq!(purchase_process.last_error, None, "{purchase_process:?}");
    let goods = app.events("purchase", &overflowing).await;
    assert!(goods.iter().any(|(t, _)| t == "GoodsReceived"));
}
on_both!(overflow, an_overflowing_restock_does_not_stop_the_process);

/// A purchase of `quantity` units of `item`, taken through to `received` units received;
/// returns its id.
async fn received_purchase(app: &App, item: &str, quantity: u64, received: u64) -> String {
    let purchase = app
        .post(
            "/v1/purchases",
            (FARMER, Role::Farmer),
            &json!({"stock_item_id": item, "supplier_id": "seed-co", "quantity": quantity,
                "unit_cost_cents": 120}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (step, body) in [
        ("supplier-order", json!({"supplier_order_ref": "SO-881"})),
        (
            "carrier-reservation",
            json!({"carrier_id": "fast-freight", "tracking_ref": "FF-1",
                "eta": "2026-05-06T14:00:00+02:00"}),
        ),
        ("receive", json!({"quantity_received": received})),
    ] {
        app.post(
            &format!("/v1/purchases/{purchase}/{step}"),
            (FARMER, Role::Farmer),
            &body,
        )
        .await
        .expect(200);
    }
    purchase
}

//! The order process: confirmation, each rejection with its releases, cancellation, and no
//! oversell under a race.

use cqrs_es::Aggregate;
use domain::stock::StockItem;
use event_schemas::StockEvent;
use event_schemas::values::Role;
use event_store::StreamId;
use serde_json::json;

use crate::on_both;
use crate::support::App;

const FARMER: &str = "farmer-ada";
const RESTAURANT: &str = "bistro-rue";

async fn order_is_confirmed_at_reserved_prices(app: &App) {
    let tomatoes = app.stock_item(FARMER, 10).await;
    let beans = app.stock_item(FARMER, 5).await;
    let order = app
        .place_order(RESTAURANT, FARMER, &[(&tomatoes, 3), (&beans, 2)])
        .await;

    let row = app.order_in(&order, "CONFIRMED").await;
    assert_eq!(row.total_cents, Some(5 * 450));
    app.stock_where(&tomatoes, "3 reserved", |s| {
        s.reserved == 3 && s.available == 7
    })
    .await;
    app.stock_where(&beans, "2 reserved", |s| {
        s.reserved == 2 && s.available == 3
    })
    .await;
    app.settled().await;

    let loaded = app.executors.orders.load(&order).await.unwrap();
    assert_eq!(
        loaded.state.status(),
        Some(event_schemas::OrderStatus::Confirmed)
    );
    let item = app.executors.stock.load(&tomatoes).await.unwrap();
    assert_eq!(item.state.levels().reserved.get(), 3);
    // The process's commands are the system's: actor and command in the metadata.
    let stream = app
        .store
        .read_stream(&StreamId::new("order", &order), 0)
        .await
        .unwrap();
    let confirmed = stream.last().unwrap();
    assert_eq!(confirmed.event_type, "OrderConfirmed");
    assert_eq!(confirmed.metadata["actor"]["role"], "system");
    assert_eq!(confirmed.metadata["actor"]["sub"], "system:order-process");
    assert_eq!(confirmed.metadata["command"], "ConfirmOrder");
}
on_both!(confirmed, order_is_confirmed_at_reserved_prices);

async fn each_refusal_rejects_the_order_and_releases_what_was_reserved(app: &App) {
    let other_farmer = "farmer-bob";
    let mut cases = Vec::new();
    // Unknown item.
    cases.push(("unknown_item", uuid::Uuid::now_v7().to_string()));
    // Another farmer's item.
    cases.push(("other_farmer", app.stock_item(other_farmer, 10).await));
    // A quarantined item.
    let quarantined = app.stock_item(FARMER, 10).await;
    app.post(
        &format!("/v1/stock-items/{quarantined}/quarantine"),
        ("inspector-ines", Role::Inspector),
        &json!({"reason": "mould found"}),
    )
    .await
    .expect(200);
    cases.push(("quarantined", quarantined));
    // Not enough available.
    cases.push(("insufficient_stock", app.stock_item(FARMER, 1).await));

    for (reason, bad_item) in cases {
        let good_item = app.stock_item(FARMER, 10).await;
        let order = app
            .place_order(RESTAURANT, FARMER, &[(&good_item, 4), (&bad_item, 2)])
            .await;
        app.order_in(&order, "REJECTED").await;
        // The good line was reserved, then released.
        app.stock_where(&good_item, "released", |s| {
            s.reserved == 0 && s.available == 10
        })
        .await;
        app.settled().await;
        let events = app.events("order", &order).await;
        let (last_type, rejected) = events.last().unwrap();
        assert_eq!(last_type, "OrderRejected", "{reason}");
        let refused = &rejected["refused_lines"][0];
        assert_eq!(refused["stock_item_id"], bad_item.as_str(), "{reason}");
        assert_eq!(refused["reason"]["kind"], reason);
        let good = app.events("stock", &good_item).await;
        let types: Vec<&str> = good.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            types,
            [
                "StockItemRegistered",
                "StockReserved",
                "ReservationReleased"
            ],
            "{reason}"
        );
        let item = app.executors.stock.load(&good_item).await.unwrap();
        assert_eq!(item.state.levels().reserved.get(), 0, "{reason}");
    }
}
on_both!(
    rejected,
    each_refusal_rejects_the_order_and_releases_what_was_reserved
);

async fn cancellation_releases_the_reservations(app: &App) {
    let item = app.stock_item(FARMER, 10).await;
    let order = app.place_order(RESTAURANT, FARMER, &[(&item, 6)]).await;
    app.order_in(&order, "CONFIRMED").await;
    app.post(
        &format!("/v1/orders/{order}/cancel"),
        (RESTAURANT, Role::Restaurant),
        &json!({"reason": "menu changed"}),
    )
    .await
    .expect(200);
    app.order_in(&order, "CANCELLED").await;
    app.stock_where(&item, "released", |s| s.reserved == 0 && s.available == 10)
        .await;
    app.settled().await;
    let loaded = app.executors.stock.load(&item).await.unwrap();
    assert_eq!(loaded.state.levels().reserved.get(), 0);
    assert_eq!(loaded.state.held_for(order.parse().unwrap()), None);
}
on_both!(cancelled, cancellation_releases_the_reservations);

/// 100 orders race for 50 units: exactly 50 are confirmed, and available never goes below
/// zero at any point of the log.
async fn no_oversell(app: &App) {
    let item = app.stock_item(FARMER, 50).await;
    let placing: Vec<_> = (0..100)
        .map(|i| {
            let item = item.clone();
            async move {
                app.place_order(&format!("restaurant-{i}"), FARMER, &[(&item, 1)])
                    .await
            }
        })
        .collect();
    let orders = futures_util::future::join_all(placing).await;
    let mut confirmed = 0;
    let mut rejected = 0;
    for order in &orders {
        let row = app
            .eventually(&format!("order {order} decided"), || async {
                projections::models::orders::order(&app.db, order)
                    .await
                    .unwrap()
                    .filter(|r| r.status != "PENDING")
            })
            .await;
        match row.status.as_str() {
            "CONFIRMED" => confirmed += 1,
            "REJECTED" => rejected += 1,
            other => panic!("order {order} is {other}"),
        }
    }
    assert_eq!((confirmed, rejected), (50, 50));
    app.stock_where(&item, "sold out", |s| s.available == 0 && s.reserved == 50)
        .await;
    app.settled().await;

    // Replay the item's stream event by event: available is never negative.
    let stream = app
        .store
        .read_stream(&StreamId::new("stock", &item), 0)
        .await
        .unwrap();
    let mut state = StockItem::default();
    let mut reserved = 0;
    for recorded in stream {
        let event: StockEvent = serde_json::from_value(recorded.payload).unwrap();
        if matches!(event, StockEvent::StockReserved(_)) {
            reserved += 1;
        }
        state.apply(event);
        let levels = state.levels();
        assert!(
            levels.reserved.get() <= levels.on_hand.get(),
            "oversold at #{}: {levels:?}",
            recorded.sequence
        );
    }
    assert_eq!(reserved, 50);
    assert_eq!(state.levels().available().get(), 0);
}
on_both!(oversell, no_oversell);

//! The inspection process: a critical violation quarantines the inspected farm's items it
//! names, refuses (and records) a quarantine of another farm's item, and a later passed
//! inspection releases what it quarantined.

use event_schemas::values::Role;
use serde_json::json;

use crate::on_both;
use crate::support::App;

const FARMER: &str = "farmer-ada";
const NEIGHBOUR: &str = "farmer-bob";
const INSPECTOR: &str = "inspector-ines";

/// Schedules and starts an inspection of `farm`; returns its id.
async fn started_inspection(app: &App, farm: &str) -> String {
    let id = app
        .post(
            "/v1/inspections",
            (INSPECTOR, Role::Inspector),
            &json!({
                "farmer_id": farm,
                "inspector_id": INSPECTOR,
                "scheduled_for": "2026-05-04T09:00:00Z",
            }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/inspections/{id}/start"),
        (INSPECTOR, Role::Inspector),
        &json!({}),
    )
    .await
    .expect(200);
    id
}

async fn complete(app: &App, inspection: &str, score: u32) {
    app.post(
        &format!("/v1/inspections/{inspection}/complete"),
        (INSPECTOR, Role::Inspector),
        &json!({"score": score}),
    )
    .await
    .expect(200);
}

async fn quarantine_and_release(app: &App) {
    let lettuce = app.stock_item(FARMER, 10).await;
    let eggs = app.stock_item(FARMER, 10).await;
    let neighbours = app.stock_item(NEIGHBOUR, 10).await;

    let failed = started_inspection(app, FARMER).await;
    app.post(
        &format!("/v1/inspections/{failed}/violations"),
        (INSPECTOR, Role::Inspector),
        &json!({
            "code": "HYG-12",
            "severity": "critical",
            "description": "Listeria found in the washing station",
            "stock_item_ids": [lettuce, neighbours],
        }),
    )
    .await
    .expect(200);
    complete(app, &failed, 90).await;

    app.stock_where(&lettuce, "quarantined", |s| s.quarantined)
        .await;
    app.settled().await;
    // The neighbour's item is not the inspected farm's: refused, and the refusal recorded.
    let neighbour_events = app.events("stock", &neighbours).await;
    let (last_type, refusal) = neighbour_events.last().unwrap();
    assert_eq!(last_type, "StockQuarantineRefused");
    assert_eq!(refusal["inspection_id"], failed.as_str());
    assert_eq!(refusal["inspected_farmer_id"], FARMER);
    let neighbour = app.executors.stock.load(&neighbours).await.unwrap();
    assert!(!neighbour.state.is_quarantined());
    // A quarantined item takes no orders.
    let order = app
        .place_order("bistro-rue", FARMER, &[(&lettuce, 1)])
        .await;
    app.order_in(&order, "REJECTED").await;
    // Not named: untouched.
    let untouched = app.executors.stock.load(&eggs).await.unwrap();
    assert!(!untouched.state.is_quarantined());

    // The neighbour's item is quarantined for its own farm's reasons meanwhile; a passed
    // inspection of the first farm must not lift that.
    app.post(
        &format!("/v1/stock-items/{neighbours}/quarantine"),
        (INSPECTOR, Role::Inspector),
        &json!({"reason": "its own problem"}),
    )
    .await
    .expect(200);

    let passed = started_inspection(app, FARMER).await;
    complete(app, &passed, 95).await;
    app.stock_where(&lettuce, "released", |s| !s.quarantined)
        .await;
    app.settled().await;
    let lettuce_events: Vec<String> = app
        .events("stock", &lettuce)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        lettuce_events,
        [
            "StockItemRegistered",
            "StockQuarantined",
            "StockReservationRefused",
            "QuarantineReleased",
        ]
    );
    let neighbour = app.executors.stock.load(&neighbours).await.unwrap();
    assert!(
        neighbour.state.is_quarantined(),
        "the neighbour's own quarantine stays"
    );
}
on_both!(quarantine, quarantine_and_release);

/// An item the process quarantined, released by hand, then named by a new critical violation
/// is quarantined again.
async fn a_new_violation_quarantines_again_after_a_manual_release(app: &App) {
    let lettuce = app.stock_item(FARMER, 10).await;
    for round in 0..2 {
        let inspection = started_inspection(app, FARMER).await;
        app.post(
            &format!("/v1/inspections/{inspection}/violations"),
            (INSPECTOR, Role::Inspector),
            &json!({
                "code": "HYG-12",
                "severity": "critical",
                "description": format!("Listeria, round {round}"),
                "stock_item_ids": [lettuce],
            }),
        )
        .await
        .expect(200);
        app.stock_where(&lettuce, "quarantined", |s| s.quarantined)
            .await;
        if round == 0 {
            app.settled().await;
            app.post(
                &format!("/v1/stock-items/{lettuce}/release-quarantine"),
                (INSPECTOR, Role::Inspector),
                &json!({"reason": "washed and retested"}),
            )
            .await
            .expect(200);
            app.stock_where(&lettuce, "released by hand", |s| !s.quarantined)
                .await;
        }
    }
    app.settled().await;
    let loaded = app.executors.stock.load(&lettuce).await.unwrap();
    assert!(loaded.state.is_quarantined());
}
on_both!(
    quarantine_again,
    a_new_violation_quarantines_again_after_a_manual_release
);

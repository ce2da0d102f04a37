//! The purchase endpoints, end to end.

use event_schemas::values::Role;
use serde_json::{Value, json};

use crate::support::TestApp;

/// A purchase id nothing was created under.
const UNKNOWN: &str = "0190f3a0-0000-7000-8000-00000000dead";

/// A valid purchase body restocking `stock_item_id`.
fn purchase_body(stock_item_id: &str) -> Value {
    json!({
        "stock_item_id": stock_item_id,
        "supplier_id": "seed-co",
        "quantity": 40,
        "unit_cost_cents": 120,
        "voucher_code": "SPRING10",
    })
}

/// A valid carrier reservation body.
fn carrier_body() -> Value {
    json!({
        "carrier_id": "fast-freight",
        "tracking_ref": "FF-20260504-17",
        "eta": "2026-05-06T14:00:00+02:00",
    })
}

/// A purchase by `farmer-ana` of one of its new stock items; returns the purchase's id.
async fn purchase(app: &TestApp) -> String {
    let item = app.stock_item("farmer-ana", 10).await;
    let ana = app.token("farmer-ana", Role::Farmer);
    app.post("/v1/purchases", Some(&ana), &purchase_body(&item))
        .await
        .expect_ok(201)
        .0
}

/// Moves purchase `id` by `farmer-ana` through the steps named by `paths`.
async fn advance(app: &TestApp, id: &str, paths: &[&str]) {
    let ana = app.token("farmer-ana", Role::Farmer);
    for path in paths {
        let body = match *path {
            "supplier-order" => json!({"supplier_order_ref": "SO-881"}),
            "carrier-reservation" => carrier_body(),
            "receive" => json!({"quantity_received": 40}),
            _ => json!({"reason": "not needed"}),
        };
        app.post(&format!("/v1/purchases/{id}/{path}"), Some(&ana), &body)
            .await
            .expect_ok(200);
    }
}

/// The payload of the event at `index` (0-based) of purchase `id`'s stream.
async fn payload(app: &TestApp, id: &str, index: usize) -> Value {
    let events = app
        .store
        .read_stream(&event_store::StreamId::new("purchase", id), 0)
        .await
        .unwrap();
    let event = &events[index];
    event.payload[&event.event_type].clone()
}

api_test!(
    a_farmer_creates_a_purchase_for_its_own_stock_item,
    |app: TestApp| async move {
        let item = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let answer = app
            .post("/v1/purchases", Some(&ana), &purchase_body(&item))
            .await;
        let (id, version, _) = answer.expect_ok(201);
        assert_eq!(version, 1);
        assert_eq!(app.event_types("purchase", &id).await, ["PurchaseReceived"]);
        let received = payload(&app, &id, 0).await;
        assert_eq!(received["farmer_id"], "farmer-ana");
        assert_eq!(received["stock_item_id"], item.as_str());
        assert_eq!(received["total_cost_cents"], 4800);
        // An admin buys for any item, under an id of the client's choosing.
        let admin = app.token("root", Role::Admin);
        let chosen = "0190f3a0-0000-7000-8000-0000000000c1";
        let mut body = purchase_body(&item);
        body["id"] = json!(chosen);
        let (got, _, _) = app
            .post("/v1/purchases", Some(&admin), &body)
            .await
            .expect_ok(201);
        assert_eq!(got, chosen);
        assert_eq!(payload(&app, chosen, 0).await["farmer_id"], "farmer-ana");
        // The same id again breaks a rule of the aggregate's state.
        app.post("/v1/purchases", Some(&admin), &body)
            .await
            .expect_problem(409);
    }
);

api_test!(
    creating_with_invalid_fields_lists_every_field,
    |app: TestApp| async move {
        let ana = app.token("farmer-ana", Role::Farmer);
        let body = json!({
            "id": "x",
            "stock_item_id": "not-a-uuid",
            "supplier_id": "",
            "quantity": 0,
            "unit_cost_cents": -1,
            "voucher_code": " ",
        });
        let answer = app.post("/v1/purchases", Some(&ana), &body).await;
        answer.expect_problem(400);
        let mut fields = answer.error_fields();
        fields.sort();
        assert_eq!(
            fields,
            [
                "id",
                "quantity",
                "stock_item_id",
                "supplier_id",
                "unit_cost_cents",
                "voucher_code"
            ]
        );
        // A stock item that does not exist is an invalid request too.
        app.post("/v1/purchases", Some(&ana), &purchase_body(UNKNOWN))
            .await
            .expect_problem(400);
    }
);

api_test!(
    creating_needs_a_token_and_the_stock_items_owner_or_an_admin,
    |app: TestApp| async move {
        let item = app.stock_item("farmer-ana", 10).await;
        let body = purchase_body(&item);
        app.post("/v1/purchases", None, &body)
            .await
            .expect_problem(401);
        for (sub, role) in [
            ("farmer-bo", Role::Farmer),
            ("audit", Role::Auditor),
            ("bistro", Role::Restaurant),
        ] {
            app.post("/v1/purchases", Some(&app.token(sub, role)), &body)
                .await
                .expect_problem(403);
        }
    }
);

api_test!(
    a_purchase_goes_from_supplier_order_through_the_carrier_to_completion,
    |app: TestApp| async move {
        let id = purchase(&app).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let admin = app.token("root", Role::Admin);
        let base = format!("/v1/purchases/{id}");
        let (_, version, _) = app
            .post(
                &format!("{base}/supplier-order"),
                Some(&ana),
                &json!({"supplier_order_ref": "SO-881"}),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 2);
        let (_, version, _) = app
            .post(
                &format!("{base}/carrier-reservation"),
                Some(&admin),
                &carrier_body(),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 3);
        assert_eq!(
            payload(&app, &id, 2).await["eta"],
            "2026-05-06T12:00:00Z",
            "the eta is kept in UTC"
        );
        let (_, version, _) = app
            .post(
                &format!("{base}/receive"),
                Some(&ana),
                &json!({"quantity_received": 38}),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 5, "goods received, then completed");
        assert_eq!(
            app.event_types("purchase", &id).await,
            [
                "PurchaseReceived",
                "SupplierOrderRequested",
                "CarrierReserved",
                "GoodsReceived",
                "PurchaseCompleted"
            ]
        );
        assert_eq!(payload(&app, &id, 3).await["quantity_received"], 38);
        // A received purchase can no longer be cancelled.
        app.post(
            &format!("{base}/cancel"),
            Some(&ana),
            &json!({"reason": "too late"}),
        )
        .await
        .expect_problem(409);
    }
);

api_test!(
    the_owner_cancels_a_purchase_and_it_then_accepts_nothing,
    |app: TestApp| async move {
        let id = purchase(&app).await;
        advance(&app, &id, &["supplier-order"]).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let base = format!("/v1/purchases/{id}");
        let (_, version, _) = app
            .post(
                &format!("{base}/cancel"),
                Some(&ana),
                &json!({"reason": "Supplier out of stock"}),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 3);
        assert_eq!(
            app.event_types("purchase", &id).await,
            [
                "PurchaseReceived",
                "SupplierOrderRequested",
                "PurchaseCancelled"
            ]
        );
        assert_eq!(
            payload(&app, &id, 2).await["previous_status"],
            "ORDER_REQUESTED"
        );
        for (path, body) in [
            ("carrier-reservation", carrier_body()),
            ("receive", json!({"quantity_received": 1})),
            ("cancel", json!({"reason": "again"})),
        ] {
            app.post(&format!("{base}/{path}"), Some(&ana), &body)
                .await
                .expect_problem(409);
        }
        assert_eq!(app.stream_len("purchase", &id).await, 3);
    }
);

api_test!(
    steps_out_of_order_are_forbidden_transitions,
    |app: TestApp| async move {
        let id = purchase(&app).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let base = format!("/v1/purchases/{id}");
        app.post(
            &format!("{base}/carrier-reservation"),
            Some(&ana),
            &carrier_body(),
        )
        .await
        .expect_problem(409);
        app.post(
            &format!("{base}/receive"),
            Some(&ana),
            &json!({"quantity_received": 1}),
        )
        .await
        .expect_problem(409);
        advance(&app, &id, &["supplier-order"]).await;
        app.post(
            &format!("{base}/supplier-order"),
            Some(&ana),
            &json!({"supplier_order_ref": "SO-2"}),
        )
        .await
        .expect_problem(409);
        assert_eq!(app.stream_len("purchase", &id).await, 2);
    }
);

api_test!(
    purchase_steps_with_invalid_fields_name_them,
    |app: TestApp| async move {
        let id = purchase(&app).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let base = format!("/v1/purchases/{id}");
        for (path, body, expected) in [
            (
                "supplier-order",
                json!({"supplier_order_ref": ""}),
                vec!["supplier_order_ref"],
            ),
            (
                "carrier-reservation",
                json!({"carrier_id": "", "tracking_ref": "t", "eta": "soon"}),
                vec!["carrier_id", "eta"],
            ),
            (
                "receive",
                json!({"quantity_received": 0}),
                vec!["quantity_received"],
            ),
            (
                "receive",
                json!({"quantity_received": "3"}),
                vec!["quantity_received"],
            ),
            ("cancel", json!({"reason": "  "}), vec!["reason"]),
            (
                "cancel",
                json!({"reason": "x", "refund": true}),
                vec!["refund"],
            ),
        ] {
            let answer = app.post(&format!("{base}/{path}"), Some(&ana), &body).await;
            answer.expect_problem(400);
            assert_eq!(answer.error_fields(), expected, "{path} {body}");
        }
        let answer = app
            .post(
                "/v1/purchases/nope/cancel",
                Some(&ana),
                &json!({"reason": "x"}),
            )
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["id"]);
        assert_eq!(app.stream_len("purchase", &id).await, 1);
    }
);

api_test!(
    purchase_steps_need_a_token_the_owner_and_a_known_purchase,
    |app: TestApp| async move {
        let id = purchase(&app).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let bo = app.token("farmer-bo", Role::Farmer);
        let auditor = app.token("audit", Role::Auditor);
        for (path, body) in [
            ("supplier-order", json!({"supplier_order_ref": "SO-1"})),
            ("carrier-reservation", carrier_body()),
            ("receive", json!({"quantity_received": 1})),
            ("cancel", json!({"reason": "x"})),
        ] {
            let own = format!("/v1/purchases/{id}/{path}");
            app.post(&own, None, &body).await.expect_problem(401);
            app.post(&own, Some(&bo), &body).await.expect_problem(403);
            app.post(&own, Some(&auditor), &body)
                .await
                .expect_problem(403);
            app.post(
                &format!("/v1/purchases/{UNKNOWN}/{path}"),
                Some(&ana),
                &body,
            )
            .await
            .expect_problem(404);
        }
        assert_eq!(app.stream_len("purchase", &id).await, 1, "nothing appended");
    }
);

api_test!(
    the_openapi_document_describes_the_purchase_endpoints,
    |app: TestApp| async move {
        let doc = app.get("/openapi.json").await.body;
        for path in [
            "/v1/purchases",
            "/v1/purchases/{id}/supplier-order",
            "/v1/purchases/{id}/carrier-reservation",
            "/v1/purchases/{id}/receive",
            "/v1/purchases/{id}/cancel",
        ] {
            assert!(doc["paths"][path]["post"].is_object(), "{path} missing");
        }
        let schemas = &doc["components"]["schemas"];
        let create = &schemas["CreatePurchaseRequest"];
        assert_eq!(create["properties"]["quantity"]["minimum"], 1);
        assert_eq!(create["properties"]["stock_item_id"]["format"], "uuid");
        assert_eq!(create["additionalProperties"], false);
        assert_eq!(
            schemas["ReserveCarrierRequest"]["properties"]["eta"]["format"],
            "date-time"
        );
    }
);

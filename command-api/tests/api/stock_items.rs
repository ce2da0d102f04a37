//! The stock item endpoints, end to end.

use event_schemas::values::Role;
use serde_json::json;

use crate::support::{TestApp, stock_item_body};

api_test!(
    a_farmer_registers_a_stock_item_and_owns_it,
    |app: TestApp| async move {
        let farmer = app.token("farmer-ana", Role::Farmer);
        let answer = app
            .post("/v1/stock-items", Some(&farmer), &stock_item_body(10))
            .await;
        let (id, version, position) = answer.expect_ok(201);
        assert_eq!(version, 1);
        assert_eq!(position.len(), 40, "an opaque position token");
        assert_eq!(answer.headers["etag"], "\"1\"");
        assert_eq!(app.event_types("stock", &id).await, ["StockItemRegistered"]);
        let events = app
            .store
            .read_stream(&event_store::StreamId::new("stock", &id), 0)
            .await
            .unwrap();
        let metadata = &events[0].metadata;
        assert_eq!(metadata["actor"]["sub"], "farmer-ana");
        assert_eq!(metadata["actor"]["role"], "farmer");
        assert_eq!(metadata["command"], "RegisterStockItem");
        assert!(metadata["request_id"].is_string());
    }
);

api_test!(
    a_client_may_choose_the_id_and_an_admin_names_the_farmer,
    |app: TestApp| async move {
        let admin = app.token("root", Role::Admin);
        let id = "0190f3a0-0000-7000-8000-0000000000aa";
        let mut body = stock_item_body(3);
        body["id"] = json!(id);
        body["farmer_id"] = json!("farmer-bo");
        let (got, _, _) = app
            .post("/v1/stock-items", Some(&admin), &body)
            .await
            .expect_ok(201);
        assert_eq!(got, id);
        let bo = app.token("farmer-bo", Role::Farmer);
        app.post(
            &format!("/v1/stock-items/{id}/price"),
            Some(&bo),
            &json!({"unit_price_cents": 500}),
        )
        .await
        .expect_ok(200);
        // Registering the same id again breaks a rule of the aggregate's state.
        app.post("/v1/stock-items", Some(&admin), &body)
            .await
            .expect_problem(409);
    }
);

api_test!(
    registering_with_invalid_fields_lists_every_field,
    |app: TestApp| async move {
        let farmer = app.token("farmer-ana", Role::Farmer);
        let mut body = stock_item_body(10);
        body["product_name"] = json!("  ");
        body["category"] = json!("cars");
        body["unit_price_cents"] = json!(-5);
        body["harvest_date"] = json!("yesterday");
        let answer = app.post("/v1/stock-items", Some(&farmer), &body).await;
        answer.expect_problem(400);
        let fields = answer.error_fields();
        for field in [
            "product_name",
            "category",
            "unit_price_cents",
            "harvest_date",
        ] {
            assert!(
                fields.iter().any(|f| f == field),
                "{field} missing from {fields:?}"
            );
        }
        // A wrongly typed field and an unknown field are 400s too, naming the field.
        body = stock_item_body(10);
        body["initial_quantity"] = json!("ten");
        let answer = app.post("/v1/stock-items", Some(&farmer), &body).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["initial_quantity"]);
        body = stock_item_body(10);
        body["colour"] = json!("red");
        app.post("/v1/stock-items", Some(&farmer), &body)
            .await
            .expect_problem(400);
    }
);

api_test!(
    a_body_repeating_a_key_is_refused_naming_it_and_appends_nothing,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let answer = app
            .post_raw(
                &format!("/v1/stock-items/{id}/receive"),
                Some(&ana),
                "application/json",
                br#"{"quantity":1,"quantity":1000000}"#.to_vec(),
            )
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["quantity"]);
        assert_eq!(app.stream_len("stock", &id).await, 1, "nothing appended");
    }
);

api_test!(
    stock_commands_need_a_token_and_the_right_role_or_ownership,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let receive = format!("/v1/stock-items/{id}/receive");
        let body = json!({"quantity": 5});
        app.post(&receive, None, &body).await.expect_problem(401);
        let restaurant = app.token("bistro", Role::Restaurant);
        app.post(&receive, Some(&restaurant), &body)
            .await
            .expect_problem(403);
        let other_farmer = app.token("farmer-bo", Role::Farmer);
        app.post(&receive, Some(&other_farmer), &body)
            .await
            .expect_problem(403);
        let auditor = app.token("audit", Role::Auditor);
        app.post("/v1/stock-items", Some(&auditor), &stock_item_body(1))
            .await
            .expect_problem(403);
        assert_eq!(
            app.stream_len("stock", &id).await,
            1,
            "refusals append nothing"
        );
    }
);

api_test!(
    every_stock_endpoint_changes_the_item,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let inspector = app.token("inspector-lee", Role::Inspector);
        let base = format!("/v1/stock-items/{id}");
        let purchase = "0190f3a0-0000-7000-8000-000000000040";
        app.post(
            &format!("{base}/receive"),
            Some(&ana),
            &json!({"quantity": 5, "purchase_id": purchase}),
        )
        .await
        .expect_ok(200);
        app.post(
            &format!("{base}/adjust"),
            Some(&ana),
            &json!({"delta": -3, "reason": "spoiled"}),
        )
        .await
        .expect_ok(200);
        app.post(
            &format!("{base}/price"),
            Some(&ana),
            &json!({"unit_price_cents": 480}),
        )
        .await
        .expect_ok(200);
        app.post(
            &format!("{base}/quarantine"),
            Some(&inspector),
            &json!({"reason": "mould"}),
        )
        .await
        .expect_ok(200);
        let (_, version, _) = app
            .post(
                &format!("{base}/release-quarantine"),
                Some(&inspector),
                &json!({"reason": "cleared"}),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 6);
        assert_eq!(
            app.event_types("stock", &id).await,
            [
                "StockItemRegistered",
                "StockReceived",
                "StockAdjusted",
                "PriceChanged",
                "StockQuarantined",
                "QuarantineReleased"
            ]
        );
    }
);

api_test!(
    stock_rules_and_unknown_items_are_refused,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let inspector = app.token("inspector-lee", Role::Inspector);
        let base = format!("/v1/stock-items/{id}");
        // Below zero is a business rule of the current state: 409.
        app.post(
            &format!("{base}/adjust"),
            Some(&ana),
            &json!({"delta": -11, "reason": "count"}),
        )
        .await
        .expect_problem(409);
        app.post(
            &format!("{base}/release-quarantine"),
            Some(&inspector),
            &json!({"reason": "x"}),
        )
        .await
        .expect_problem(409);
        // Invalid values: 400.
        app.post(
            &format!("{base}/receive"),
            Some(&ana),
            &json!({"quantity": 0}),
        )
        .await
        .expect_problem(400);
        app.post(
            &format!("{base}/adjust"),
            Some(&ana),
            &json!({"delta": 0, "reason": "x"}),
        )
        .await
        .expect_problem(400);
        app.post(
            &format!("{base}/quarantine"),
            Some(&inspector),
            &json!({"reason": ""}),
        )
        .await
        .expect_problem(400);
        app.post(
            &format!("{base}/price"),
            Some(&ana),
            &json!({"unit_price_cents": "1"}),
        )
        .await
        .expect_problem(400);
        // A path id that is not a UUID, and one that names nothing.
        app.post(
            "/v1/stock-items/not-a-uuid/receive",
            Some(&ana),
            &json!({"quantity": 1}),
        )
        .await
        .expect_problem(400);
        let unknown = "0190f3a0-0000-7000-8000-00000000dead";
        for (path, token, body) in [
            ("receive", &ana, json!({"quantity": 1})),
            ("adjust", &ana, json!({"delta": 1, "reason": "x"})),
            ("price", &ana, json!({"unit_price_cents": 1})),
            ("quarantine", &inspector, json!({"reason": "x"})),
            ("release-quarantine", &inspector, json!({"reason": "x"})),
        ] {
            app.post(
                &format!("/v1/stock-items/{unknown}/{path}"),
                Some(token),
                &body,
            )
            .await
            .expect_problem(404);
        }
    }
);

//! The order endpoints, end to end.

use domain::order::OrderCommand;
use event_schemas::values::{DeliveryId, Role};
use serde_json::json;

use crate::support::{TestApp, order_body};

const UNKNOWN: &str = "0190f3a0-0000-7000-8000-00000000dead";

api_test!(
    a_restaurant_places_an_order_and_becomes_its_customer,
    |app: TestApp| async move {
        let tomatoes = app.stock_item("farmer-ana", 10).await;
        let kale = app.stock_item("farmer-ana", 10).await;
        let bistro = app.token("bistro", Role::Restaurant);
        let mut body = order_body("farmer-ana", &[&tomatoes, &kale]);
        body["requested_delivery_date"] = json!("2026-05-04");
        body["notes"] = json!("Ring twice");
        let answer = app.post("/v1/orders", Some(&bistro), &body).await;
        let (id, version, _) = answer.expect_ok(201);
        assert_eq!(version, 1);
        assert_eq!(answer.headers["etag"], "\"1\"");
        assert_eq!(app.event_types("order", &id).await, ["OrderPlaced"]);
        let placed = &app.payloads("order", &id).await[0];
        assert_eq!(placed["customer_id"], "bistro");
        assert_eq!(placed["farmer_id"], "farmer-ana");
        assert_eq!(placed["lines"].as_array().unwrap().len(), 2);
        assert_eq!(placed["delivery_address"]["city"], "Paris");
        assert_eq!(placed["requested_delivery_date"], "2026-05-04");
    }
);

api_test!(
    an_admin_places_an_order_on_behalf_of_a_named_restaurant,
    |app: TestApp| async move {
        let item = app.stock_item("farmer-ana", 10).await;
        let admin = app.token("root", Role::Admin);
        let id = "0190f3a0-0000-7000-8000-0000000000b1";
        let mut body = order_body("farmer-ana", &[&item]);
        body["id"] = json!(id);
        body["customer_id"] = json!("bistro");
        let (got, _, _) = app
            .post("/v1/orders", Some(&admin), &body)
            .await
            .expect_ok(201);
        assert_eq!(got, id);
        assert_eq!(app.payloads("order", id).await[0]["customer_id"], "bistro");
        // The customer it names may then cancel it.
        let bistro = app.token("bistro", Role::Restaurant);
        app.post(
            &format!("/v1/orders/{id}/cancel"),
            Some(&bistro),
            &json!({"reason": "menu changed"}),
        )
        .await
        .expect_ok(200);
        // Without a customer the domain refuses the order: the admin must name one.
        body["id"] = json!("0190f3a0-0000-7000-8000-0000000000b2");
        body.as_object_mut().unwrap().remove("customer_id");
        app.post("/v1/orders", Some(&admin), &body)
            .await
            .expect_problem(400);
        // Placing the same id again breaks a rule of the aggregate's state.
        body["id"] = json!(id);
        body["customer_id"] = json!("bistro");
        app.post("/v1/orders", Some(&admin), &body)
            .await
            .expect_problem(409);
    }
);

api_test!(
    placing_an_order_with_invalid_fields_lists_every_field,
    |app: TestApp| async move {
        let item = app.stock_item("farmer-ana", 10).await;
        let bistro = app.token("bistro", Role::Restaurant);
        let mut body = order_body("farmer-ana", &[&item]);
        body["id"] = json!("not-a-uuid");
        body["farmer_id"] = json!("   ");
        body["lines"] = json!([
            {"stock_item_id": "nope", "quantity": 1},
            {"stock_item_id": item, "quantity": 0},
        ]);
        body["delivery_address"]["city"] = json!("");
        body["requested_delivery_date"] = json!("next monday");
        let answer = app.post("/v1/orders", Some(&bistro), &body).await;
        answer.expect_problem(400);
        let fields = answer.error_fields();
        for field in [
            "id",
            "farmer_id",
            "lines[0].stock_item_id",
            "lines[1].quantity",
            "delivery_address.city",
            "requested_delivery_date",
        ] {
            assert!(
                fields.iter().any(|f| f == field),
                "{field} missing from {fields:?}"
            );
        }
        // Wrong types, missing and unknown fields are named too.
        body = order_body("farmer-ana", &[&item]);
        body["lines"][0]["quantity"] = json!(-1);
        let answer = app.post("/v1/orders", Some(&bistro), &body).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["lines[0].quantity"]);
        body = order_body("farmer-ana", &[&item]);
        body["lines"][0]["quantity"] = json!("two");
        let answer = app.post("/v1/orders", Some(&bistro), &body).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["lines[0].quantity"]);
        body = order_body("farmer-ana", &[&item]);
        body.as_object_mut().unwrap().remove("delivery_address");
        let answer = app.post("/v1/orders", Some(&bistro), &body).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["delivery_address"]);
        body = order_body("farmer-ana", &[&item]);
        body["delivery_address"]["planet"] = json!("Earth");
        let answer = app.post("/v1/orders", Some(&bistro), &body).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["delivery_address.planet"]);
    }
);

api_test!(
    the_domain_refuses_empty_duplicate_and_oversized_line_lists,
    |app: TestApp| async move {
        let item = app.stock_item("farmer-ana", 10).await;
        let bistro = app.token("bistro", Role::Restaurant);
        let empty = order_body("farmer-ana", &[]);
        let answer = app.post("/v1/orders", Some(&bistro), &empty).await;
        assert!(
            answer.expect_problem(400)["detail"]
                .as_str()
                .unwrap()
                .contains("at least one line")
        );
        let duplicate = order_body("farmer-ana", &[&item, &item]);
        let answer = app.post("/v1/orders", Some(&bistro), &duplicate).await;
        assert!(
            answer.expect_problem(400)["detail"]
                .as_str()
                .unwrap()
                .contains("more than one line")
        );
        let ids: Vec<String> = (0..101)
            .map(|i| format!("0190f3a0-0000-7000-8000-{i:012}"))
            .collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let answer = app
            .post("/v1/orders", Some(&bistro), &order_body("farmer-ana", &ids))
            .await;
        assert!(
            answer.expect_problem(400)["detail"]
                .as_str()
                .unwrap()
                .contains("at most 100 lines")
        );
        // 100 lines are fine.
        let answer = app
            .post(
                "/v1/orders",
                Some(&bistro),
                &order_body("farmer-ana", &ids[..100]),
            )
            .await;
        answer.expect_ok(201);
    }
);

api_test!(
    placing_an_order_needs_a_token_and_the_restaurant_role,
    |app: TestApp| async move {
        let item = app.stock_item("farmer-ana", 10).await;
        let id = "0190f3a0-0000-7000-8000-0000000000b3";
        let mut body = order_body("farmer-ana", &[&item]);
        body["id"] = json!(id);
        app.post("/v1/orders", None, &body)
            .await
            .expect_problem(401);
        for (sub, role) in [
            ("farmer-ana", Role::Farmer),
            ("driver-dan", Role::Distributor),
            ("audit", Role::Auditor),
        ] {
            app.post("/v1/orders", Some(&app.token(sub, role)), &body)
                .await
                .expect_problem(403);
        }
        // A restaurant orders only for itself.
        body["customer_id"] = json!("brasserie");
        app.post(
            "/v1/orders",
            Some(&app.token("bistro", Role::Restaurant)),
            &body,
        )
        .await
        .expect_problem(403);
        assert_eq!(app.stream_len("order", id).await, 0, "nothing was placed");
    }
);

api_test!(
    a_customer_cancels_its_order_before_it_is_in_transit,
    |app: TestApp| async move {
        let id = app.place_order("bistro", "farmer-ana").await;
        assert_eq!(app.confirm_order(&id).await, 2);
        let bistro = app.token("bistro", Role::Restaurant);
        let (got, version, _) = app
            .post(
                &format!("/v1/orders/{id}/cancel"),
                Some(&bistro),
                &json!({"reason": "menu changed"}),
            )
            .await
            .expect_ok(200);
        assert_eq!(got, id);
        assert_eq!(version, 3);
        assert_eq!(
            app.event_types("order", &id).await,
            ["OrderPlaced", "OrderConfirmed", "OrderCancelled"]
        );
        let cancelled = &app.payloads("order", &id).await[2];
        assert_eq!(cancelled["reason"], "menu changed");
        // An admin may cancel any order.
        let other = app.place_order("brasserie", "farmer-ana").await;
        app.post(
            &format!("/v1/orders/{other}/cancel"),
            Some(&app.token("root", Role::Admin)),
            &json!({"reason": "duplicate"}),
        )
        .await
        .expect_ok(200);
    }
);

api_test!(
    cancelling_is_refused_to_strangers_and_to_unknown_closed_or_moving_orders,
    |app: TestApp| async move {
        let id = app.place_order("bistro", "farmer-ana").await;
        let cancel = format!("/v1/orders/{id}/cancel");
        let body = json!({"reason": "menu changed"});
        let bistro = app.token("bistro", Role::Restaurant);
        app.post(&cancel, None, &body).await.expect_problem(401);
        app.post(
            &cancel,
            Some(&app.token("brasserie", Role::Restaurant)),
            &body,
        )
        .await
        .expect_problem(403);
        app.post(&cancel, Some(&app.token("farmer-ana", Role::Farmer)), &body)
            .await
            .expect_problem(403);
        let answer = app
            .post(&cancel, Some(&bistro), &json!({"reason": " "}))
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["reason"]);
        let answer = app.post(&cancel, Some(&bistro), &json!({})).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["reason"]);
        app.post("/v1/orders/not-a-uuid/cancel", Some(&bistro), &body)
            .await
            .expect_problem(400);
        app.post(
            &format!("/v1/orders/{UNKNOWN}/cancel"),
            Some(&bistro),
            &body,
        )
        .await
        .expect_problem(404);
        assert_eq!(
            app.stream_len("order", &id).await,
            1,
            "refusals append nothing"
        );
        // Cancelling twice: the order is already closed.
        app.post(&cancel, Some(&bistro), &body).await.expect_ok(200);
        app.post(&cancel, Some(&bistro), &body)
            .await
            .expect_problem(409);
        // Once in transit (or delivered) it can no longer be cancelled.
        let moving = app.place_order("bistro", "farmer-ana").await;
        let ana = app.token("farmer-ana", Role::Farmer);
        app.confirm_order(&moving).await;
        for step in ["preparing", "ready-for-pickup"] {
            app.post(
                &format!("/v1/orders/{moving}/{step}"),
                Some(&ana),
                &json!({}),
            )
            .await
            .expect_ok(200);
        }
        let delivery_id = DeliveryId::from_uuid(uuid::Uuid::now_v7());
        app.order_as_system(&moving, OrderCommand::MarkInTransit { delivery_id })
            .await;
        let cancel_moving = format!("/v1/orders/{moving}/cancel");
        app.post(&cancel_moving, Some(&bistro), &body)
            .await
            .expect_problem(409);
        app.order_as_system(&moving, OrderCommand::MarkDelivered { delivery_id })
            .await;
        let answer = app.post(&cancel_moving, Some(&bistro), &body).await;
        assert!(
            answer.expect_problem(409)["detail"]
                .as_str()
                .unwrap()
                .contains("DELIVERED")
        );
    }
);

api_test!(
    the_farmer_prepares_a_confirmed_order_and_readies_it_for_pickup,
    |app: TestApp| async move {
        let id = app.place_order("bistro", "farmer-ana").await;
        app.confirm_order(&id).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let (_, version, _) = app
            .post(
                &format!("/v1/orders/{id}/preparing"),
                Some(&ana),
                &json!({}),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 3);
        let (_, version, _) = app
            .post(
                &format!("/v1/orders/{id}/ready-for-pickup"),
                Some(&ana),
                &json!({}),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 4);
        assert_eq!(
            app.event_types("order", &id).await,
            [
                "OrderPlaced",
                "OrderConfirmed",
                "OrderPreparing",
                "OrderReadyForPickup"
            ]
        );
        // An admin may do both for any farmer.
        let other = app.place_order("bistro", "farmer-bo").await;
        app.confirm_order(&other).await;
        let admin = app.token("root", Role::Admin);
        for step in ["preparing", "ready-for-pickup"] {
            app.post(
                &format!("/v1/orders/{other}/{step}"),
                Some(&admin),
                &json!({}),
            )
            .await
            .expect_ok(200);
        }
        assert_eq!(app.stream_len("order", &other).await, 4);
    }
);

api_test!(
    marking_preparing_is_refused_to_strangers_and_before_confirmation,
    |app: TestApp| async move {
        let id = app.place_order("bistro", "farmer-ana").await;
        let preparing = format!("/v1/orders/{id}/preparing");
        let ana = app.token("farmer-ana", Role::Farmer);
        app.post(&preparing, None, &json!({}))
            .await
            .expect_problem(401);
        // A pending order cannot be prepared yet.
        let answer = app.post(&preparing, Some(&ana), &json!({})).await;
        assert!(
            answer.expect_problem(409)["detail"]
                .as_str()
                .unwrap()
                .contains("PENDING")
        );
        app.confirm_order(&id).await;
        for (sub, role) in [
            ("farmer-bo", Role::Farmer),
            ("bistro", Role::Restaurant),
            ("audit", Role::Auditor),
        ] {
            app.post(&preparing, Some(&app.token(sub, role)), &json!({}))
                .await
                .expect_problem(403);
        }
        // The body is still a JSON object with no fields.
        let answer = app
            .post(&preparing, Some(&ana), &json!({"status": "PREPARING"}))
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["status"]);
        app.post(&preparing, Some(&ana), &json!([]))
            .await
            .expect_problem(400);
        app.post_raw(&preparing, Some(&ana), "application/json", Vec::new())
            .await
            .expect_problem(400);
        app.post(
            &format!("/v1/orders/{UNKNOWN}/preparing"),
            Some(&ana),
            &json!({}),
        )
        .await
        .expect_problem(404);
        assert_eq!(
            app.stream_len("order", &id).await,
            2,
            "refusals append nothing"
        );
    }
);

api_test!(
    marking_ready_for_pickup_is_refused_to_strangers_and_before_preparing,
    |app: TestApp| async move {
        let id = app.place_order("bistro", "farmer-ana").await;
        app.confirm_order(&id).await;
        let ready = format!("/v1/orders/{id}/ready-for-pickup");
        let ana = app.token("farmer-ana", Role::Farmer);
        app.post(&ready, None, &json!({})).await.expect_problem(401);
        // A confirmed order must be prepared first.
        let answer = app.post(&ready, Some(&ana), &json!({})).await;
        assert!(
            answer.expect_problem(409)["detail"]
                .as_str()
                .unwrap()
                .contains("CONFIRMED")
        );
        app.post(
            &format!("/v1/orders/{id}/preparing"),
            Some(&ana),
            &json!({}),
        )
        .await
        .expect_ok(200);
        for (sub, role) in [
            ("farmer-bo", Role::Farmer),
            ("driver-dan", Role::Distributor),
            ("audit", Role::Auditor),
        ] {
            app.post(&ready, Some(&app.token(sub, role)), &json!({}))
                .await
                .expect_problem(403);
        }
        let answer = app
            .post(&ready, Some(&ana), &json!({"at": "2026-05-04T08:00:00Z"}))
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["at"]);
        let answer = app
            .post("/v1/orders/42/ready-for-pickup", Some(&ana), &json!({}))
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["id"]);
        app.post(
            &format!("/v1/orders/{UNKNOWN}/ready-for-pickup"),
            Some(&ana),
            &json!({}),
        )
        .await
        .expect_problem(404);
        assert_eq!(
            app.stream_len("order", &id).await,
            3,
            "refusals append nothing"
        );
    }
);

api_test!(
    the_openapi_document_describes_the_order_endpoints,
    |app: TestApp| async move {
        let doc = app.get("/openapi.json").await.body;
        for path in [
            "/v1/orders",
            "/v1/orders/{id}/cancel",
            "/v1/orders/{id}/preparing",
            "/v1/orders/{id}/ready-for-pickup",
        ] {
            assert!(doc["paths"][path]["post"].is_object(), "{path} missing");
        }
        let schemas = &doc["components"]["schemas"];
        let place = &schemas["PlaceOrderRequest"];
        let required = place["required"].as_array().unwrap();
        for field in ["farmer_id", "lines", "delivery_address"] {
            assert!(required.contains(&json!(field)), "{field} not required");
        }
        assert!(!required.contains(&json!("customer_id")));
        assert!(place["properties"]["customer_id"]["description"].is_string());
        assert_eq!(place["properties"]["lines"]["maxItems"], 100);
        assert_eq!(
            place["properties"]["requested_delivery_date"]["format"],
            "date"
        );
        assert_eq!(
            schemas["OrderLineBody"]["properties"]["stock_item_id"]["format"],
            "uuid"
        );
    }
);

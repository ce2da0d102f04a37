//! The delivery endpoints, end to end.

use event_schemas::values::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, delivery_body};

const UNKNOWN: &str = "0190f3a0-0000-7000-8000-00000000dead";

/// A valid location report taken at `recorded_at`.
fn location(recorded_at: &str) -> Value {
    json!({"lat": 48.8566, "lon": 2.3522, "recorded_at": recorded_at})
}

/// A valid hand-over.
fn completion() -> Value {
    json!({
        "recipient_name": "Chef Marie",
        "proof_ref": "signature-8841",
        "delivered_at": "2026-05-04T09:12:00Z",
    })
}

api_test!(
    an_admin_schedules_the_delivery_of_an_order,
    |app: TestApp| async move {
        let order_id = app.place_order("bistro", "farmer-ana").await;
        let admin = app.token("root", Role::Admin);
        let answer = app
            .post("/v1/deliveries", Some(&admin), &delivery_body(&order_id))
            .await;
        let (id, version, _) = answer.expect_ok(201);
        assert_eq!(version, 1);
        assert_eq!(answer.headers["etag"], "\"1\"");
        assert_eq!(
            app.event_types("delivery", &id).await,
            ["DeliveryScheduled"]
        );
        let scheduled = &app.payloads("delivery", &id).await[0];
        assert_eq!(scheduled["order_id"], order_id.as_str());
        assert_eq!(scheduled["pickup_address"]["city"], "Montreuil");
        assert_eq!(scheduled["dropoff_address"]["city"], "Paris");
        // A client-chosen id is kept; scheduling it twice breaks a rule of its state.
        let chosen = "0190f3a0-0000-7000-8000-0000000000d1";
        let mut body = delivery_body(&order_id);
        body["id"] = json!(chosen);
        let (got, _, _) = app
            .post("/v1/deliveries", Some(&admin), &body)
            .await
            .expect_ok(201);
        assert_eq!(got, chosen);
        app.post("/v1/deliveries", Some(&admin), &body)
            .await
            .expect_problem(409);
    }
);

api_test!(
    scheduling_with_invalid_fields_lists_every_field,
    |app: TestApp| async move {
        let admin = app.token("root", Role::Admin);
        let mut body = delivery_body("0190f3a0-0000-7000-8000-0000000000c1");
        body["order_id"] = json!("order-1");
        body["pickup_address"]["line1"] = json!("");
        body["dropoff_address"]["postal_code"] = json!("1".repeat(21));
        body["window_start"] = json!("tomorrow morning");
        body["window_end"] = json!("2026-05-04 10:00");
        let answer = app.post("/v1/deliveries", Some(&admin), &body).await;
        answer.expect_problem(400);
        let fields = answer.error_fields();
        for field in [
            "order_id",
            "pickup_address.line1",
            "dropoff_address.postal_code",
            "window_start",
            "window_end",
        ] {
            assert!(
                fields.iter().any(|f| f == field),
                "{field} missing from {fields:?}"
            );
        }
        // The pickup address is required over HTTP.
        body = delivery_body("0190f3a0-0000-7000-8000-0000000000c1");
        body.as_object_mut().unwrap().remove("pickup_address");
        let answer = app.post("/v1/deliveries", Some(&admin), &body).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["pickup_address"]);
        // A window that does not end after it starts is refused by the domain.
        body = delivery_body("0190f3a0-0000-7000-8000-0000000000c1");
        body["window_end"] = body["window_start"].clone();
        let answer = app.post("/v1/deliveries", Some(&admin), &body).await;
        assert!(
            answer.expect_problem(400)["detail"]
                .as_str()
                .unwrap()
                .contains("window")
        );
    }
);

api_test!(
    scheduling_needs_a_token_and_the_admin_role,
    |app: TestApp| async move {
        let id = "0190f3a0-0000-7000-8000-0000000000d2";
        let mut body = delivery_body("0190f3a0-0000-7000-8000-0000000000c1");
        body["id"] = json!(id);
        app.post("/v1/deliveries", None, &body)
            .await
            .expect_problem(401);
        for (sub, role) in [
            ("driver-dan", Role::Distributor),
            ("bistro", Role::Restaurant),
            ("farmer-ana", Role::Farmer),
            ("audit", Role::Auditor),
        ] {
            app.post("/v1/deliveries", Some(&app.token(sub, role)), &body)
                .await
                .expect_problem(403);
        }
        assert_eq!(app.stream_len("delivery", id).await, 0);
    }
);

api_test!(
    a_distributor_assigns_itself_and_an_admin_names_a_driver,
    |app: TestApp| async move {
        let id = app.schedule_delivery().await;
        let dan = app.token("driver-dan", Role::Distributor);
        let (_, version, _) = app
            .post(
                &format!("/v1/deliveries/{id}/assign"),
                Some(&dan),
                &json!({"vehicle": "AB-123-CD"}),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 2);
        assert_eq!(
            app.event_types("delivery", &id).await,
            ["DeliveryScheduled", "DriverAssigned"]
        );
        let assigned = &app.payloads("delivery", &id).await[1];
        assert_eq!(assigned["driver_id"], "driver-dan");
        assert_eq!(assigned["vehicle"], "AB-123-CD");
        let other = app.schedule_delivery().await;
        app.post(
            &format!("/v1/deliveries/{other}/assign"),
            Some(&app.token("root", Role::Admin)),
            &json!({"driver_id": "driver-eve"}),
        )
        .await
        .expect_ok(200);
        assert_eq!(
            app.payloads("delivery", &other).await[1]["driver_id"],
            "driver-eve"
        );
    }
);

api_test!(
    assigning_is_refused_to_other_roles_other_drivers_and_taken_deliveries,
    |app: TestApp| async move {
        let id = app.schedule_delivery().await;
        let assign = format!("/v1/deliveries/{id}/assign");
        let dan = app.token("driver-dan", Role::Distributor);
        let admin = app.token("root", Role::Admin);
        app.post(&assign, None, &json!({}))
            .await
            .expect_problem(401);
        // A distributor assigns only itself; other roles not at all.
        app.post(&assign, Some(&dan), &json!({"driver_id": "driver-eve"}))
            .await
            .expect_problem(403);
        for (sub, role) in [("bistro", Role::Restaurant), ("audit", Role::Auditor)] {
            app.post(&assign, Some(&app.token(sub, role)), &json!({}))
                .await
                .expect_problem(403);
        }
        let answer = app
            .post(
                &assign,
                Some(&dan),
                &json!({"driver_id": "", "vehicle": " "}),
            )
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["driver_id", "vehicle"]);
        // An admin must name the driver.
        app.post(&assign, Some(&admin), &json!({}))
            .await
            .expect_problem(400);
        app.post(
            &format!("/v1/deliveries/{UNKNOWN}/assign"),
            Some(&dan),
            &json!({}),
        )
        .await
        .expect_problem(404);
        assert_eq!(
            app.stream_len("delivery", &id).await,
            1,
            "refusals append nothing"
        );
        app.post(&assign, Some(&dan), &json!({}))
            .await
            .expect_ok(200);
        app.post(
            &assign,
            Some(&app.token("driver-eve", Role::Distributor)),
            &json!({}),
        )
        .await
        .expect_problem(409);
    }
);

api_test!(
    the_assigned_driver_picks_up_reports_its_position_and_completes,
    |app: TestApp| async move {
        let id = app.assigned_delivery("driver-dan").await;
        let dan = app.token("driver-dan", Role::Distributor);
        let base = format!("/v1/deliveries/{id}");
        let (_, version, _) = app
            .post(&format!("{base}/pickup"), Some(&dan), &json!({}))
            .await
            .expect_ok(200);
        assert_eq!(version, 3);
        let mut report = location("2026-05-04T08:30:00Z");
        report["eta"] = json!("2026-05-04T09:10:00+02:00");
        let (_, version, _) = app
            .post(&format!("{base}/location"), Some(&dan), &report)
            .await
            .expect_ok(200);
        assert_eq!(version, 4);
        let (_, version, _) = app
            .post(&format!("{base}/complete"), Some(&dan), &completion())
            .await
            .expect_ok(200);
        assert_eq!(version, 5);
        assert_eq!(
            app.event_types("delivery", &id).await,
            [
                "DeliveryScheduled",
                "DriverAssigned",
                "DeliveryPickedUp",
                "LocationUpdated",
                "DeliveryCompleted"
            ]
        );
        let payloads = app.payloads("delivery", &id).await;
        assert_eq!(payloads[2]["driver_id"], "driver-dan");
        assert_eq!(payloads[3]["location"]["lat"], 48.8566);
        assert_eq!(payloads[4]["recipient_name"], "Chef Marie");
        // An admin may pick up and complete any delivery.
        let other = app.assigned_delivery("driver-eve").await;
        let admin = app.token("root", Role::Admin);
        app.post(
            &format!("/v1/deliveries/{other}/pickup"),
            Some(&admin),
            &json!({}),
        )
        .await
        .expect_ok(200);
        app.post(
            &format!("/v1/deliveries/{other}/complete"),
            Some(&admin),
            &completion(),
        )
        .await
        .expect_ok(200);
    }
);

api_test!(
    picking_up_is_refused_to_other_drivers_and_before_assignment,
    |app: TestApp| async move {
        let id = app.assigned_delivery("driver-dan").await;
        let pickup = format!("/v1/deliveries/{id}/pickup");
        let dan = app.token("driver-dan", Role::Distributor);
        app.post(&pickup, None, &json!({}))
            .await
            .expect_problem(401);
        for (sub, role) in [
            ("driver-eve", Role::Distributor),
            ("farmer-ana", Role::Farmer),
            ("audit", Role::Auditor),
        ] {
            app.post(&pickup, Some(&app.token(sub, role)), &json!({}))
                .await
                .expect_problem(403);
        }
        let answer = app.post(&pickup, Some(&dan), &json!({"late": true})).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["late"]);
        app.post(
            &format!("/v1/deliveries/{UNKNOWN}/pickup"),
            Some(&dan),
            &json!({}),
        )
        .await
        .expect_problem(404);
        assert_eq!(
            app.stream_len("delivery", &id).await,
            2,
            "refusals append nothing"
        );
        // Not assigned yet: nothing to pick up.
        let scheduled = app.schedule_delivery().await;
        app.post(
            &format!("/v1/deliveries/{scheduled}/pickup"),
            Some(&app.token("root", Role::Admin)),
            &json!({}),
        )
        .await
        .expect_problem(409);
        // Picked up already.
        app.post(&pickup, Some(&dan), &json!({}))
            .await
            .expect_ok(200);
        app.post(&pickup, Some(&dan), &json!({}))
            .await
            .expect_problem(409);
    }
);

api_test!(
    location_updates_are_checked_and_never_older_than_the_last,
    |app: TestApp| async move {
        let id = app.delivery_in_transit("driver-dan").await;
        let path = format!("/v1/deliveries/{id}/location");
        let dan = app.token("driver-dan", Role::Distributor);
        app.post(&path, None, &location("2026-05-04T08:30:00Z"))
            .await
            .expect_problem(401);
        for (sub, role) in [
            ("driver-eve", Role::Distributor),
            ("bistro", Role::Restaurant),
            ("audit", Role::Auditor),
        ] {
            app.post(
                &path,
                Some(&app.token(sub, role)),
                &location("2026-05-04T08:30:00Z"),
            )
            .await
            .expect_problem(403);
        }
        let answer = app
            .post(
                &path,
                Some(&dan),
                &json!({"lat": 90.5, "lon": -180.1, "recorded_at": "08:30", "eta": "soon"}),
            )
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["lat", "lon", "recorded_at", "eta"]);
        let answer = app
            .post(
                &path,
                Some(&dan),
                &json!({"lat": "48.8", "lon": 2.35, "recorded_at": "2026-05-04T08:30:00Z"}),
            )
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["lat"]);
        app.post(
            &format!("/v1/deliveries/{UNKNOWN}/location"),
            Some(&dan),
            &location("2026-05-04T08:30:00Z"),
        )
        .await
        .expect_problem(404);
        // The edges of the ranges are fine.
        app.post(
            &path,
            Some(&dan),
            &json!({"lat": -90, "lon": 180, "recorded_at": "2026-05-04T08:30:00Z"}),
        )
        .await
        .expect_ok(200);
        // Older than (or as old as) the last one recorded: refused.
        for stale in ["2026-05-04T08:29:59Z", "2026-05-04T10:30:00+02:00"] {
            app.post(&path, Some(&dan), &location(stale))
                .await
                .expect_problem(409);
        }
        let (_, version, _) = app
            .post(&path, Some(&dan), &location("2026-05-04T08:31:00Z"))
            .await
            .expect_ok(200);
        assert_eq!(version, 5);
        assert_eq!(
            app.event_types("delivery", &id).await[3..],
            ["LocationUpdated", "LocationUpdated"]
        );
    }
);

api_test!(
    completing_is_refused_to_other_drivers_and_before_pickup,
    |app: TestApp| async move {
        let id = app.assigned_delivery("driver-dan").await;
        let complete = format!("/v1/deliveries/{id}/complete");
        let dan = app.token("driver-dan", Role::Distributor);
        app.post(&complete, None, &completion())
            .await
            .expect_problem(401);
        for (sub, role) in [
            ("driver-eve", Role::Distributor),
            ("bistro", Role::Restaurant),
            ("audit", Role::Auditor),
        ] {
            app.post(&complete, Some(&app.token(sub, role)), &completion())
                .await
                .expect_problem(403);
        }
        let answer = app
            .post(
                &complete,
                Some(&dan),
                &json!({"recipient_name": "", "proof_ref": "", "delivered_at": "noon"}),
            )
            .await;
        answer.expect_problem(400);
        assert_eq!(
            answer.error_fields(),
            ["recipient_name", "proof_ref", "delivered_at"]
        );
        app.post(
            &format!("/v1/deliveries/{UNKNOWN}/complete"),
            Some(&dan),
            &completion(),
        )
        .await
        .expect_problem(404);
        // Not picked up yet.
        app.post(&complete, Some(&dan), &completion())
            .await
            .expect_problem(409);
        assert_eq!(
            app.stream_len("delivery", &id).await,
            2,
            "refusals append nothing"
        );
    }
);

api_test!(
    the_assigned_driver_fails_a_delivery_once,
    |app: TestApp| async move {
        let id = app.delivery_in_transit("driver-dan").await;
        let fail = format!("/v1/deliveries/{id}/fail");
        let dan = app.token("driver-dan", Role::Distributor);
        let body = json!({"reason": "restaurant closed"});
        app.post(&fail, None, &body).await.expect_problem(401);
        for (sub, role) in [
            ("driver-eve", Role::Distributor),
            ("farmer-ana", Role::Farmer),
            ("audit", Role::Auditor),
        ] {
            app.post(&fail, Some(&app.token(sub, role)), &body)
                .await
                .expect_problem(403);
        }
        let answer = app
            .post(&fail, Some(&dan), &json!({"reason": "\u{0}"}))
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["reason"]);
        app.post(&format!("/v1/deliveries/{UNKNOWN}/fail"), Some(&dan), &body)
            .await
            .expect_problem(404);
        let (_, version, _) = app.post(&fail, Some(&dan), &body).await.expect_ok(200);
        assert_eq!(version, 4);
        assert_eq!(
            app.event_types("delivery", &id).await,
            [
                "DeliveryScheduled",
                "DriverAssigned",
                "DeliveryPickedUp",
                "DeliveryFailed"
            ]
        );
        assert_eq!(
            app.payloads("delivery", &id).await[3]["reason"],
            "restaurant closed"
        );
        // A failed delivery cannot fail again, nor a delivered one.
        app.post(&fail, Some(&dan), &body).await.expect_problem(409);
        let delivered = app.delivery_in_transit("driver-dan").await;
        app.post(
            &format!("/v1/deliveries/{delivered}/complete"),
            Some(&dan),
            &completion(),
        )
        .await
        .expect_ok(200);
        app.post(
            &format!("/v1/deliveries/{delivered}/fail"),
            Some(&app.token("root", Role::Admin)),
            &body,
        )
        .await
        .expect_problem(409);
    }
);

api_test!(
    the_openapi_document_describes_the_delivery_endpoints,
    |app: TestApp| async move {
        let doc = app.get("/openapi.json").await.body;
        for path in [
            "/v1/deliveries",
            "/v1/deliveries/{id}/assign",
            "/v1/deliveries/{id}/pickup",
            "/v1/deliveries/{id}/location",
            "/v1/deliveries/{id}/complete",
            "/v1/deliveries/{id}/fail",
        ] {
            assert!(doc["paths"][path]["post"].is_object(), "{path} missing");
        }
        let schemas = &doc["components"]["schemas"];
        let schedule = &schemas["ScheduleDeliveryRequest"]["properties"];
        assert_eq!(schedule["window_start"]["format"], "date-time");
        assert_eq!(schedule["order_id"]["format"], "uuid");
        let location = &schemas["UpdateLocationRequest"]["properties"];
        assert_eq!(location["lat"]["minimum"], -90.0);
        assert_eq!(location["lon"]["maximum"], 180.0);
    }
);

api_test!(
    a_location_at_negative_zero_keeps_the_hash_chain_intact,
    |app: TestApp| async move {
        // PostgreSQL's jsonb has no -0.0: stored as 0, it must hash as it was written.
        let id = app.delivery_in_transit("driver-dan").await;
        let dan = app.token("driver-dan", Role::Distributor);
        app.post(
            &format!("/v1/deliveries/{id}/location"),
            Some(&dan),
            &serde_json::from_str(
                r#"{"lat": -0.0, "lon": -0.0, "recorded_at": "2026-05-04T08:30:00Z"}"#,
            )
            .unwrap(),
        )
        .await
        .expect_ok(200);
        let verified = app
            .store
            .verify_stream(&event_store::StreamId::new("delivery", &id))
            .await
            .unwrap();
        assert!(verified.ok, "{verified:?}");
    }
);

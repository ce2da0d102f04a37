//! The inspection endpoints, end to end.

use event_schemas::values::Role;
use serde_json::{Value, json};

use crate::support::TestApp;

/// An inspection id nothing was scheduled under.
const UNKNOWN: &str = "0190f3a0-0000-7000-8000-00000000dead";

/// A valid scheduling body: `inspector` inspects `farmer-ana`'s farm.
fn schedule_body(inspector: &str) -> Value {
    json!({
        "farmer_id": "farmer-ana",
        "inspector_id": inspector,
        "scheduled_for": "2026-05-04T09:00:00Z",
    })
}

/// A valid violation body.
fn violation_body(severity: &str, stock_item_ids: &[&str]) -> Value {
    json!({
        "code": "HYG-12",
        "severity": severity,
        "description": "Crates stored on the bare floor",
        "stock_item_ids": stock_item_ids,
    })
}

/// Schedules an inspection of `farmer-ana`'s farm assigned to `inspector`; returns its id.
async fn scheduled(app: &TestApp, inspector: &str) -> String {
    let token = app.token(inspector, Role::Inspector);
    app.post("/v1/inspections", Some(&token), &schedule_body(inspector))
        .await
        .expect_ok(201)
        .0
}

/// Schedules and starts an inspection assigned to `inspector`; returns its id.
async fn started(app: &TestApp, inspector: &str) -> String {
    let id = scheduled(app, inspector).await;
    let token = app.token(inspector, Role::Inspector);
    app.post(
        &format!("/v1/inspections/{id}/start"),
        Some(&token),
        &json!({}),
    )
    .await
    .expect_ok(200);
    id
}

/// The payload of the event at `index` (0-based) of inspection `id`'s stream.
async fn payload(app: &TestApp, id: &str, index: usize) -> Value {
    let events = app
        .store
        .read_stream(&event_store::StreamId::new("inspection", id), 0)
        .await
        .unwrap();
    let event = &events[index];
    event.payload[&event.event_type].clone()
}

api_test!(
    an_inspector_schedules_an_inspection_assigned_to_itself,
    |app: TestApp| async move {
        let lee = app.token("inspector-lee", Role::Inspector);
        let answer = app
            .post(
                "/v1/inspections",
                Some(&lee),
                &schedule_body("inspector-lee"),
            )
            .await;
        let (id, version, _) = answer.expect_ok(201);
        assert_eq!(version, 1);
        assert_eq!(
            app.event_types("inspection", &id).await,
            ["InspectionScheduled"]
        );
        let scheduled = payload(&app, &id, 0).await;
        assert_eq!(scheduled["inspector_id"], "inspector-lee");
        assert_eq!(scheduled["farmer_id"], "farmer-ana");
        // An admin assigns anyone, under an id of the client's choosing.
        let admin = app.token("root", Role::Admin);
        let chosen = "0190f3a0-0000-7000-8000-0000000000b1";
        let mut body = schedule_body("inspector-kim");
        body["id"] = json!(chosen);
        let (got, _, _) = app
            .post("/v1/inspections", Some(&admin), &body)
            .await
            .expect_ok(201);
        assert_eq!(got, chosen);
        // The same id again breaks a rule of the aggregate's state.
        app.post("/v1/inspections", Some(&admin), &body)
            .await
            .expect_problem(409);
    }
);

api_test!(
    scheduling_with_invalid_fields_lists_every_field,
    |app: TestApp| async move {
        let lee = app.token("inspector-lee", Role::Inspector);
        let mut body = schedule_body("inspector-lee");
        body["id"] = json!("not-a-uuid");
        body["farmer_id"] = json!("  ");
        body["scheduled_for"] = json!("next tuesday");
        let answer = app.post("/v1/inspections", Some(&lee), &body).await;
        answer.expect_problem(400);
        let fields = answer.error_fields();
        for field in ["id", "farmer_id", "scheduled_for"] {
            assert!(
                fields.iter().any(|f| f == field),
                "{field} missing from {fields:?}"
            );
        }
        let mut body = schedule_body("inspector-lee");
        body.as_object_mut().unwrap().remove("inspector_id");
        let answer = app.post("/v1/inspections", Some(&lee), &body).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["inspector_id"]);
    }
);

api_test!(
    scheduling_needs_a_token_and_an_inspector_for_itself_or_an_admin,
    |app: TestApp| async move {
        let body = schedule_body("inspector-lee");
        app.post("/v1/inspections", None, &body)
            .await
            .expect_problem(401);
        let farmer = app.token("farmer-ana", Role::Farmer);
        app.post("/v1/inspections", Some(&farmer), &body)
            .await
            .expect_problem(403);
        let kim = app.token("inspector-kim", Role::Inspector);
        app.post("/v1/inspections", Some(&kim), &body)
            .await
            .expect_problem(403);
        let auditor = app.token("audit", Role::Auditor);
        app.post("/v1/inspections", Some(&auditor), &body)
            .await
            .expect_problem(403);
    }
);

api_test!(
    the_assigned_inspector_starts_an_inspection,
    |app: TestApp| async move {
        let id = scheduled(&app, "inspector-lee").await;
        let lee = app.token("inspector-lee", Role::Inspector);
        let path = format!("/v1/inspections/{id}/start");
        let (got, version, _) = app.post(&path, Some(&lee), &json!({})).await.expect_ok(200);
        assert_eq!((got.as_str(), version), (id.as_str(), 2));
        assert_eq!(
            app.event_types("inspection", &id).await,
            ["InspectionScheduled", "InspectionStarted"]
        );
        // Starting twice is a forbidden transition.
        app.post(&path, Some(&lee), &json!({}))
            .await
            .expect_problem(409);
    }
);

api_test!(
    starting_is_refused_without_token_to_others_and_for_unknown_inspections,
    |app: TestApp| async move {
        let id = scheduled(&app, "inspector-lee").await;
        let path = format!("/v1/inspections/{id}/start");
        app.post(&path, None, &json!({})).await.expect_problem(401);
        let kim = app.token("inspector-kim", Role::Inspector);
        app.post(&path, Some(&kim), &json!({}))
            .await
            .expect_problem(403);
        let lee = app.token("inspector-lee", Role::Inspector);
        // The empty body admits no field, and the path must name a UUID.
        let answer = app.post(&path, Some(&lee), &json!({"now": true})).await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["now"]);
        let answer = app
            .post("/v1/inspections/nope/start", Some(&lee), &json!({}))
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["id"]);
        app.post(
            &format!("/v1/inspections/{UNKNOWN}/start"),
            Some(&lee),
            &json!({}),
        )
        .await
        .expect_problem(404);
        assert_eq!(app.stream_len("inspection", &id).await, 1);
    }
);

api_test!(
    recording_a_violation_answers_its_id,
    |app: TestApp| async move {
        let id = started(&app, "inspector-lee").await;
        let item = app.stock_item("farmer-ana", 10).await;
        let lee = app.token("inspector-lee", Role::Inspector);
        let path = format!("/v1/inspections/{id}/violations");
        let answer = app
            .post(&path, Some(&lee), &violation_body("critical", &[&item]))
            .await;
        let (_, version, _) = answer.expect_ok(200);
        assert_eq!(version, 3);
        let violation_id = answer.body["violation_id"].as_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&violation_id).is_ok());
        assert_eq!(
            app.event_types("inspection", &id).await,
            [
                "InspectionScheduled",
                "InspectionStarted",
                "ViolationRecorded"
            ]
        );
        let recorded = payload(&app, &id, 2).await;
        assert_eq!(recorded["violation_id"], violation_id.as_str());
        assert_eq!(recorded["severity"], "critical");
        assert_eq!(recorded["stock_item_ids"], json!([item]));
        // Without a key, every request records a new violation.
        let other = app
            .post(&path, Some(&lee), &violation_body("minor", &[]))
            .await;
        other.expect_ok(200);
        assert_ne!(other.body["violation_id"], violation_id.as_str());
    }
);

api_test!(
    an_idempotent_retry_of_a_violation_answers_the_same_violation_id,
    |app: TestApp| async move {
        let id = started(&app, "inspector-lee").await;
        let lee = app.token("inspector-lee", Role::Inspector);
        let path = format!("/v1/inspections/{id}/violations");
        let body = violation_body("major", &[]);
        let key = [("Idempotency-Key", "violation-1")];
        let first = app.post_with(&path, Some(&lee), &body, &key).await;
        let again = app.post_with(&path, Some(&lee), &body, &key).await;
        assert_eq!(first.expect_ok(200), again.expect_ok(200));
        assert!(first.body["violation_id"].is_string());
        assert_eq!(first.body["violation_id"], again.body["violation_id"]);
        assert_eq!(app.stream_len("inspection", &id).await, 3, "one append");
        let recorded = payload(&app, &id, 2).await;
        assert_eq!(recorded["violation_id"], first.body["violation_id"]);
        // Another key records another violation.
        let other = app
            .post_with(
                &path,
                Some(&lee),
                &body,
                &[("Idempotency-Key", "violation-2")],
            )
            .await;
        other.expect_ok(200);
        assert_ne!(other.body["violation_id"], first.body["violation_id"]);
    }
);

api_test!(
    recording_a_violation_with_invalid_fields_lists_every_field,
    |app: TestApp| async move {
        let id = started(&app, "inspector-lee").await;
        let lee = app.token("inspector-lee", Role::Inspector);
        let mut body = violation_body(
            "catastrophic",
            &["0190f3a0-0000-7000-8000-000000000001", "x"],
        );
        body["code"] = json!("");
        body["description"] = json!(" ");
        let answer = app
            .post(
                &format!("/v1/inspections/{id}/violations"),
                Some(&lee),
                &body,
            )
            .await;
        answer.expect_problem(400);
        let mut fields = answer.error_fields();
        fields.sort();
        assert_eq!(
            fields,
            ["code", "description", "severity", "stock_item_ids[1]"]
        );
        assert_eq!(app.stream_len("inspection", &id).await, 2);
    }
);

api_test!(
    recording_a_violation_is_refused_without_token_to_others_and_before_the_start,
    |app: TestApp| async move {
        let id = scheduled(&app, "inspector-lee").await;
        let path = format!("/v1/inspections/{id}/violations");
        let body = violation_body("minor", &[]);
        app.post(&path, None, &body).await.expect_problem(401);
        let kim = app.token("inspector-kim", Role::Inspector);
        app.post(&path, Some(&kim), &body).await.expect_problem(403);
        let lee = app.token("inspector-lee", Role::Inspector);
        // Not started yet: a forbidden transition.
        app.post(&path, Some(&lee), &body).await.expect_problem(409);
        app.post(
            &format!("/v1/inspections/{UNKNOWN}/violations"),
            Some(&lee),
            &body,
        )
        .await
        .expect_problem(404);
        assert_eq!(app.stream_len("inspection", &id).await, 1);
    }
);

api_test!(
    completing_passes_or_fails_the_inspection,
    |app: TestApp| async move {
        let lee = app.token("inspector-lee", Role::Inspector);
        let id = started(&app, "inspector-lee").await;
        let (_, version, _) = app
            .post(
                &format!("/v1/inspections/{id}/complete"),
                Some(&lee),
                &json!({"score": 92, "notes": "Clean and tidy"}),
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 3);
        assert_eq!(
            app.event_types("inspection", &id).await,
            [
                "InspectionScheduled",
                "InspectionStarted",
                "InspectionPassed"
            ]
        );
        assert_eq!(payload(&app, &id, 2).await["score"], 92);
        // An open critical violation fails it whatever the score.
        let id = started(&app, "inspector-lee").await;
        app.post(
            &format!("/v1/inspections/{id}/violations"),
            Some(&lee),
            &violation_body("critical", &[]),
        )
        .await
        .expect_ok(200);
        app.post(
            &format!("/v1/inspections/{id}/complete"),
            Some(&lee),
            &json!({"score": 100}),
        )
        .await
        .expect_ok(200);
        assert_eq!(
            app.event_types("inspection", &id).await.last().unwrap(),
            "InspectionFailed"
        );
    }
);

api_test!(
    completing_is_refused_for_a_bad_score_others_and_an_inspection_not_started,
    |app: TestApp| async move {
        let id = scheduled(&app, "inspector-lee").await;
        let path = format!("/v1/inspections/{id}/complete");
        let lee = app.token("inspector-lee", Role::Inspector);
        for score in [json!(101), json!(-1), json!(1000)] {
            let answer = app
                .post(&path, Some(&lee), &json!({ "score": score }))
                .await;
            answer.expect_problem(400);
            assert_eq!(answer.error_fields(), ["score"], "score {score}");
        }
        let body = json!({"score": 80});
        app.post(&path, None, &body).await.expect_problem(401);
        let kim = app.token("inspector-kim", Role::Inspector);
        app.post(&path, Some(&kim), &body).await.expect_problem(403);
        // Not started: a forbidden transition.
        app.post(&path, Some(&lee), &body).await.expect_problem(409);
        app.post(
            &format!("/v1/inspections/{UNKNOWN}/complete"),
            Some(&lee),
            &body,
        )
        .await
        .expect_problem(404);
        assert_eq!(app.stream_len("inspection", &id).await, 1);
    }
);

api_test!(
    any_inspector_resolves_an_open_violation,
    |app: TestApp| async move {
        let id = started(&app, "inspector-lee").await;
        let lee = app.token("inspector-lee", Role::Inspector);
        let recorded = app
            .post(
                &format!("/v1/inspections/{id}/violations"),
                Some(&lee),
                &violation_body("major", &[]),
            )
            .await;
        recorded.expect_ok(200);
        let violation_id = recorded.body["violation_id"].as_str().unwrap().to_owned();
        let path = format!("/v1/inspections/{id}/violations/{violation_id}/resolve");
        let kim = app.token("inspector-kim", Role::Inspector);
        let body = json!({"resolution": "Pallets installed"});
        let (_, version, _) = app.post(&path, Some(&kim), &body).await.expect_ok(200);
        assert_eq!(version, 4);
        assert_eq!(
            app.event_types("inspection", &id).await.last().unwrap(),
            "ViolationResolved"
        );
        assert_eq!(payload(&app, &id, 3).await["violation_id"], violation_id);
        // Resolving it again breaks a rule of its state.
        app.post(&path, Some(&kim), &body).await.expect_problem(409);
    }
);

api_test!(
    resolving_is_refused_for_bad_fields_without_token_to_others_and_for_unknown_violations,
    |app: TestApp| async move {
        let id = started(&app, "inspector-lee").await;
        let lee = app.token("inspector-lee", Role::Inspector);
        let recorded = app
            .post(
                &format!("/v1/inspections/{id}/violations"),
                Some(&lee),
                &violation_body("minor", &[]),
            )
            .await;
        recorded.expect_ok(200);
        let violation_id = recorded.body["violation_id"].as_str().unwrap().to_owned();
        let path = format!("/v1/inspections/{id}/violations/{violation_id}/resolve");
        let body = json!({"resolution": "Fixed"});
        let answer = app
            .post(&path, Some(&lee), &json!({"resolution": ""}))
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["resolution"]);
        let answer = app
            .post(
                &format!("/v1/inspections/{id}/violations/nope/resolve"),
                Some(&lee),
                &body,
            )
            .await;
        answer.expect_problem(400);
        assert_eq!(answer.error_fields(), ["violation_id"]);
        app.post(&path, None, &body).await.expect_problem(401);
        for (sub, role) in [("farmer-ana", Role::Farmer), ("audit", Role::Auditor)] {
            app.post(&path, Some(&app.token(sub, role)), &body)
                .await
                .expect_problem(403);
        }
        app.post(
            &format!("/v1/inspections/{id}/violations/{UNKNOWN}/resolve"),
            Some(&lee),
            &body,
        )
        .await
        .expect_problem(404);
        app.post(
            &format!("/v1/inspections/{UNKNOWN}/violations/{violation_id}/resolve"),
            Some(&lee),
            &body,
        )
        .await
        .expect_problem(404);
        assert_eq!(app.stream_len("inspection", &id).await, 3);
    }
);

api_test!(
    the_openapi_document_describes_the_inspection_endpoints,
    |app: TestApp| async move {
        let doc = app.get("/openapi.json").await.body;
        for path in [
            "/v1/inspections",
            "/v1/inspections/{id}/start",
            "/v1/inspections/{id}/violations",
            "/v1/inspections/{id}/complete",
            "/v1/inspections/{id}/violations/{violation_id}/resolve",
        ] {
            assert!(doc["paths"][path]["post"].is_object(), "{path} missing");
        }
        let schemas = &doc["components"]["schemas"];
        let violation = &schemas["RecordViolationRequest"]["properties"];
        assert_eq!(
            violation["severity"]["enum"],
            json!(["minor", "major", "critical"])
        );
        assert_eq!(violation["stock_item_ids"]["items"]["format"], "uuid");
        let score = &schemas["CompleteInspectionRequest"]["properties"]["score"];
        assert_eq!(
            (&score["minimum"], &score["maximum"]),
            (&json!(0), &json!(100))
        );
        assert_eq!(
            schemas["CommandAnswer"]["properties"]["violation_id"]["format"],
            "uuid"
        );
    }
);

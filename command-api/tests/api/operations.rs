//! Operations endpoints and the HTTP edge (content type, size, unknown routes), end to end.

use event_schemas::values::Role;
use serde_json::json;

use crate::support::TestApp;

api_test!(health_ready_and_metrics_answer, |app: TestApp| async move {
    assert_eq!(app.get("/health").await.status, 200);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 200);
    let farmer = app.token("farmer-ana", Role::Farmer);
    app.post(
        "/v1/stock-items",
        Some(&farmer),
        &crate::support::stock_item_body(1),
    )
    .await
    .expect_ok(201);
    let metrics = reqwest::get(format!("{}/metrics", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/v1/stock-items\""), "{metrics}");
    assert!(metrics.contains("http_request_duration_seconds"));
});

api_test!(
    the_openapi_document_lists_every_command_endpoint,
    |app: TestApp| async move {
        let doc = app.get("/openapi.json").await;
        assert_eq!(doc.status, 200);
        assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc.body["paths"].as_object().unwrap();
        for path in [
            "/v1/stock-items",
            "/v1/stock-items/{id}/receive",
            "/v1/stock-items/{id}/adjust",
            "/v1/stock-items/{id}/price",
            "/v1/stock-items/{id}/quarantine",
            "/v1/stock-items/{id}/release-quarantine",
            "/health",
            "/ready",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
    }
);

api_test!(
    a_body_that_is_not_json_is_415_and_a_huge_one_413,
    |app: TestApp| async move {
        let farmer = app.token("farmer-ana", Role::Farmer);
        app.post_raw(
            "/v1/stock-items",
            Some(&farmer),
            "text/plain",
            b"hi".to_vec(),
        )
        .await
        .expect_problem(415);
        app.post_raw(
            "/v1/stock-items",
            Some(&farmer),
            "application/json",
            b"{oops".to_vec(),
        )
        .await
        .expect_problem(400);
        let huge = json!({ "product_name": "x".repeat(200_000) })
            .to_string()
            .into_bytes();
        app.post_raw("/v1/stock-items", Some(&farmer), "application/json", huge)
            .await
            .expect_problem(413);
    }
);

api_test!(
    unknown_routes_and_methods_answer_problems,
    |app: TestApp| async move {
        app.get("/v1/nothing-here").await.expect_problem(404);
        app.get("/v1/stock-items").await.expect_problem(405);
    }
);

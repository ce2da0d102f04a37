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
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/v1/stock-items\""), "{metrics}");
    assert!(metrics.contains("http_request_duration_seconds"));
});

api_test!(
    invented_methods_and_paths_never_become_metric_labels,
    |app: TestApp| async move {
        let client = reqwest::Client::new();
        for (method, path) in [
            ("FROBNICATE", "/health"),
            ("XYZZYMETHOD", "/v1/stock-items"),
            ("GET", "/v1/plugh-made-up-path"),
            ("QUUXMETHOD", "/v1/another-made-up-path"),
        ] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let answer = client
                .request(method, format!("{}{path}", app.address))
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_client_error(), "{path}");
        }
        let metrics = app.get_text("/metrics").await;
        for invented in [
            "FROBNICATE",
            "XYZZYMETHOD",
            "QUUXMETHOD",
            "plugh",
            "made-up",
        ] {
            assert!(
                !metrics.contains(invented),
                "{invented} is a label:\n{metrics}"
            );
        }
        assert!(metrics.contains(r#"method="other""#), "{metrics}");
        assert!(metrics.contains(r#"route="unmatched""#), "{metrics}");
    }
);

api_test!(
    an_invalid_request_id_is_replaced_by_a_fresh_one_and_the_command_still_runs,
    |app: TestApp| async move {
        let farmer = app.token("farmer-ana", Role::Farmer);
        let huge = "r".repeat(100_000);
        let too_long = "r".repeat(201);
        for sent in [
            huge.as_str(),
            too_long.as_str(),
            "caf\u{e9}-\u{1f955}",
            "tab\there",
            "with space",
        ] {
            let answer = app
                .post_with(
                    "/v1/stock-items",
                    Some(&farmer),
                    &crate::support::stock_item_body(1),
                    &[("X-Request-Id", sent)],
                )
                .await;
            let (id, _, _) = answer.expect_ok(201);
            let echoed = answer.headers["x-request-id"].to_str().unwrap();
            let fresh = uuid::Uuid::parse_str(echoed).unwrap();
            assert_eq!(fresh.get_version_num(), 7, "{echoed}");
            // The command recorded the id that was echoed, not the one sent.
            let events = app
                .store
                .read_stream(&event_store::StreamId::new("stock", &id), 0)
                .await
                .unwrap();
            assert_eq!(events[0].metadata["request_id"], echoed);
        }
        // A valid id of the longest length is kept.
        let longest = "r".repeat(200);
        let answer = app
            .post_with(
                "/v1/stock-items",
                Some(&farmer),
                &crate::support::stock_item_body(1),
                &[("X-Request-Id", &longest)],
            )
            .await;
        answer.expect_ok(201);
        assert_eq!(answer.headers["x-request-id"], longest.as_str());
    }
);

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

#[tokio::test]
async fn an_actor_sending_too_fast_gets_429_with_retry_after() {
    use command_api::{AppState, Authenticator, JwtConfig, JwtKey, Server, router};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let store = event_store::EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let jwt = JwtConfig::new(JwtKey::Secret(crate::support::SECRET.to_vec()));
    let state = AppState::new(store, Authenticator::new(&jwt).unwrap(), 10).with_rate_limit(1);
    let server = Server::bind(
        "127.0.0.1:0",
        router(state, command_api::DEFAULT_REQUEST_TIMEOUT),
    )
    .await
    .unwrap();
    let address = format!("http://{}", server.local_addr().unwrap());
    tokio::spawn(server.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();
    let send = async |sub: &str| {
        let token = command_api::mint_token(&jwt, sub, Role::Farmer, 60).unwrap();
        client
            .post(format!("{address}/v1/stock-items"))
            .bearer_auth(token)
            .json(&crate::support::stock_item_body(1))
            .send()
            .await
            .unwrap()
    };
    // A burst of two, then refused; another actor is not affected.
    assert_eq!(send("fast").await.status(), 201);
    assert_eq!(send("fast").await.status(), 201);
    let refused = send("fast").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(send("calm").await.status(), 201);
}

api_test!(
    a_malformed_path_answers_a_problem,
    |app: TestApp| async move {
        let farmer = app.token("farmer-ana", Role::Farmer);
        // Percent-encoding of bytes that are not UTF-8.
        app.post(
            "/v1/stock-items/%FF%FE/receive",
            Some(&farmer),
            &json!({"quantity": 1}),
        )
        .await
        .expect_problem(400);
    }
);

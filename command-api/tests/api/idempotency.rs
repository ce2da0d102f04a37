//! `Idempotency-Key` and `If-Match`, end to end.

use event_schemas::values::Role;
use serde_json::json;

use crate::support::TestApp;

api_test!(
    a_retry_with_the_same_key_and_body_gets_the_first_answer,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let path = format!("/v1/stock-items/{id}/receive");
        let body = json!({"quantity": 5});
        let key = [("Idempotency-Key", "receive-1")];
        let first = app.post_with(&path, Some(&ana), &body, &key).await;
        let again = app.post_with(&path, Some(&ana), &body, &key).await;
        assert_eq!(first.expect_ok(200), again.expect_ok(200));
        assert_eq!(app.stream_len("stock", &id).await, 2, "one set of events");
        // Same key, other body: 422, nothing appended.
        app.post_with(&path, Some(&ana), &json!({"quantity": 6}), &key)
            .await
            .expect_problem(422);
        assert_eq!(app.stream_len("stock", &id).await, 2);
        // Keys are per caller: another actor may use the same key.
        let admin = app.token("root", Role::Admin);
        app.post_with(&path, Some(&admin), &body, &key)
            .await
            .expect_ok(200);
        assert_eq!(app.stream_len("stock", &id).await, 3);
    }
);

api_test!(
    twenty_concurrent_identical_requests_append_once,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let path = format!("/v1/stock-items/{id}/receive");
        let app = std::sync::Arc::new(app);
        let requests: Vec<_> = (0..20)
            .map(|_| {
                let (app, ana, path) = (app.clone(), ana.clone(), path.clone());
                tokio::spawn(async move {
                    app.post_with(
                        &path,
                        Some(&ana),
                        &json!({"quantity": 5}),
                        &[("Idempotency-Key", "race")],
                    )
                    .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(request.await.unwrap().expect_ok(200));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
        assert_eq!(app.stream_len("stock", &id).await, 2, "exactly one append");
    }
);

api_test!(
    if_match_applies_only_at_the_named_version,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let path = format!("/v1/stock-items/{id}/price");
        let stale = app
            .post_with(
                &path,
                Some(&ana),
                &json!({"unit_price_cents": 9}),
                &[("If-Match", "\"7\"")],
            )
            .await;
        stale.expect_problem(412);
        let (_, version, _) = app
            .post_with(
                &path,
                Some(&ana),
                &json!({"unit_price_cents": 9}),
                &[("If-Match", "\"1\"")],
            )
            .await
            .expect_ok(200);
        assert_eq!(version, 2);
        app.post_with(
            &path,
            Some(&ana),
            &json!({"unit_price_cents": 9}),
            &[("If-Match", "one")],
        )
        .await
        .expect_problem(400);
    }
);

api_test!(
    request_and_correlation_ids_are_echoed_and_recorded,
    |app: TestApp| async move {
        let ana = app.token("farmer-ana", Role::Farmer);
        let correlation = "0190f3a0-0000-7000-8000-00000000c0de";
        let answer = app
            .post_with(
                "/v1/stock-items",
                Some(&ana),
                &crate::support::stock_item_body(1),
                &[
                    ("X-Request-Id", "req-42"),
                    ("X-Correlation-Id", correlation),
                ],
            )
            .await;
        let (id, _, _) = answer.expect_ok(201);
        assert_eq!(answer.headers["x-request-id"], "req-42");
        let events = app
            .store
            .read_stream(&event_store::StreamId::new("stock", &id), 0)
            .await
            .unwrap();
        assert_eq!(events[0].metadata["request_id"], "req-42");
        assert_eq!(events[0].metadata["correlation_id"], correlation);
        // Without one, the server makes a request id and echoes it.
        let answer = app.get("/health").await;
        assert!(answer.headers.contains_key("x-request-id"));
    }
);

api_test!(
    a_create_retried_with_its_key_and_no_id_names_the_same_aggregate,
    |app: TestApp| async move {
        let farmer = app.token("farmer-ana", Role::Farmer);
        let body = crate::support::stock_item_body(3);
        let key = [("Idempotency-Key", "register-kale")];
        let first = app
            .post_with("/v1/stock-items", Some(&farmer), &body, &key)
            .await;
        let again = app
            .post_with("/v1/stock-items", Some(&farmer), &body, &key)
            .await;
        let (id, version, position) = first.expect_ok(201);
        assert_eq!(again.expect_ok(201), (id.clone(), version, position));
        assert_eq!(
            app.stream_len("stock", &id).await as u64,
            version,
            "one set of events"
        );
    }
);

api_test!(
    racing_creates_with_one_key_all_get_the_first_answer,
    |app: TestApp| async move {
        let farmer = app.token("farmer-ana", Role::Farmer);
        let app = std::sync::Arc::new(app);
        let requests: Vec<_> = (0..10)
            .map(|_| {
                let (app, farmer) = (app.clone(), farmer.clone());
                tokio::spawn(async move {
                    app.post_with(
                        "/v1/stock-items",
                        Some(&farmer),
                        &crate::support::stock_item_body(3),
                        &[("Idempotency-Key", "racing-create")],
                    )
                    .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(request.await.unwrap().expect_ok(201));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
        assert_eq!(
            app.stream_len("stock", &answers[0].0).await as u64,
            answers[0].1
        );
    }
);

api_test!(
    a_refusal_stands_for_its_key_even_once_the_command_would_succeed,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let adjust = format!("/v1/stock-items/{id}/adjust");
        let take = json!({"delta": -15, "reason": "spoiled"});
        let key = [("Idempotency-Key", "take-15")];

        let first = app.post_with(&adjust, Some(&ana), &take, &key).await;
        // Now there would be enough on hand.
        app.post(
            &format!("/v1/stock-items/{id}/receive"),
            Some(&ana),
            &json!({"quantity": 10}),
        )
        .await
        .expect_ok(200);
        let again = app.post_with(&adjust, Some(&ana), &take, &key).await;

        assert_eq!(first.expect_problem(409), again.expect_problem(409));
        assert_eq!(
            app.stream_len("stock", &id).await,
            2,
            "the retry changed nothing"
        );
    }
);

api_test!(
    the_same_key_and_body_with_another_if_match_is_another_request,
    |app: TestApp| async move {
        let id = app.stock_item("farmer-ana", 10).await;
        let ana = app.token("farmer-ana", Role::Farmer);
        let path = format!("/v1/stock-items/{id}/receive");
        let body = json!({"quantity": 5});

        let first = app
            .post_with(
                &path,
                Some(&ana),
                &body,
                &[("Idempotency-Key", "k"), ("If-Match", "\"1\"")],
            )
            .await;
        let other = app
            .post_with(
                &path,
                Some(&ana),
                &body,
                &[("Idempotency-Key", "k"), ("If-Match", "\"2\"")],
            )
            .await;

        first.expect_ok(200);
        other.expect_problem(422);
        assert_eq!(app.stream_len("stock", &id).await, 2);
    }
);

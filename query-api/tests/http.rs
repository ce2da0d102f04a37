//! The GraphQL routes as a server answers them: each actor's requests limited like the
//! command API's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use command_api::{Authenticator, JwtConfig, JwtKey, RateLimit, mint_token};
use event_schemas::values::Role;
use event_store::EventStore;
use projections::ReadDb;
use serde_json::Value;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_past_its_rate_is_refused_with_429_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let db = ReadDb::open(&store, 2).await.unwrap();
    let jwt = JwtConfig::new(JwtKey::Secret(
        b"http-test-secret-of-at-least-32-bytes".to_vec(),
    ));
    let auth = Arc::new(Authenticator::new(&jwt).unwrap());
    let schema = query_api::build_schema(store, db);
    let app = query_api::limited_router(schema, auth, RateLimit::per_actor(1));
    let ask = |sub: &str| {
        let token = mint_token(&jwt, sub, Role::Restaurant, 60).unwrap();
        Request::post("/graphql")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"query": "{ __typename }"}"#))
            .unwrap()
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.clone().oneshot(ask("bistro")).await.unwrap());
    }
    // A burst of two, then refused.
    assert_eq!(statuses[0].status(), StatusCode::OK);
    let refused = statuses.pop().unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body = axum::body::to_bytes(refused.into_body(), 1 << 16)
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    // Another actor has a bucket of its own.
    let other = app.clone().oneshot(ask("cafe")).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}

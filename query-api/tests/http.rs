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
    let app = query_api::limited_router(
        schema,
        auth,
        RateLimit::per_actor(1),
        query_api::Sockets::default(),
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_checkpoint_is_served_as_text_to_auditors_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let db = ReadDb::open(&store, 2).await.unwrap();
    let jwt = JwtConfig::new(JwtKey::Secret(
        b"http-test-secret-of-at-least-32-bytes".to_vec(),
    ));
    let auth = Arc::new(Authenticator::new(&jwt).unwrap());
    let app = query_api::router(query_api::build_schema(store.clone(), db.clone()), auth);
    let get = |role: Option<Role>| {
        let request = Request::get("/audit/checkpoint");
        let request = match role {
            Some(role) => request.header(
                "authorization",
                format!("Bearer {}", mint_token(&jwt, "someone", role, 60).unwrap()),
            ),
            None => request,
        };
        request.body(Body::empty()).unwrap()
    };
    let status = |response: &axum::response::Response| response.status();
    let none = app.clone().oneshot(get(None)).await.unwrap();
    assert_eq!(status(&none), StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers()["content-type"],
        "application/problem+json",
        "a refusal is a problem"
    );
    let farmer = app.clone().oneshot(get(Some(Role::Farmer))).await.unwrap();
    assert_eq!(status(&farmer), StatusCode::FORBIDDEN);
    let early = app.clone().oneshot(get(Some(Role::Auditor))).await.unwrap();
    assert_eq!(status(&early), StatusCode::NOT_FOUND);

    let (private, public) = transparency_log::SigningKey::generate("supplyline.test/log").unwrap();
    transparency::TreeWorker::new(
        store.clone(),
        db.clone(),
        private.parse().unwrap(),
        transparency::TreeSettings::new("supplyline.test/log"),
    )
    .catch_up()
    .await
    .unwrap();
    let served = app.clone().oneshot(get(Some(Role::Auditor))).await.unwrap();
    assert_eq!(status(&served), StatusCode::OK);
    assert!(
        served.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let note = axum::body::to_bytes(served.into_body(), 1 << 16)
        .await
        .unwrap();
    let key: transparency_log::VerifierKey = public.parse().unwrap();
    let checkpoint = key.open(std::str::from_utf8(&note).unwrap()).unwrap();
    assert_eq!(checkpoint.size(), 0);
}

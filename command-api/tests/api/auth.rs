//! Token checks, end to end: only valid tokens of the configured algorithm get through.

use std::time::Duration;

use command_api::{DEFAULT_JWT_LEEWAY, JwtConfig, JwtKey};
use event_schemas::values::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::support::{SECRET, TestApp, stock_item_body};

fn claims(exp_offset: i64) -> serde_json::Value {
    json!({
        "sub": "farmer-ana",
        "role": "farmer",
        "exp": chrono::Utc::now().timestamp() + exp_offset,
    })
}

fn hs256(secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn refused(app: &TestApp, token: &str) -> String {
    let answer = app
        .post("/v1/stock-items", Some(token), &stock_item_body(1))
        .await;
    answer.expect_problem(401)["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

api_test!(
    expired_wrongly_signed_and_unsigned_tokens_are_refused,
    |app: TestApp| async move {
        assert!(
            refused(&app, &hs256(SECRET, &claims(-3600)))
                .await
                .contains("expired")
        );
        let other_secret = b"another-secret-another-secret-another!";
        assert!(
            refused(&app, &hs256(other_secret, &claims(3600)))
                .await
                .contains("signature")
        );
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(claims(3600).to_string().as_bytes())
        );
        refused(&app, &none).await;
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims(3600),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(refused(&app, &hs512).await.contains("algorithm"));
        refused(&app, "not.a.token").await;
        let mut no_exp = claims(3600);
        no_exp.as_object_mut().unwrap().remove("exp");
        refused(&app, &hs256(SECRET, &no_exp)).await;
        let mut bad_role = claims(3600);
        bad_role["role"] = json!("system");
        assert!(
            refused(&app, &hs256(SECRET, &bad_role))
                .await
                .contains("role")
        );
        // The process managers' actor ids are theirs alone.
        let mut system_sub = claims(3600);
        system_sub["sub"] = json!("system:order-process");
        assert!(
            refused(&app, &hs256(SECRET, &system_sub))
                .await
                .contains("reserved")
        );
        // The right token works.
        app.post(
            "/v1/stock-items",
            Some(&hs256(SECRET, &claims(3600))),
            &stock_item_body(1),
        )
        .await
        .expect_ok(201);
    }
);

#[tokio::test]
async fn audience_and_issuer_are_checked_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let store = event_store::EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let jwt = JwtConfig {
        issuer: Some("https://id.example".into()),
        audience: Some("supplyline".into()),
        ..JwtConfig::new(JwtKey::Secret(SECRET.to_vec()))
    };
    let app = TestApp::start_with(store, jwt).await;
    let mut good = claims(3600);
    good["iss"] = json!("https://id.example");
    good["aud"] = json!("supplyline");
    app.post(
        "/v1/stock-items",
        Some(&hs256(SECRET, &good)),
        &stock_item_body(1),
    )
    .await
    .expect_ok(201);
    let mut wrong_audience = good.clone();
    wrong_audience["aud"] = json!("someone-else");
    assert!(
        refused(&app, &hs256(SECRET, &wrong_audience))
            .await
            .contains("audience")
    );
    let mut wrong_issuer = good.clone();
    wrong_issuer["iss"] = json!("https://evil.example");
    assert!(
        refused(&app, &hs256(SECRET, &wrong_issuer))
            .await
            .contains("issuer")
    );
    // An audience list naming this service is accepted too (RFC 7519).
    let mut listed = good.clone();
    listed["aud"] = json!(["another-service", "supplyline"]);
    app.post(
        "/v1/stock-items",
        Some(&hs256(SECRET, &listed)),
        &stock_item_body(1),
    )
    .await
    .expect_ok(201);
    // The token minted by the product carries both.
    app.post(
        "/v1/stock-items",
        Some(&app.token("farmer-ana", Role::Farmer)),
        &stock_item_body(1),
    )
    .await
    .expect_ok(201);
}

/// An app over a fresh SQLite store that checks tokens with `jwt`.
async fn app_with(jwt: JwtConfig) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let store = event_store::EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (TestApp::start_with(store, jwt).await, dir)
}

#[tokio::test]
async fn a_token_without_iss_or_aud_is_refused_when_they_are_configured() {
    let (app, _dir) = app_with(JwtConfig {
        issuer: Some("https://id.example".into()),
        audience: Some("supplyline".into()),
        ..JwtConfig::new(JwtKey::Secret(SECRET.to_vec()))
    })
    .await;
    let mut good = claims(3600);
    good["iss"] = json!("https://id.example");
    good["aud"] = json!("supplyline");
    let mut no_issuer = good.clone();
    no_issuer.as_object_mut().unwrap().remove("iss");
    assert!(
        refused(&app, &hs256(SECRET, &no_issuer))
            .await
            .contains("required claim")
    );
    let mut no_audience = good.clone();
    no_audience.as_object_mut().unwrap().remove("aud");
    assert!(
        refused(&app, &hs256(SECRET, &no_audience))
            .await
            .contains("required claim")
    );
    app.post(
        "/v1/stock-items",
        Some(&hs256(SECRET, &good)),
        &stock_item_body(1),
    )
    .await
    .expect_ok(201);
}

/// `POST /v1/stock-items` with this `Authorization` header, if any.
async fn post_authorized(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/stock-items", app.address))
        .json(&stock_item_body(1));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_401_challenges_for_a_bearer_token_and_says_when_the_token_sent_is_bad() {
    let (app, _dir) = app_with(JwtConfig::new(JwtKey::Secret(SECRET.to_vec()))).await;
    let challenge = |answer: &reqwest::Response| {
        assert_eq!(answer.status(), 401);
        answer.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    // No credentials, or credentials of another scheme: a bare challenge (RFC 6750 section 3.1).
    assert_eq!(challenge(&post_authorized(&app, None).await), "Bearer");
    assert_eq!(
        challenge(&post_authorized(&app, Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l")).await),
        "Bearer"
    );
    // A bearer token that does not verify.
    let expired = format!("Bearer {}", hs256(SECRET, &claims(-3600)));
    assert_eq!(
        challenge(&post_authorized(&app, Some(&expired)).await),
        r#"Bearer error="invalid_token""#
    );
    let bad_role = {
        let mut claims = claims(3600);
        claims["role"] = json!("system");
        format!("Bearer {}", hs256(SECRET, &claims))
    };
    assert_eq!(
        challenge(&post_authorized(&app, Some(&bad_role)).await),
        r#"Bearer error="invalid_token""#
    );
}

#[tokio::test]
async fn the_authorization_scheme_is_case_insensitive() {
    let (app, _dir) = app_with(JwtConfig::new(JwtKey::Secret(SECRET.to_vec()))).await;
    let token = hs256(SECRET, &claims(3600));
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let answer = post_authorized(&app, Some(&format!("{scheme} {token}"))).await;
        assert_eq!(answer.status(), 201, "{scheme}");
    }
}

/// Claims valid for an hour, with `nbf` (seconds from now) set.
fn not_before(offset: i64) -> serde_json::Value {
    let mut claims = claims(3600);
    claims["nbf"] = json!(chrono::Utc::now().timestamp() + offset);
    claims
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused_and_only_a_small_skew_is_forgiven() {
    let (app, _dir) = app_with(JwtConfig::new(JwtKey::Secret(SECRET.to_vec()))).await;
    assert_eq!(
        JwtConfig::new(JwtKey::Secret(SECRET.to_vec())).leeway,
        DEFAULT_JWT_LEEWAY
    );
    assert!(
        refused(&app, &hs256(SECRET, &not_before(60)))
            .await
            .contains("not valid yet")
    );
    assert!(
        refused(&app, &hs256(SECRET, &claims(-30)))
            .await
            .contains("expired")
    );
    // Within the default leeway of a few seconds both are forgiven.
    for token in [hs256(SECRET, &not_before(2)), hs256(SECRET, &claims(-2))] {
        app.post("/v1/stock-items", Some(&token), &stock_item_body(1))
            .await
            .expect_ok(201);
    }
}

#[tokio::test]
async fn the_leeway_is_a_setting() {
    let strict = JwtConfig {
        leeway: Duration::ZERO,
        ..JwtConfig::new(JwtKey::Secret(SECRET.to_vec()))
    };
    let (app, _dir) = app_with(strict).await;
    refused(&app, &hs256(SECRET, &not_before(3))).await;
    let lenient = JwtConfig {
        leeway: Duration::from_secs(120),
        ..JwtConfig::new(JwtKey::Secret(SECRET.to_vec()))
    };
    let (app, _dir) = app_with(lenient).await;
    app.post(
        "/v1/stock-items",
        Some(&hs256(SECRET, &claims(-60))),
        &stock_item_body(1),
    )
    .await
    .expect_ok(201);
}

#[tokio::test]
async fn an_eddsa_public_key_verifies_tokens_and_refuses_hs256_ones() {
    use ed25519_dalek::SigningKey;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};

    let signing = SigningKey::from_bytes(&[7; 32]);
    let private_pem = signing.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let store = event_store::EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let jwt = JwtConfig::new(JwtKey::PublicKeyPem(public_pem.into_bytes()));
    let app = TestApp::start_with(store, jwt).await;
    let eddsa = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims(3600),
        &EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    app.post("/v1/stock-items", Some(&eddsa), &stock_item_body(1))
        .await
        .expect_ok(201);
    // An HS256 token "signed" with the public key's bytes is refused (algorithm confusion).
    refused(
        &app,
        &hs256(b"any-secret-any-secret-any-secret-12", &claims(3600)),
    )
    .await;
}

#[tokio::test]
async fn an_rsa_public_key_verifies_rs256_tokens_and_refuses_others() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public_pem = rsa::RsaPublicKey::from(&private)
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let store = event_store::EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let jwt = JwtConfig::new(JwtKey::PublicKeyPem(public_pem.into_bytes()));
    let app = TestApp::start_with(store, jwt).await;
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims(3600),
        &EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    app.post("/v1/stock-items", Some(&rs256), &stock_item_body(1))
        .await
        .expect_ok(201);
    // The same key under another RSA algorithm, and an HS256 token, are refused.
    let rs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS512),
        &claims(3600),
        &EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert!(refused(&app, &rs512).await.contains("algorithm"));
    refused(&app, &hs256(SECRET, &claims(3600))).await;
}

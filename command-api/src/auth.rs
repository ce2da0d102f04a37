//! Authentication: JWT bearer tokens (HS256 with a shared secret, or RS256/EdDSA with a public
//! key), turned into the [`Actor`] a command is issued by.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use event_schemas::values::{Actor, ActorId, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::rate_limit::RateLimit;
use crate::verified_tokens::VerifiedTokens;

/// Where the key that verifies tokens comes from.
#[derive(Clone)]
pub enum JwtKey {
    /// An HS256 shared secret.
    Secret(Vec<u8>),
    /// A PEM public key; RS256 or EdDSA, decided by the key.
    PublicKeyPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        match self {
            Self::Secret(_) => f.write_str("JwtKey::Secret(..)"),
            Self::PublicKeyPem(_) => f.write_str("JwtKey::PublicKeyPem(..)"),
        }
    }
}

/// How tokens are checked.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The verifying key.
    pub key: JwtKey,
    /// The `iss` every token must carry, if any.
    pub issuer: Option<String>,
    /// The `aud` every token must carry (alone or in a list), if any.
    pub audience: Option<String>,
    /// How far clocks may disagree when checking `exp` and `nbf` (whole seconds count).
    pub leeway: Duration,
}

/// The clock skew tolerated on `exp` and `nbf` unless configured otherwise.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(5);

impl JwtConfig {
    /// Checks tokens with `key` only: no `iss` or `aud` required, the default leeway.
    pub fn new(key: JwtKey) -> Self {
        Self {
            key,
            issuer: None,
            audience: None,
            leeway: DEFAULT_JWT_LEEWAY,
        }
    }
}

/// A key or token configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// The shared secret is too short to be safe.
    #[error("the JWT secret must have at least 32 bytes")]
    WeakSecret,
    /// The PEM is neither an RSA nor an Ed25519 public key.
    #[error("the JWT public key is neither an RSA nor an Ed25519 PEM public key")]
    UnsupportedKey,
    /// Signing needs the shared secret (a public key cannot sign).
    #[error("tokens can only be minted with an HS256 secret")]
    CannotSign,
    /// Signing failed.
    #[error("cannot sign the token: {0}")]
    Signing(String),
}

/// The claims a token must carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The actor id.
    pub sub: String,
    /// The actor's role.
    pub role: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// What this product reads from a verified token. `exp`, `nbf`, `iss` and `aud` are checked by the
/// validation on the raw claims (so `aud` may be a string or a list, as RFC 7519 allows).
#[derive(Debug, Deserialize)]
struct Subject {
    sub: String,
    role: String,
    /// Read as any JSON: the validation has checked it; only a whole number of seconds lets
    /// the token be kept as verified.
    exp: serde_json::Value,
}

/// Verifies bearer tokens.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
    verified: VerifiedTokens,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

/// The least secret length accepted for HS256.
pub const MIN_SECRET_BYTES: usize = 32;

impl Authenticator {
    /// An authenticator for `config`: only its algorithm is accepted (never `none`).
    pub fn new(config: &JwtConfig) -> Result<Self, AuthConfigError> {
        let (key, algorithm) = match &config.key {
            JwtKey::Secret(secret) => {
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(AuthConfigError::WeakSecret);
                }
                (DecodingKey::from_secret(secret), Algorithm::HS256)
            }
            JwtKey::PublicKeyPem(pem) => {
                if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                    (key, Algorithm::RS256)
                } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
                    (key, Algorithm::EdDSA)
                } else {
                    return Err(AuthConfigError::UnsupportedKey);
                }
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        // A configured `iss` or `aud` must be present, not merely right when present.
        let mut required = vec!["exp", "sub"];
        match &config.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &config.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self {
            key,
            verified: VerifiedTokens::new(validation.leeway),
            validation,
        })
    }

    /// The actor a bearer token stands for.
    pub fn authenticate(&self, token: &str) -> Result<Actor, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        if let Some(actor) = self.verified.get(token) {
            return Ok(actor);
        }
        let data = jsonwebtoken::decode::<Subject>(token, &self.key, &self.validation).map_err(
            |error| {
                ApiError::InvalidToken(match error.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
                    ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)".to_owned(),
                    ErrorKind::InvalidSignature => "the token's signature is invalid".to_owned(),
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "the token is not signed with the configured algorithm".to_owned()
                    }
                    ErrorKind::InvalidAudience => {
                        "the token is not meant for this audience".to_owned()
                    }
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted".to_owned(),
                    ErrorKind::MissingRequiredClaim(claim) => {
                        format!("the token lacks the required claim `{claim}`")
                    }
                    _ => "the token is malformed".to_owned(),
                })
            },
        )?;
        let claims = data.claims;
        let role = Role::from_claim(&claims.role).ok_or_else(|| {
            ApiError::InvalidToken(format!("the token's role `{}` is not a role", claims.role))
        })?;
        let sub = ActorId::parse(&claims.sub)
            .map_err(|e| ApiError::InvalidToken(format!("the token's subject: {e}")))?;
        if is_reserved(&sub) {
            return Err(ApiError::InvalidToken(format!(
                "the token's subject `{sub}` is reserved for supplyline's own processes"
            )));
        }
        let actor = Actor::new(sub, role);
        if let Some(expires) = claims.exp.as_u64() {
            self.verified.keep(token, expires, &actor);
        }
        Ok(actor)
    }
}

/// Whether `sub` names one of the product's own processes (`system:<process>`), which no
/// token may claim: their idempotency keys and their `system` role are theirs alone.
pub fn is_reserved(sub: &ActorId) -> bool {
    sub.as_str().starts_with(SYSTEM_PREFIX)
}

/// The prefix of the process managers' actor ids.
const SYSTEM_PREFIX: &str = "system:";

/// Signs a token for `sub` in `role`, valid for `ttl_seconds` (HS256 only).
pub fn mint_token(
    config: &JwtConfig,
    sub: &str,
    role: Role,
    ttl_seconds: u64,
) -> Result<String, AuthConfigError> {
    let JwtKey::Secret(secret) = &config.key else {
        return Err(AuthConfigError::CannotSign);
    };
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let claims = Claims {
        sub: sub.to_owned(),
        role: role.as_str().to_owned(),
        exp: now.saturating_add(ttl_seconds),
        iat: Some(now),
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| AuthConfigError::Signing(e.to_string()))
}

/// The authenticated caller of a request: an extractor, so a handler just names it.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl<S> FromRequestParts<S> for Caller
where
    Arc<Authenticator>: FromRef<S>,
    RateLimit: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("send `Authorization: Bearer <JWT>`".into()))?;
        let token = bearer_token(header).ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header is not `Bearer <JWT>`".into())
        })?;
        let authenticator = Arc::<Authenticator>::from_ref(state);
        let actor = authenticator.authenticate(token)?;
        RateLimit::from_ref(state).check(actor.sub.as_str())?;
        Ok(Caller(actor))
    }
}

/// The token of a `Bearer` credential (the scheme is case-insensitive, RFC 9110 section
/// 11.1); `None` for another scheme or no token.
fn bearer_token(header: &HeaderValue) -> Option<&str> {
    let (scheme, token) = header.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

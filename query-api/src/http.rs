//! `POST /graphql` (the JWT in `Authorization: Bearer`), GraphiQL on `GET /graphql`, and the
//! subscription socket at `/graphql/ws`; the transparency log's latest checkpoint at
//! `GET /audit/checkpoint`.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql::{ErrorExtensionValues, ServerError};
use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use command_api::{Authenticator, Problem, RateLimit};

use transparency::Auditor;

use crate::events::AUDITORS;
use crate::sockets::Sockets;
use crate::{Checkpoints, QueryError, QuerySchema, Viewer};

/// The header that makes a query wait for a position (as the `consistency` argument does).
pub const CONSISTENCY_HEADER: &str = "x-consistency-position";

/// What the GraphQL routes share.
#[derive(Clone)]
pub(crate) struct QueryState {
    pub(crate) schema: QuerySchema,
    pub(crate) auth: Arc<Authenticator>,
    /// The subscription sockets.
    pub(crate) sockets: Sockets,
    /// Requests per second per actor, the command API's limit.
    rate_limit: RateLimit,
    /// The schema's checkpoint watcher (every schema [`crate::build_schema`] makes has one).
    checkpoints: Option<Checkpoints>,
}

/// The GraphQL routes over `schema`, authenticating with `auth` (the command API's keys), with
/// no rate limit.
pub fn router(schema: QuerySchema, auth: Arc<Authenticator>) -> Router {
    limited_router(schema, auth, RateLimit::unlimited(), Sockets::default())
}

/// The GraphQL routes, each actor's requests limited by `rate_limit` (callers without a valid
/// token share one bucket), their subscription sockets kept in `sockets`.
pub fn limited_router(
    schema: QuerySchema,
    auth: Arc<Authenticator>,
    rate_limit: RateLimit,
    sockets: Sockets,
) -> Router {
    let checkpoints = schema.data::<Checkpoints>().cloned();
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(crate::ws::subscribe))
        .route("/audit/checkpoint", get(checkpoint))
        .with_state(QueryState {
            schema,
            auth,
            sockets,
            rate_limit,
            checkpoints,
        })
}

async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

async fn graphql(
    State(state): State<QueryState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Read as bytes, so the server's body limit holds (413 as the command API answers it).
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let slug = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "payload-too-large"
            } else {
                "bad-request"
            };
            return Problem::new(rejection.status(), slug, rejection.body_text()).into_response();
        }
    };
    // Anything but one GraphQL request object is refused as a GraphQL error with its code.
    let request = match serde_json::from_slice::<async_graphql::Request>(&body) {
        Ok(request) => request,
        Err(error) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the body is not a GraphQL request (one JSON object): {error}"),
            );
        }
    };
    let viewer = viewer(&state.auth, &headers);
    let bucket = viewer
        .authenticated()
        .map_or("", |actor| actor.sub.as_str());
    if state.rate_limit.check(bucket).is_err() {
        let mut refused = refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many requests from this actor; retry in a second".into(),
        );
        refused
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return refused;
    }
    // Only an authenticated caller waits on the server's time; others are refused by the roots.
    let position = headers
        .get(CONSISTENCY_HEADER)
        .filter(|_| viewer.authenticated().is_ok());
    if let Some(position) = position {
        let waited = match position.to_str() {
            Ok(token) => match &state.checkpoints {
                Some(checkpoints) => checkpoints.reach(token.trim()).await,
                None => Err(QueryError::Unavailable),
            },
            Err(_) => Err(QueryError::BadInput(format!(
                "{CONSISTENCY_HEADER} is not a position token"
            ))),
        };
        if let Err(error) = waited {
            return refusal(StatusCode::OK, error.code(), error.to_string());
        }
    }
    GraphQLResponse::from(state.schema.execute(request.data(viewer)).await).into_response()
}

/// A request refused before it runs, as a GraphQL error with its code.
fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    let body = async_graphql::Response::from_errors(vec![error]);
    (status, Json(body)).into_response()
}

/// The caller of the request: the actor of its bearer token, or why there is none.
fn viewer(auth: &Authenticator, headers: &HeaderMap) -> Viewer {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Viewer::anonymous("no Authorization header");
    };
    let Some(token) = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        return Viewer::anonymous("the Authorization header is not `Bearer <token>`");
    };
    match auth.authenticate(token) {
        Ok(actor) => Viewer::actor(actor),
        Err(error) => Viewer::anonymous(error.to_string()),
    }
}

/// `GET /audit/checkpoint`: the transparency log's latest signed checkpoint, as the text
/// auditors keep, to an auditor's or admin's token.
async fn checkpoint(State(state): State<QueryState>, headers: HeaderMap) -> Response {
    let viewer = viewer(&state.auth, &headers);
    let actor = match viewer.authenticated() {
        Ok(actor) => actor,
        Err(_) => {
            return Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a bearer token is required",
            )
            .into_response();
        }
    };
    if !AUDITORS.contains(&actor.role) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the {} role may not read the transparency log",
                actor.role.as_str()
            ),
        )
        .into_response();
    }
    let Some(auditor) = state.schema.data::<Auditor>() else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "this server keeps no transparency log",
        )
        .into_response();
    };
    match auditor.latest_checkpoint().await {
        Ok(Some(note)) => (
            [(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            note,
        )
            .into_response(),
        Ok(None) => Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no checkpoint has been signed yet",
        )
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "the transparency log's checkpoint could not be read");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the transparency log is unavailable; retry",
            )
            .into_response()
        }
    }
}

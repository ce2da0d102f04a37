//! `POST /graphql` (the JWT in `Authorization: Bearer`), GraphiQL on `GET /graphql`, and the
//! subscription socket at `/graphql/ws`.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use command_api::Authenticator;
use tokio::sync::Semaphore;

use async_graphql::ErrorExtensions;

use crate::{Checkpoints, QueryError, QuerySchema, Viewer};

/// The header that makes a query wait for a position (as the `consistency` argument does).
pub const CONSISTENCY_HEADER: &str = "x-consistency-position";

/// What the GraphQL routes share.
#[derive(Clone)]
pub(crate) struct QueryState {
    pub(crate) schema: QuerySchema,
    pub(crate) auth: Arc<Authenticator>,
    /// Places for subscription sockets ([`crate::ws::MAX_SOCKETS`]).
    pub(crate) sockets: Arc<Semaphore>,
    /// The schema's checkpoint watcher (every schema [`crate::build_schema`] makes has one).
    checkpoints: Option<Checkpoints>,
}

/// The GraphQL routes over `schema`, authenticating with `auth` (the command API's keys).
pub fn router(schema: QuerySchema, auth: Arc<Authenticator>) -> Router {
    let checkpoints = schema.data::<Checkpoints>().cloned();
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(crate::ws::subscribe))
        .with_state(QueryState {
            schema,
            auth,
            sockets: Arc::new(Semaphore::new(crate::ws::MAX_SOCKETS)),
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
    request: GraphQLRequest,
) -> GraphQLResponse {
    let viewer = viewer(&state.auth, &headers);
    if let Some(position) = headers.get(CONSISTENCY_HEADER) {
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
            let refusal = error.extend().into_server_error(Default::default());
            return async_graphql::Response::from_errors(vec![refusal]).into();
        }
    }
    state
        .schema
        .execute(request.into_inner().data(viewer))
        .await
        .into()
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

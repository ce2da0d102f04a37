//! `POST /graphql` (the JWT in `Authorization: Bearer`) and GraphiQL on `GET /graphql`.

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

use crate::{QuerySchema, Viewer};

#[derive(Clone)]
struct QueryState {
    schema: QuerySchema,
    auth: Arc<Authenticator>,
}

/// The GraphQL routes over `schema`, authenticating with `auth` (the command API's keys).
pub fn router(schema: QuerySchema, auth: Arc<Authenticator>) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .with_state(QueryState { schema, auth })
}

async fn graphiql() -> impl IntoResponse {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn graphql(
    State(state): State<QueryState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let viewer = viewer(&state.auth, &headers);
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

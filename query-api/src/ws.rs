//! Subscriptions over WebSocket at `/graphql/ws` (graphql-transport-ws): the JWT comes in the
//! `connection_init` payload, since browsers cannot set headers on a WebSocket.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, Error};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use command_api::{Authenticator, Problem};
use serde_json::Value;

use crate::QueryError;
use crate::error::refused;
use crate::http::QueryState;
use crate::viewer::Viewer;

/// How long a connection may stay open without a `connection_init` (the protocol's own
/// default): an unauthenticated socket holds nothing for long.
const INIT_WAIT: Duration = Duration::from_secs(10);

/// The token a connection authenticated with, checked again before each answer so that a
/// subscription ends when its token expires.
#[derive(Clone)]
pub(crate) struct Session {
    auth: Arc<Authenticator>,
    token: Arc<str>,
}

impl Session {
    /// `UNAUTHENTICATED` once the token is no longer valid.
    pub(crate) fn check(&self) -> async_graphql::Result<()> {
        self.auth
            .authenticate(&self.token)
            .map(|_| ())
            .map_err(|e| refused(QueryError::Unauthenticated(e.to_string())))
    }
}

/// The most subscription sockets a process holds open: an upgraded socket leaves the HTTP
/// server's connection limit, so this one bounds them.
pub const MAX_SOCKETS: usize = 10_000;

/// `GET /graphql/ws`: upgrades to a subscription socket, or 503 when [`MAX_SOCKETS`] are open.
pub(crate) async fn subscribe(
    State(state): State<QueryState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Ok(place) = state.sockets.clone().try_acquire_owned() else {
        let mut problem = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many-subscriptions",
            format!("{MAX_SOCKETS} subscription sockets are open; retry later"),
        );
        problem.retry_after = Some(5);
        return problem.into_response();
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            serve(socket, state, protocol).await;
            drop(place);
        })
}

async fn serve(socket: WebSocket, state: QueryState, protocol: GraphQLProtocol) {
    let initialised = Arc::new(AtomicBool::new(false));
    let init = {
        let initialised = initialised.clone();
        let auth = state.auth.clone();
        move |payload: Value| async move {
            let session = authenticate(auth, &payload)?;
            initialised.store(true, Ordering::Relaxed);
            Ok(session)
        }
    };
    let served = GraphQLWebSocket::new(socket, state.schema, protocol)
        .on_connection_init(init)
        .serve();
    let unauthenticated = async {
        tokio::time::sleep(INIT_WAIT).await;
        if initialised.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    // Dropping the socket closes it.
    tokio::select! {
        () = served => {}
        () = unauthenticated => tracing::debug!("closed a subscription socket that never authenticated"),
    }
}

/// The connection's data from a `connection_init` payload `{"Authorization": "Bearer <jwt>"}`
/// (or `{"token": "<jwt>"}`); a refusal closes the socket with its reason.
fn authenticate(auth: Arc<Authenticator>, payload: &Value) -> async_graphql::Result<Data> {
    let bearer = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(key).and_then(Value::as_str))
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let token = bearer
        .or_else(|| payload.get("token").and_then(Value::as_str))
        .ok_or_else(|| {
            Error::new(
                "UNAUTHENTICATED: the connection_init payload must carry \
                 {\"Authorization\": \"Bearer <token>\"}",
            )
        })?;
    let actor = auth
        .authenticate(token)
        .map_err(|e| Error::new(format!("UNAUTHENTICATED: {e}")))?;
    let mut data = Data::default();
    data.insert(Viewer::actor(actor));
    data.insert(Session {
        auth,
        token: Arc::from(token),
    });
    Ok(data)
}

//! Subscriptions over WebSocket at `/graphql/ws` (graphql-transport-ws): the JWT comes in the
//! `connection_init` payload, since browsers cannot set headers on a WebSocket. A socket is
//! closed with the protocol's codes: 4403 for a refused `connection_init`, 4400 for a message
//! that is not the protocol's, 4401 for a subscription before the acknowledgement, 4408 when
//! no `connection_init` came in time, 4429 for a second one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::{WebSocket as GraphQLSocket, WebSocketProtocols as Protocols, WsMessage};
use async_graphql::{Data, Error};
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use command_api::{Authenticator, Problem};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::http::QueryState;
use crate::sockets::{
    ActorSocket, ActorSockets, MAX_SOCKETS, MAX_SOCKETS_PER_ACTOR, MAX_SUBSCRIPTIONS_PER_SOCKET,
    SubscriptionBudget,
};
use crate::viewer::Viewer;

/// How long a connection may stay open without a `connection_init` (the protocol's own
/// default): an unauthenticated socket holds nothing for long.
const INIT_WAIT: Duration = Duration::from_secs(10);

/// `GET /graphql/ws`: upgrades to a subscription socket; 400 without a protocol it speaks, 503
/// when [`MAX_SOCKETS`] are open.
pub(crate) async fn subscribe(
    State(state): State<QueryState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return Problem::new(rejection.status(), "not-a-websocket", rejection.body_text())
                .into_response();
        }
    };
    let Some(protocol) = protocol_of(&headers) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "unsupported-websocket-protocol",
            "Sec-WebSocket-Protocol must name graphql-transport-ws (or the older graphql-ws)",
        )
        .into_response();
    };
    let Ok(place) = state.sockets.places.clone().try_acquire_owned() else {
        let mut problem = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many-subscriptions",
            format!("{MAX_SOCKETS} subscription sockets are open; retry later"),
        );
        problem.retry_after = Some(5);
        return problem.into_response();
    };
    upgrade
        .protocols([protocol.sec_websocket_protocol()])
        .on_upgrade(move |socket| async move {
            serve(socket, state, protocol).await;
            drop(place);
        })
}

/// The first GraphQL protocol the client offers, by its exact name (the one the answer echoes;
/// a browser refuses a socket whose protocol comes back spelt otherwise).
fn protocol_of(headers: &HeaderMap) -> Option<Protocols> {
    let spoken = [Protocols::GraphQLWS, Protocols::SubscriptionsTransportWS];
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|offered| {
            spoken
                .into_iter()
                .find(|p| p.sec_websocket_protocol() == offered.trim())
        })
}

async fn serve(socket: WebSocket, state: QueryState, protocol: Protocols) {
    let initialised = Arc::new(AtomicBool::new(false));
    // Set when `connection_init` was refused, to tell that close from a malformed message's.
    let refused = Arc::new(AtomicBool::new(false));
    // The actor's place among its sockets, given back when this one ends.
    let place: Arc<Mutex<Option<ActorSocket>>> = Arc::default();
    let init = {
        let initialised = initialised.clone();
        let refused = refused.clone();
        let auth = state.auth.clone();
        let actors = state.sockets.actors.clone();
        let place = place.clone();
        move |payload: Value| async move {
            let admitted = admit(auth, &actors, &payload);
            let (viewer, taken) = match admitted {
                Ok(admitted) => admitted,
                Err(error) => {
                    refused.store(true, Ordering::Relaxed);
                    return Err(error);
                }
            };
            if let Ok(mut slot) = place.lock() {
                *slot = Some(taken);
            }
            initialised.store(true, Ordering::Relaxed);
            let mut data = Data::default();
            data.insert(viewer);
            data.insert(SubscriptionBudget(Arc::new(Semaphore::new(
                MAX_SUBSCRIPTIONS_PER_SOCKET,
            ))));
            Ok(data)
        }
    };
    let (mut sink, mut received) = socket.split();
    let incoming = (&mut received)
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let outgoing = GraphQLSocket::new(state.schema, incoming, protocol)
        .on_connection_init(init)
        .map(|message| match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => {
                let code = match protocol {
                    Protocols::GraphQLWS => close_code(code, refused.load(Ordering::Relaxed)),
                    Protocols::SubscriptionsTransportWS => code,
                };
                close(code, reason)
            }
        });
    let served = async {
        futures_util::pin_mut!(outgoing);
        while let Some(message) = outgoing.next().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        // The client ended it, or the last message was a close.
    };
    let mut going_away = state.sockets.going_away.subscribe();
    let going_away = async move {
        // A dropped sender (the router is gone) is no reason to close.
        if going_away.wait_for(|gone| *gone).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let unauthenticated = async {
        tokio::time::sleep(INIT_WAIT).await;
        if initialised.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = served => {}
        () = going_away => {
            let _ = sink.send(close(1001, "the server is going away".into())).await;
        }
        () = unauthenticated => {
            tracing::debug!("closed a subscription socket that never authenticated");
            if protocol == Protocols::GraphQLWS {
                // The protocol's own code, so that a client knows not to wait for an answer.
                let _ = sink.send(close(4408, "Connection initialisation timeout".into())).await;
            }
        }
    }
    // Completes the closing handshake: the client's own close, or its end, comes back before
    // the connection goes (dropped at once, a message of the client's still in flight would
    // be answered with a reset, which some clients report as 1006 instead of the code).
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(message)) = received.next().await {
            if let Message::Close(_) = message {
                break;
            }
        }
    })
    .await;
}

/// How long a socket that was sent a close waits for the client's.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The graphql-transport-ws code of a close the GraphQL engine asked for with `code` (it
/// uses the WebSocket's generic ones where the protocol names its own).
fn close_code(code: u16, refused: bool) -> u16 {
    match code {
        // A refused `connection_init`, or a message that is not the protocol's.
        1002 if refused => 4403,
        1002 => 4400,
        // A subscription before the acknowledgement.
        1011 => 4401,
        other => other,
    }
}

/// A close frame, its reason cut to what a frame can carry (123 bytes, on a character
/// boundary): a longer one would break the frame, and the client would never see the code.
fn close(code: u16, mut reason: String) -> Message {
    if reason.len() > MAX_CLOSE_REASON {
        let mut end = MAX_CLOSE_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The longest reason a close frame carries (125 bytes of payload, two of them the code).
const MAX_CLOSE_REASON: usize = 123;

/// The viewer of a `connection_init` payload and its place among its actor's sockets, or why
/// it is refused.
fn admit(
    auth: Arc<Authenticator>,
    actors: &ActorSockets,
    payload: &Value,
) -> async_graphql::Result<(Viewer, ActorSocket)> {
    let (viewer, sub) = authenticate(auth, payload)?;
    let taken = actors.open(&sub).ok_or_else(|| {
        Error::new(format!(
            "TOO_MANY_CONNECTIONS: {sub} has {MAX_SOCKETS_PER_ACTOR} subscription sockets \
             open already"
        ))
    })?;
    Ok((viewer, taken))
}

/// The caller of a `connection_init` payload `{"Authorization": "Bearer <jwt>"}` (or
/// `{"token": "<jwt>"}`) and its `sub`; a refusal closes the socket with its reason.
fn authenticate(
    auth: Arc<Authenticator>,
    payload: &Value,
) -> async_graphql::Result<(Viewer, String)> {
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
    // Checked again at every operation and answer of the connection: it ends with the token.
    let viewer = Viewer::connection(auth, token);
    let sub = viewer
        .authenticated()
        .map_err(|e| Error::new(format!("UNAUTHENTICATED: {}", e.message)))?
        .sub
        .to_string();
    Ok((viewer, sub))
}

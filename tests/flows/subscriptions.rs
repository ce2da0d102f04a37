//! Subscriptions over a real WebSocket (graphql-transport-ws at `/graphql/ws`, the JWT in
//! `connection_init`): a command's effect arrives on its owner's subscription, another
//! restaurant's order never does, the log's events reach an auditor, and every refusal is
//! said.

use std::time::Duration;

use event_schemas::values::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use uuid::Uuid;

use crate::on_both;
use crate::support::App;

/// How long a test waits for a message it expects.
const EXPECT_WITHIN: Duration = Duration::from_secs(20);

/// A graphql-transport-ws client on one socket.
struct Socket(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Socket {
    /// Opens `/graphql/ws` and sends `connection_init` with `payload`; the `connection_ack`,
    /// or the code and reason with which the server closed the socket.
    async fn open(app: &App, payload: Value) -> Result<Self, String> {
        let mut socket = Self::connect(app).await;
        socket
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        match socket.receive(EXPECT_WITHIN).await {
            Some(Ok(ack)) if ack["type"] == "connection_ack" => Ok(socket),
            Some(Ok(other)) => panic!("expected connection_ack, got {other}"),
            Some(Err(reason)) => Err(reason),
            None => Err("no answer".into()),
        }
    }

    /// Opens a socket as `sub` in `role`.
    async fn as_(app: &App, sub: &str, role: Role) -> Self {
        let token = app.token(sub, role);
        Self::open(app, json!({"Authorization": format!("Bearer {token}")}))
            .await
            .unwrap()
    }

    /// Opens `/graphql/ws`, speaking graphql-transport-ws, and sends nothing yet.
    async fn connect(app: &App) -> Self {
        let mut request = app.ws_url("/graphql/ws").into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (stream, response) = connect_async(request).await.unwrap();
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        Self(stream)
    }

    async fn send(&mut self, message: Value) {
        self.0
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// Starts subscription `id`.
    async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query}}))
            .await;
    }

    /// The next message within `wait`: its JSON, or the close reason; `None` on silence.
    async fn receive(&mut self, wait: Duration) -> Option<Result<Value, String>> {
        loop {
            let message = tokio::time::timeout(wait, self.0.next()).await.ok()??;
            match message {
                Ok(Message::Text(text)) => return Some(Ok(serde_json::from_str(&text).unwrap())),
                Ok(Message::Close(frame)) => {
                    // "<code> <reason>": the protocol's code says what kind of refusal it is.
                    return Some(Err(frame
                        .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                        .unwrap_or_default()));
                }
                Ok(_) => {}
                Err(error) => return Some(Err(error.to_string())),
            }
        }
    }

    /// The code of subscription `id`'s refusal, which must come next (an error result, then
    /// the subscription's end).
    async fn refusal(&mut self, id: &str) -> String {
        let refused = self.next().await;
        assert_eq!(refused["id"], id, "{refused}");
        assert_eq!(refused["type"], "next", "{refused}");
        let code = refused["payload"]["errors"][0]["extensions"]["code"].clone();
        let complete = self.next().await;
        assert_eq!(complete, json!({"id": id, "type": "complete"}));
        code.as_str().unwrap_or_default().to_owned()
    }

    /// The next message, which must come.
    async fn next(&mut self) -> Value {
        self.receive(EXPECT_WITHIN)
            .await
            .expect("a message in time")
            .expect("an open socket")
    }
}

async fn a_commands_effect_arrives_on_its_owners_subscription_only(app: &App) {
    let item = app.stock_item("farmer-ada", 20).await;
    let bistro_order = app
        .place_order("bistro-rue", "farmer-ada", &[(&item, 2)])
        .await;
    let cafe_order = app
        .place_order("cafe-nord", "farmer-ada", &[(&item, 1)])
        .await;
    app.order_in(&bistro_order, "CONFIRMED").await;
    app.order_in(&cafe_order, "CONFIRMED").await;

    let mut bistro = Socket::as_(app, "bistro-rue", Role::Restaurant).await;
    bistro
        .subscribe(
            "mine",
            &format!("subscription {{ orderUpdated(id: \"{bistro_order}\") {{ id status }} }}"),
        )
        .await;
    // The order as it is first: then the subscription is live.
    let now = bistro.next().await;
    assert_eq!(
        now["payload"]["data"]["orderUpdated"],
        json!({"id": bistro_order, "status": "CONFIRMED"}),
        "{now}"
    );
    let mut cafe = Socket::as_(app, "cafe-nord", Role::Restaurant).await;
    // Another restaurant's order is refused outright ...
    cafe.subscribe(
        "theirs",
        &format!("subscription {{ orderUpdated(id: \"{bistro_order}\") {{ id status }} }}"),
    )
    .await;
    assert_eq!(cafe.refusal("theirs").await, "FORBIDDEN");
    // ... and the log is for auditors.
    cafe.subscribe("log", "subscription { eventAppended { position } }")
        .await;
    assert_eq!(cafe.refusal("log").await, "FORBIDDEN");
    cafe.subscribe(
        "own",
        &format!("subscription {{ orderUpdated(id: \"{cafe_order}\") {{ id status }} }}"),
    )
    .await;
    let now = cafe.next().await;
    assert_eq!(
        now["payload"]["data"]["orderUpdated"]["status"],
        "CONFIRMED"
    );
    let mut auditor = Socket::as_(app, "auditor-al", Role::Auditor).await;
    auditor
        .subscribe(
            "log",
            &format!(
                "subscription {{ eventAppended(filter: {{aggregateId: \"{bistro_order}\", \
                   eventType: \"OrderPreparing\", afterPosition: \"{}\"}}) \
                   {{ aggregateId eventType metadata }} }}",
                "0".repeat(40)
            ),
        )
        .await;
    // From a position: the stream's history first, then what is appended, none twice.
    let mut replaying = Socket::as_(app, "admin-amy", Role::Admin).await;
    replaying
        .subscribe(
            "replay",
            &format!(
                "subscription {{ eventAppended(filter: {{aggregateId: \"{bistro_order}\", \
                   afterPosition: \"{}\"}}) {{ eventType }} }}",
                "0".repeat(40)
            ),
        )
        .await;
    for expected in ["OrderPlaced", "OrderConfirmed"] {
        let event = replaying.next().await;
        assert_eq!(
            event["payload"]["data"]["eventAppended"]["eventType"], expected,
            "{event}"
        );
    }
    app.post(
        &format!("/v1/orders/{bistro_order}/preparing"),
        ("farmer-ada", Role::Farmer),
        &json!({}),
    )
    .await
    .expect(200);

    let update = bistro.next().await;
    assert_eq!(update["type"], "next", "{update}");
    assert_eq!(update["id"], "mine");
    assert_eq!(
        update["payload"]["data"]["orderUpdated"],
        json!({"id": bistro_order, "status": "PREPARING"})
    );
    let event = auditor.next().await;
    let event = &event["payload"]["data"]["eventAppended"];
    assert_eq!(event["eventType"], "OrderPreparing", "{event}");
    assert_eq!(event["metadata"]["actor"]["sub"], "farmer-ada");
    let replayed = replaying.next().await;
    assert_eq!(
        replayed["payload"]["data"]["eventAppended"]["eventType"],
        "OrderPreparing"
    );
    assert!(
        replaying
            .receive(Duration::from_millis(300))
            .await
            .is_none()
    );
    // The other restaurant heard nothing of it; its own order's change is the first it hears.
    assert!(
        cafe.receive(Duration::from_millis(500)).await.is_none(),
        "another restaurant's order reached cafe-nord"
    );
    app.post(
        &format!("/v1/orders/{cafe_order}/preparing"),
        ("farmer-ada", Role::Farmer),
        &json!({}),
    )
    .await
    .expect(200);
    let own = cafe.next().await;
    assert_eq!(own["id"], "own", "{own}");
    assert_eq!(
        own["payload"]["data"]["orderUpdated"],
        json!({"id": cafe_order, "status": "PREPARING"})
    );
    // The auditor's filter named one order: the cafe's change is not on it.
    assert!(auditor.receive(Duration::from_millis(500)).await.is_none());
}
on_both!(
    effects_arrive,
    a_commands_effect_arrives_on_its_owners_subscription_only
);

async fn a_socket_without_a_valid_token_is_closed_with_the_reason(app: &App) {
    for payload in [
        json!({}),
        json!({"Authorization": "Bearer not.a.token"}),
        json!({"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}),
    ] {
        let reason = Socket::open(app, payload.clone())
            .await
            .err()
            .unwrap_or_else(|| panic!("{payload} was accepted"));
        assert!(
            reason.starts_with("4403 UNAUTHENTICATED"),
            "{payload}: {reason}"
        );
    }
    // A subscription refuses its unknown fields and bad input like a query.
    let mut admin = Socket::as_(app, "admin-amy", Role::Admin).await;
    admin
        .subscribe(
            "bad",
            "subscription { eventAppended(filter: {afterPosition: \"zz\"}) { position } }",
        )
        .await;
    assert_eq!(admin.refusal("bad").await, "BAD_USER_INPUT");
}
on_both!(
    bad_tokens,
    a_socket_without_a_valid_token_is_closed_with_the_reason
);

/// The close a socket ends with, which must come.
async fn closed(socket: &mut Socket) -> String {
    match socket.receive(EXPECT_WITHIN).await {
        Some(Err(closed)) => closed,
        other => panic!("expected a close, got {other:?}"),
    }
}

async fn a_socket_that_breaks_the_protocol_is_closed_with_its_code(app: &App) {
    // A message that is not the protocol's.
    let mut socket = Socket::connect(app).await;
    socket.0.send(Message::text("{not json")).await.unwrap();
    assert!(closed(&mut socket).await.starts_with("4400 "));
    // An unknown message type, whose description is longer than a close frame carries: the
    // reason is cut, the code arrives.
    let mut socket = Socket::connect(app).await;
    socket.send(json!({"type": "x".repeat(300)})).await;
    assert!(closed(&mut socket).await.starts_with("4400 "));
    // A subscription before the acknowledgement.
    let mut socket = Socket::connect(app).await;
    socket
        .subscribe("early", "subscription { eventAppended { position } }")
        .await;
    assert!(closed(&mut socket).await.starts_with("4401 "));
    // A second `connection_init`.
    let mut socket = Socket::as_(app, "admin-amy", Role::Admin).await;
    let token = app.token("admin-amy", Role::Admin);
    socket
        .send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}))
        .await;
    assert!(closed(&mut socket).await.starts_with("4429 "));
    // No `connection_init` at all: closed when the protocol's wait is over.
    let mut socket = Socket::connect(app).await;
    let waited = closed(&mut socket).await;
    assert!(waited.starts_with("4408 "), "{waited}");
    // Without a protocol the server speaks, there is no upgrade, and the answer says why.
    let refused = reqwest::Client::new()
        .get(app.url("/graphql/ws"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "chat")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    // Nor for a plain request.
    let plain = reqwest::get(app.url("/graphql/ws")).await.unwrap();
    assert!(plain.status().is_client_error(), "{}", plain.status());
    assert_eq!(plain.headers()["content-type"], "application/problem+json");
}
on_both!(
    protocol_errors,
    a_socket_that_breaks_the_protocol_is_closed_with_its_code
);

async fn a_delivery_is_tracked_by_its_restaurant_not_by_another_driver(app: &App) {
    let (_, delivery) = app.order_ready_for_pickup().await;
    let tracking =
        format!("subscription {{ deliveryTracking(id: \"{delivery}\") {{ id status driverId }} }}");
    let mut bistro = Socket::as_(app, "bistro-rue", Role::Restaurant).await;
    bistro.subscribe("track", &tracking).await;
    let now = bistro.next().await;
    assert_eq!(
        now["payload"]["data"]["deliveryTracking"]["status"], "SCHEDULED",
        "{now}"
    );
    let mut eve = Socket::as_(app, "driver-eve", Role::Distributor).await;
    eve.subscribe("track", &tracking).await;
    assert_eq!(eve.refusal("track").await, "FORBIDDEN");

    app.post(
        &format!("/v1/deliveries/{delivery}/assign"),
        ("driver-dan", Role::Distributor),
        &json!({}),
    )
    .await
    .expect(200);

    let update = bistro.next().await;
    assert_eq!(
        update["payload"]["data"]["deliveryTracking"],
        json!({"id": delivery, "status": "ASSIGNED", "driverId": "driver-dan"}),
        "{update}"
    );
}
on_both!(
    delivery_tracking,
    a_delivery_is_tracked_by_its_restaurant_not_by_another_driver
);

async fn a_socket_and_an_actor_hold_bounded_subscriptions(app: &App) {
    let mut socket = Socket::as_(app, "bistro-rue", Role::Restaurant).await;
    // One root field per subscription, as the protocol says.
    socket
        .subscribe(
            "two",
            "subscription { a: orderUpdated(id: \"x\") { id } b: orderUpdated(id: \"y\") { id } }",
        )
        .await;
    assert_eq!(socket.refusal("two").await, "GRAPHQL_VALIDATION_FAILED");
    // A socket holds at most so many subscriptions; one more is refused (whichever the server
    // starts last), and the socket lives on.
    let cap = query_api::MAX_SUBSCRIPTIONS_PER_SOCKET;
    for n in 0..=cap {
        socket
            .subscribe(
                &format!("s{n}"),
                &format!(
                    "subscription {{ orderUpdated(id: \"{}\") {{ id }} }}",
                    Uuid::now_v7()
                ),
            )
            .await;
    }
    let refused = socket.next().await;
    let over = refused["id"].as_str().unwrap().to_owned();
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert_eq!(socket.next().await, json!({"id": over, "type": "complete"}));
    assert!(socket.receive(Duration::from_millis(300)).await.is_none());
    // Ending one gives its place back.
    let ended = if over == "s0" { "s1" } else { "s0" };
    socket.send(json!({"id": ended, "type": "complete"})).await;
    if let Some(echo) = socket.receive(Duration::from_millis(300)).await {
        assert_eq!(echo.unwrap(), json!({"id": ended, "type": "complete"}));
    }
    socket
        .subscribe(
            "again",
            &format!(
                "subscription {{ orderUpdated(id: \"{}\") {{ id }} }}",
                Uuid::now_v7()
            ),
        )
        .await;
    assert!(socket.receive(Duration::from_millis(500)).await.is_none());

    // One actor holds at most so many sockets: the next is closed with the reason.
    let mut held = Vec::new();
    for _ in 1..query_api::MAX_SOCKETS_PER_ACTOR {
        held.push(Socket::as_(app, "bistro-rue", Role::Restaurant).await);
    }
    let token = app.token("bistro-rue", Role::Restaurant);
    let refused = Socket::open(app, json!({"Authorization": format!("Bearer {token}")}))
        .await
        .err()
        .expect("one socket too many");
    assert!(
        refused.starts_with("4403 TOO_MANY_CONNECTIONS"),
        "{refused}"
    );
    // Another actor is not held back, and a closed socket gives its place back.
    drop(Socket::as_(app, "cafe-nord", Role::Restaurant).await);
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(Socket::as_(app, "bistro-rue", Role::Restaurant).await);
}
on_both!(bounded, a_socket_and_an_actor_hold_bounded_subscriptions);

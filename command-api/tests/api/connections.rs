//! The server's connection handling, seen from a raw socket: slow and idle clients are cut
//! off, the connection cap holds, shutdown is graceful, and after an early rejection the client
//! can tell whether the connection is still usable.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use command_api::{Server, ServerLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::TestApp;

/// Short limits, so that the tests wait for fractions of a second.
const SHORT: Duration = Duration::from_millis(300);

/// Long enough never to be reached by a test that does not mean to.
const LONG: Duration = Duration::from_secs(30);

/// The longest a test waits for anything.
const PATIENCE: Duration = Duration::from_secs(5);

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";

/// A running server and the way to stop it.
struct Running {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
}

/// Serves `/health` (at once) and `/slow` (after [`SHORT`]) with `limits`.
async fn serve(limits: ServerLimits) -> Running {
    let router = Router::new().route("/health", get(async || "ok")).route(
        "/slow",
        get(async || {
            tokio::time::sleep(SHORT).await;
            "done"
        }),
    );
    let server = Server::bind("127.0.0.1:0", router)
        .await
        .unwrap()
        .with_limits(limits);
    let address = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Running {
        address,
        stop,
        served,
    }
}

/// One HTTP/1.1 answer, read off the socket.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A client socket that shows exactly what the server does with the connection.
struct Raw {
    stream: TcpStream,
    unread: Vec<u8>,
}

impl Raw {
    async fn connect(address: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(address).await.unwrap(),
            unread: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads more bytes; `None` once the server closed the connection.
    async fn fill(&mut self) -> Option<usize> {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk)).await {
            Err(_) => panic!("the server neither answered nor closed within {PATIENCE:?}"),
            Ok(Ok(0) | Err(_)) => None,
            Ok(Ok(n)) => {
                self.unread.extend_from_slice(&chunk[..n]);
                Some(n)
            }
        }
    }

    /// Reads one answer (with a `Content-Length` body), or `None` if the server closed first.
    async fn answer(&mut self) -> Option<RawAnswer> {
        let head_end = loop {
            if let Some(i) = self.unread.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8(self.unread[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        while self.unread.len() < head_end + length {
            self.fill().await?;
        }
        let body = self.unread[head_end..head_end + length].to_vec();
        self.unread.drain(..head_end + length);
        Some(RawAnswer {
            status,
            headers,
            body,
        })
    }

    /// Waits until the server closes the connection; returns how long that took.
    async fn closed(&mut self) -> Duration {
        let started = Instant::now();
        while self.fill().await.is_some() {}
        started.elapsed()
    }
}

fn limits(header_read_timeout: Duration, idle_timeout: Duration) -> ServerLimits {
    ServerLimits {
        header_read_timeout,
        idle_timeout,
        ..ServerLimits::default()
    }
}

#[tokio::test]
async fn a_socket_that_sends_half_a_header_is_closed_after_the_header_timeout() {
    let server = serve(limits(SHORT, LONG)).await;
    let mut half = Raw::connect(server.address).await;
    half.send(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
    let waited = half.closed().await;
    assert!(waited < PATIENCE, "closed after {waited:?}");
    // Trickling the head a byte at a time does not buy time either.
    let mut trickle = Raw::connect(server.address).await;
    let started = Instant::now();
    for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .cycle()
    {
        if trickle.stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "a trickled head kept going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() >= SHORT / 2, "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_idle_kept_alive_socket_is_closed_after_the_idle_timeout_and_not_before() {
    let idle = 3 * SHORT;
    let server = serve(limits(SHORT, idle)).await;
    let mut client = Raw::connect(server.address).await;
    client.send(HEALTH).await;
    assert_eq!(client.answer().await.unwrap().status, 200);
    // Waiting longer than the header timeout between requests is fine...
    tokio::time::sleep(2 * SHORT).await;
    client.send(HEALTH).await;
    assert_eq!(client.answer().await.unwrap().status, 200);
    // ...but not longer than the idle timeout.
    let waited = client.closed().await;
    assert!(waited >= idle / 2, "closed after only {waited:?}");
    assert!(waited < PATIENCE, "closed after {waited:?}");
}

#[tokio::test]
async fn with_the_cap_reached_health_is_answered_once_the_idle_sockets_time_out() {
    let server = serve(ServerLimits {
        header_read_timeout: SHORT,
        idle_timeout: SHORT,
        max_connections: 2,
    })
    .await;
    let mut idle = [
        Raw::connect(server.address).await,
        Raw::connect(server.address).await,
    ];
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let mut health = Raw::connect(server.address).await;
    health.send(HEALTH).await;
    let answer = health.answer().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"ok");
    // It waited for a place: the cap held while both idle sockets were open.
    assert!(waited >= SHORT / 2, "answered after only {waited:?}");
    for socket in &mut idle {
        socket.closed().await;
    }
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_does_not_wait_for_idle_sockets() {
    let server = serve(limits(LONG, LONG)).await;
    let mut idle = Raw::connect(server.address).await;
    idle.send(HEALTH).await;
    assert_eq!(idle.answer().await.unwrap().status, 200);
    let mut busy = Raw::connect(server.address).await;
    busy.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    tokio::time::sleep(SHORT / 3).await;
    let started = Instant::now();
    server.stop.send(()).unwrap();
    let answer = busy.answer().await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"done");
    assert_eq!(answer.header("connection"), Some("close"), "{answer:?}");
    tokio::time::timeout(PATIENCE, server.served)
        .await
        .expect("the server did not stop")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < PATIENCE);
    idle.closed().await;
    assert!(TcpStream::connect(server.address).await.is_err());
}
/// The address of a test app's server.
fn address_of(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

api_test!(
    after_an_early_rejection_the_client_can_tell_whether_the_connection_is_still_usable,
    |app: TestApp| async move {
        let farmer = app.token("farmer-ana", event_schemas::values::Role::Farmer);
        let json = format!("{{\"product_name\": \"{}\"}}", "x".repeat(60_000));
        let huge = "x".repeat(200_000);
        let post = |path: &str, headers: &str, body: &str| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let json_type = "Content-Type: application/json\r\n";
        let token = format!("Authorization: Bearer {farmer}\r\n");
        // Each request is sent in two parts, the second only after the answer, as a client
        // uploading a large body would: the server answers before it has read the body.
        let cases = [
            (401, post("/v1/stock-items", json_type, &json), 0),
            (404, post("/v1/nowhere", json_type, &json), 0),
            (
                415,
                post(
                    "/v1/stock-items",
                    &format!("{token}Content-Type: text/plain\r\n"),
                    &json,
                ),
                0,
            ),
            (
                413,
                post("/v1/stock-items", &format!("{token}{json_type}"), &huge),
                70_000,
            ),
        ];
        // A request whose body was read keeps its connection.
        let mut client = Raw::connect(address_of(&app)).await;
        let accepted = crate::support::stock_item_body(1).to_string();
        client
            .send(post("/v1/stock-items", &format!("{token}{json_type}"), &accepted).as_bytes())
            .await;
        let answer = client.answer().await.unwrap();
        assert_eq!(answer.status, 201, "{answer:?}");
        assert_eq!(answer.header("connection"), None);
        client.send(HEALTH).await;
        assert_eq!(client.answer().await.unwrap().status, 200);
        for (status, request, sent_early) in cases {
            let head_end = request.find("\r\n\r\n").unwrap() + 4;
            let (first, rest) = request.split_at(head_end + sent_early);
            let mut client = Raw::connect(address_of(&app)).await;
            client.send(first.as_bytes()).await;
            let refused = client.answer().await.unwrap();
            assert_eq!(refused.status, status, "{refused:?}");
            if refused.header("connection") == Some("close") {
                client.closed().await;
                continue;
            }
            // The server kept the connection: the rest of the body and the next request on it
            // must go through.
            let sent = client.stream.write_all(rest.as_bytes()).await.is_ok()
                && client.stream.write_all(HEALTH).await.is_ok();
            let next = if sent { client.answer().await } else { None };
            assert_eq!(
                next.map(|a| a.status),
                Some(200),
                "the connection died without `Connection: close` after {refused:?}"
            );
        }
    }
);

//! The benchmarks' load generator: each client owns one keep-alive HTTP/1.1 connection and
//! sends on it one request after the other, as wrk's connections do.
//!
//! The clients share the machine with the server they measure, so what they cost is taken
//! from the server. A general-purpose client (a connection pool, URL parsing, redirects) costs
//! about as much per request as the server's whole HTTP layer; a bare connection costs a
//! fraction of it.
//!
//! A connection the server closed (its idle timeout passes while a ceiling is measured) is
//! opened again before the client's next request, as wrk reconnects.

use std::net::SocketAddr;

use anyhow::{Context, ensure};
use axum::body::Bytes;
use axum::http::header::HOST;
use axum::http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// One open connection per client, to one server.
pub(super) struct LoadClient {
    connections: Vec<Mutex<SendRequest<Full<Bytes>>>>,
    addr: SocketAddr,
    host: HeaderValue,
}

impl LoadClient {
    /// Opens `clients` connections to `addr`.
    pub(super) async fn connect(addr: SocketAddr, clients: usize) -> anyhow::Result<Self> {
        let mut connections = Vec::with_capacity(clients);
        for _ in 0..clients.max(1) {
            connections.push(Mutex::new(open(addr).await?));
        }
        Ok(Self {
            connections,
            addr,
            host: HeaderValue::try_from(addr.to_string())?,
        })
    }

    /// Sends `request` on client `client`'s connection (its `Host` set here); the answer's
    /// status and whole body.
    pub(super) async fn send(
        &self,
        client: usize,
        mut request: Request<Full<Bytes>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let connection = self
            .connections
            .get(client % self.connections.len())
            .context("the load client has no connection")?;
        request.headers_mut().insert(HOST, self.host.clone());
        // A client's requests are sequential, so the lock is never contended: it only lends
        // the connection.
        let mut sender = connection.lock().await;
        if sender.ready().await.is_err() {
            *sender = open(self.addr).await?;
        }
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            // Closed by the server as the request went out, before any of it was sent: sent
            // again once on a new connection.
            Err(mut failed) => match failed.take_message() {
                Some(request) => {
                    *sender = open(self.addr).await?;
                    sender.send_request(request).await?
                }
                None => return Err(failed.into_error().into()),
            },
        };
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends `request` and checks that it succeeded; the answer's body.
    pub(super) async fn expect_success(
        &self,
        client: usize,
        request: Request<Full<Bytes>>,
    ) -> anyhow::Result<Bytes> {
        let (status, body) = self.send(client, request).await?;
        ensure!(
            status.is_success(),
            "the server answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(body)
    }
}

/// A new connection to `addr`, driven on its own task.
async fn open(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    // As any HTTP client does: a request must not wait for the previous one's ACK.
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "a load client's connection ended");
        }
    });
    Ok(sender)
}

//! Serves a router over TCP: HTTP/1.1 connections with a header-read timeout, an idle
//! timeout and a cap on open connections, and a graceful shutdown that finishes in-flight
//! requests.

mod activity;
mod connection;
mod unread_body;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The connection limits of a [`Server`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a request head may take to arrive: from the connection's start for its first
    /// request, from the first byte for later ones.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// How many connections may be open at once; past it, new ones wait to be accepted.
    pub max_connections: usize,
}

/// The default [`ServerLimits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`ServerLimits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`ServerLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A bound listener and the router it will serve: `bind`, then `port`, then
/// `run_until_stopped` (tests bind port 0).
pub struct Server {
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
}

impl Server {
    /// Binds `address` (e.g. `127.0.0.1:0`).
    pub async fn bind(address: &str, router: Router) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(address).await?,
            router,
            limits: ServerLimits::default(),
        })
    }

    /// Serves with these connection limits instead of the defaults.
    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    ///
    /// Past [`ServerLimits::max_connections`] it stops accepting: new connections wait in the
    /// kernel's backlog and are taken, oldest first, as places free up. Refusing them instead
    /// (accept, then close) would fail every `/health` check until a place frees up, and spend
    /// the server's time on whoever connects fastest.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            limits,
        } = self;
        let places = Arc::new(Semaphore::new(
            limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
        ));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let place = tokio::select! {
                () = &mut shutdown => break,
                place = Arc::clone(&places).acquire_owned() => place,
            };
            let Ok(place) = place else { break };
            let stream = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        pause_after(&error).await;
                        continue;
                    }
                },
            };
            // Answers are small: send them at once rather than wait to fill a segment.
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
            tokio::spawn(connection::serve(
                stream,
                router.clone(),
                limits,
                graceful.watcher(),
                place,
            ));
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }
}

/// After a failed accept: go on at once if only that connection failed, else (out of file
/// descriptors, say) wait a moment rather than spin.
async fn pause_after(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

//! One accepted connection: HTTP/1.1 over the socket, ended when its [`Activity`] expires or
//! when a graceful shutdown has let its last request finish.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tower::ServiceExt;

use super::activity::Activity;
use super::{ServerLimits, unread_body};

/// Serves `stream` with `router` until the client leaves, a timeout of `limits` passes or a
/// graceful shutdown completes; the connection's place (`permit`) is given back then.
pub async fn serve(
    stream: TcpStream,
    router: Router,
    limits: ServerLimits,
    shutdown: Watcher,
    permit: OwnedSemaphorePermit,
) {
    let activity = Activity::new(limits);
    let io = TokioIo::new(Observed {
        stream,
        activity: Arc::clone(&activity),
    });
    let service = Watched {
        router,
        activity: Arc::clone(&activity),
    };
    // hyper's own header-read timeout also runs while a kept-alive connection waits for its
    // next request, so it cannot be set apart from the idle timeout: `Activity` keeps both.
    // Upgrades are served (the GraphQL subscription socket): once a connection is upgraded
    // it leaves this function, and the socket's own handler bounds it.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().header_read_timeout(None).keep_alive(true);
    let connection = builder.serve_connection_with_upgrades(io, service);
    let connection = shutdown.watch(connection);
    tokio::select! {
        served = connection => {
            if let Err(error) = served {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        () = activity.expired() => tracing::debug!("connection timed out"),
    }
    drop(permit);
}

/// The socket, telling the connection's [`Activity`] when bytes arrive.
struct Observed {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Observed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Observed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router as hyper calls it, marking each request busy until its answer is ready, and
/// closing the connection after an answer given before the body was read.
#[derive(Clone)]
struct Watched {
    router: Router,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Watched {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = self.activity.request_started();
        let router = self.router.clone();
        Box::pin(async move {
            let answer =
                unread_body::close_if_unread(request, |request| router.oneshot(request)).await;
            drop(busy);
            answer
        })
    }
}

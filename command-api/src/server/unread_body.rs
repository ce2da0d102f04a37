//! Answers `Connection: close` when a request was answered before its body was read to the
//! end (a 401, 404, 413, 415 or 429 decided from the head alone).
//!
//! hyper cannot reuse such a connection: the rest of the body is still on its way. Without the
//! header, the client learns it only when its next request on the connection fails.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Request, Response};
use http_body::{Frame, SizeHint};

/// Answers `request` with `handle`, adding `Connection: close` when the answer is ready before
/// the request's body was read to its end.
pub async fn close_if_unread<B, F, Fut>(
    request: Request<B>,
    handle: F,
) -> Result<Response<Body>, Infallible>
where
    B: http_body::Body + Unpin,
    F: FnOnce(Request<Tracked<B>>) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Infallible>>,
{
    let ended = Arc::new(AtomicBool::new(request.body().is_end_stream()));
    let request = request.map(|body| Tracked {
        body,
        ended: Arc::clone(&ended),
    });
    let mut response = handle(request).await?;
    if !ended.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

/// A request body that records when it has been read to its end.
#[derive(Debug)]
pub struct Tracked<B> {
    body: B,
    ended: Arc<AtomicBool>,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

//! The request deadline. A request that takes too long is answered 503, which always means
//! "not applied": once a command's append has been sent, the deadline no longer cuts the
//! request off but waits for the append's true outcome (which the database bounds with its
//! statement timeout), and that outcome is the answer.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use event_store::CommitPoint;

use crate::ApiError;

/// Runs the request under `timeout`, giving it a [`CommitPoint`] to mark its append with.
pub async fn enforce(
    State(timeout): State<Duration>,
    mut request: Request,
    next: Next,
) -> Response {
    let commit_point = CommitPoint::new();
    request.extensions_mut().insert(commit_point.clone());
    let response = next.run(request);
    tokio::pin!(response);
    match tokio::time::timeout(timeout, &mut response).await {
        Ok(response) => response,
        // Giving up is one atomic step against the committer taking the append (it may wait
        // in another task's queue): if the append was not sent by now it never will be, and
        // dropping the handler cancels everything before it, so nothing is applied.
        Err(_) if !commit_point.abandon() => {
            tracing::warn!(
                ?timeout,
                "the request outlived its deadline with its append in flight; answering the \
                 append's outcome"
            );
            // The database gives up on a statement well within this (its statement timeout
            // is half the request timeout): only a connection gone silent can outlast it, and
            // then the outcome is unknown.
            match tokio::time::timeout(timeout, &mut response).await {
                Ok(response) => response,
                Err(_) => ApiError::OutcomeUnknown.into_response(),
            }
        }
        Err(_) => ApiError::Timeout.into_response(),
    }
}

//! The broker's acknowledgements of a batch, through one inbox: each message names
//! `<inbox>.<n>` as its reply subject, and one subscription to `<inbox>.*` receives them all.
//! A JetStream request per message would cost an inbox, a channel, a timer and a table entry
//! each, which on two cores is time the broker itself needs.

use std::time::Duration;

use async_nats::{Client, StatusCode, SubscribeError, Subscriber};
use futures_util::StreamExt;
use serde::Deserialize;

/// One subscription for the acknowledgements of every batch a publisher sends.
pub(crate) struct AckInbox {
    /// The subscription's subject without its last token.
    prefix: String,
    subscriber: Subscriber,
    /// The number the next message's reply subject takes: never reused, so a late answer to
    /// a failed batch is never taken for one of a later batch.
    next: u64,
}

/// A batch's reserved reply subjects: `<inbox>.<first + index>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Replies {
    first: u64,
    len: usize,
}

/// Why a batch was not acknowledged whole.
#[derive(Debug)]
pub(crate) enum AckFailure {
    /// The broker answered message `index` of the batch with an error.
    Refused { index: usize, reason: String },
    /// No acknowledgement came within the wait, or the subscription ended.
    Silent(String),
}

/// A JetStream acknowledgement: the stream and sequence that stored the message, or an error.
#[derive(Deserialize)]
struct Ack {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    error: Option<AckError>,
}

/// The error a JetStream acknowledgement carries.
#[derive(Deserialize)]
struct AckError {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

impl AckInbox {
    /// Subscribes to a fresh inbox of `client`.
    pub(crate) async fn open(client: &Client) -> Result<Self, SubscribeError> {
        let prefix = client.new_inbox();
        let subscriber = client.subscribe(format!("{prefix}.*")).await?;
        Ok(Self {
            prefix,
            subscriber,
            next: 0,
        })
    }

    /// Reserves the reply subjects of a batch of `len` messages.
    pub(crate) fn reserve(&mut self, len: usize) -> Replies {
        let first = self.next;
        self.next = first.saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
        Replies { first, len }
    }

    /// The reply subject of message `index` of `replies`' batch.
    pub(crate) fn reply_subject(&self, replies: Replies, index: usize) -> String {
        let number = replies
            .first
            .saturating_add(u64::try_from(index).unwrap_or(u64::MAX));
        format!("{}.{number}", self.prefix)
    }

    /// Waits until `stream` has acknowledged every message of `replies`' batch, and fails at
    /// the first error the broker answers. Silence is watched in windows of `wait`: a window
    /// without any answer fails the batch (so a silence fails it after `wait` to twice that).
    /// Answers to other batches, and replies that are no acknowledgement of `stream` (another
    /// subscriber of the subject may answer too), are passed over.
    pub(crate) async fn acknowledged(
        &mut self,
        replies: Replies,
        stream: &str,
        wait: Duration,
    ) -> Result<(), AckFailure> {
        let mut answered = vec![false; replies.len];
        let mut missing = replies.len;
        // One timer for the whole batch, pushed back while answers keep coming.
        let silence = tokio::time::sleep(wait);
        tokio::pin!(silence);
        let mut heard = false;
        while missing > 0 {
            let message = tokio::select! {
                biased;
                message = self.subscriber.next() => match message {
                    Some(message) => message,
                    None => return Err(AckFailure::Silent("the acknowledgement inbox closed".into())),
                },
                () = &mut silence => {
                    if !heard {
                        return Err(AckFailure::Silent(format!(
                            "{missing} of {} messages unacknowledged after {wait:?}",
                            replies.len
                        )));
                    }
                    heard = false;
                    silence.as_mut().reset(tokio::time::Instant::now() + wait);
                    continue;
                }
            };
            let Some(index) = message
                .subject
                .as_str()
                .rsplit('.')
                .next()
                .and_then(|number| number.parse::<u64>().ok())
                .and_then(|number| number.checked_sub(replies.first))
                .and_then(|index| usize::try_from(index).ok())
                .filter(|index| *index < replies.len)
            else {
                continue;
            };
            if message.status == Some(StatusCode::NO_RESPONDERS) {
                return Err(AckFailure::Refused {
                    index,
                    reason: "no stream takes its subject (no responders)".into(),
                });
            }
            match serde_json::from_slice::<Ack>(&message.payload) {
                Ok(Ack {
                    error: Some(error), ..
                }) => {
                    return Err(AckFailure::Refused {
                        index,
                        reason: format!("{} (error {})", error.description, error.err_code),
                    });
                }
                Ok(Ack {
                    stream: Some(by),
                    seq: Some(_),
                    error: None,
                }) if by == stream => {}
                // Not JetStream's answer for this stream: only the stream's own counts.
                Ok(_) | Err(_) => continue,
            }
            heard = true;
            if let Some(slot) = answered.get_mut(index)
                && !std::mem::replace(slot, true)
            {
                missing -= 1;
            }
        }
        Ok(())
    }
}

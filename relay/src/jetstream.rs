//! The NATS JetStream publisher: one stream holds every subject, JetStream's duplicate window
//! drops what a crash made the relay send again, and each message names the one before it,
//! so that none is stored out of order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::client::PublishErrorKind;
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::{self, Context, stream};
use async_nats::{Client, HeaderMap, HeaderName};
use event_store::Position;

use crate::ack_inbox::{AckFailure, AckInbox};
use crate::message::{MESSAGE_ID_HEADER, POSITION_HEADER};
use crate::{Held, IntegrationMessage, PublishError, Publisher, SUBJECT_PREFIX, Stored};

/// JetStream refuses a message whose predecessor is not the stream's last (checked after
/// duplicates: a message sent again is still answered as a duplicate). When the connection
/// drops, messages in its write buffer are lost while later ones may still go out: this
/// keeps a later one from being stored before them.
const EXPECTED_LAST: HeaderName = HeaderName::from_static("Nats-Expected-Last-Msg-Id");

/// The same by stream sequence, for the first message after the stream was read: a server
/// restart forgets the last message id once it is out of the duplicate window, never the
/// last sequence.
const EXPECTED_LAST_SEQUENCE: HeaderName = HeaderName::from_static("Nats-Expected-Last-Sequence");

/// The most messages sent before their acknowledgements are read: those wait meanwhile in
/// the inbox subscription's queue (65,536 by default), which drops what overflows it.
const MOST_IN_FLIGHT: usize = 10_000;

/// What the next message names as the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Predecessor {
    /// The stream's last sequence, as read from the stream.
    Sequence(u64),
    /// The id of the message this publisher stored last.
    Id(String),
}

/// Where and how the relay publishes.
#[derive(Debug, Clone)]
pub struct JetStreamSettings {
    /// The server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The stream's name.
    pub stream: String,
    /// The first token of every subject; the stream takes `<prefix>.>`.
    pub subject_prefix: String,
    /// How long JetStream remembers a message id to drop it when sent again.
    pub duplicate_window: Duration,
    /// How long the stream keeps a message (zero: for ever).
    pub max_age: Duration,
    /// How long a publish waits for the broker's acknowledgement.
    pub ack_wait: Duration,
}

impl JetStreamSettings {
    /// The defaults for the server at `url`: stream `SUPPLYLINE`, subjects `supplyline.>`, a
    /// two-minute duplicate window, messages kept for ever.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: "SUPPLYLINE".into(),
            subject_prefix: SUBJECT_PREFIX.into(),
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::ZERO,
            ack_wait: Duration::from_secs(5),
        }
    }
}

/// Publishes to one JetStream stream over one connection (a second connection could send a
/// first one's queued messages after its own, out of order): plain publishes with a reply
/// subject, their acknowledgements received through one inbox.
pub struct JetStream {
    client: Client,
    /// The stream's management (made, read, brought up to date).
    context: Context,
    /// Where acknowledgements arrive; `None` until the first batch, and again after a failed
    /// one, so that nothing a failed batch left behind is read.
    acks: tokio::sync::Mutex<Option<AckInbox>>,
    settings: JetStreamSettings,
    /// What the next message names as its predecessor, as far as this publisher knows;
    /// `None` once a publish failed, until it is read from the stream again.
    last: Mutex<Option<Predecessor>>,
    /// Whether the stream is known to exist with the settings' subjects and window.
    stream_ready: AtomicBool,
}

impl JetStream {
    /// Connects to the server, retrying in the background while it is unreachable; the
    /// stream is made (if missing) before the first publish.
    pub async fn connect(settings: JetStreamSettings) -> Result<Self, PublishError> {
        let client = async_nats::ConnectOptions::new()
            .name("supplyline-relay")
            .retry_on_initial_connect()
            // A connection that went silent is found in about three intervals.
            .ping_interval(Duration::from_secs(5))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(50 << attempts.min(4)).min(Duration::from_secs(1))
            })
            .connect(settings.url.as_str())
            .await
            .map_err(unavailable)?;
        let context = jetstream::ContextBuilder::new()
            .timeout(settings.ack_wait)
            .build(client.clone());
        Ok(Self {
            client,
            context,
            acks: tokio::sync::Mutex::new(None),
            settings,
            last: Mutex::new(None),
            stream_ready: AtomicBool::new(false),
        })
    }

    /// Makes the stream if it is missing, with its subjects, limits retention and duplicate
    /// window; brings an existing stream's subjects and window to the settings.
    pub async fn ensure_stream(&self) -> Result<(), PublishError> {
        let wanted = stream::Config {
            name: self.settings.stream.clone(),
            subjects: vec![format!("{}.>", self.settings.subject_prefix)],
            retention: stream::RetentionPolicy::Limits,
            duplicate_window: self.settings.duplicate_window,
            max_age: self.settings.max_age,
            ..Default::default()
        };
        let existing = self
            .context
            .get_or_create_stream(wanted.clone())
            .await
            .map_err(unavailable)?;
        let config = &existing.cached_info().config;
        if !config.subjects.contains(&wanted.subjects[0])
            || config.duplicate_window != wanted.duplicate_window
            || config.max_age != wanted.max_age
        {
            tracing::info!(stream = %wanted.name, "bringing the stream's settings up to date");
            // Only what the relay's settings name: replicas, limits and other subjects an
            // operator gave the stream stay as they are.
            let mut patched = config.clone();
            if !patched.subjects.contains(&wanted.subjects[0]) {
                patched.subjects.push(wanted.subjects[0].clone());
            }
            patched.duplicate_window = wanted.duplicate_window;
            patched.max_age = wanted.max_age;
            self.context
                .update_stream(&patched)
                .await
                .map_err(unavailable)?;
        }
        self.stream_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// What the stream holds: nothing ever, its last message of this log, or no message to
    /// tell by.
    async fn stream_state(&self) -> Result<Held, PublishError> {
        let mut stream = self
            .context
            .get_stream(&self.settings.stream)
            .await
            .map_err(unavailable)?;
        let state = stream.info().await.map_err(unavailable)?.state.clone();
        if state.last_sequence == 0 {
            return Ok(Held::Nothing);
        }
        // Messages past the stream's age are gone, while its last sequence stays.
        if state.messages == 0 {
            return Ok(Held::Unknown);
        }
        let message = match stream.get_raw_message(state.last_sequence).await {
            Ok(message) => message,
            // Removed by an operator: nothing to tell by.
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => {
                return Ok(Held::Unknown);
            }
            Err(error) => return Err(unavailable(error)),
        };
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
        // A message without this log's id and position is not the relay's.
        let stored = header(MESSAGE_ID_HEADER)
            .zip(header(POSITION_HEADER).and_then(|token| Position::from_token(&token).ok()));
        Ok(stored.map_or(Held::Unknown, |(event_id, position)| {
            Held::Last(Stored { event_id, position })
        }))
    }

    /// What the next message must name as its predecessor: known after a success, the
    /// stream's last sequence after a failure or at first.
    async fn predecessor(&self) -> Result<Predecessor, PublishError> {
        if let Ok(last) = self.last.lock()
            && let Some(known) = last.as_ref()
        {
            return Ok(known.clone());
        }
        let mut stream = self
            .context
            .get_stream(&self.settings.stream)
            .await
            .map_err(unavailable)?;
        let sequence = stream
            .info()
            .await
            .map_err(unavailable)?
            .state
            .last_sequence;
        let read = Predecessor::Sequence(sequence);
        self.remember(Some(read.clone()));
        Ok(read)
    }

    fn remember(&self, last: Option<Predecessor>) {
        if let Ok(mut slot) = self.last.lock() {
            *slot = last;
        }
    }
}

impl Publisher for JetStream {
    async fn last_stored(&self) -> Result<Held, PublishError> {
        if !self.stream_ready.load(Ordering::Relaxed) {
            self.ensure_stream().await?;
        }
        // The relay goes on from what the stream holds now (it may have taken the lease back
        // from another relay meanwhile): the predecessor is read afresh too.
        self.remember(None);
        self.stream_state().await
    }

    async fn publish(&self, mut messages: Vec<IntegrationMessage>) -> Result<(), PublishError> {
        let mut acks = self.acks.lock().await;
        let mut result = Ok(());
        while result.is_ok() && !messages.is_empty() {
            let rest = messages.split_off(messages.len().min(MOST_IN_FLIGHT));
            let part = std::mem::replace(&mut messages, rest);
            result = self.publish_in_order(&mut acks, part).await;
        }
        if result.is_err() {
            // What the stream holds now is unknown (it may even be gone): look again before
            // the next batch.
            self.remember(None);
            self.stream_ready.store(false, Ordering::Relaxed);
            *acks = None;
        }
        result
    }
}

impl JetStream {
    async fn publish_in_order(
        &self,
        acks: &mut Option<AckInbox>,
        messages: Vec<IntegrationMessage>,
    ) -> Result<(), PublishError> {
        if !self.stream_ready.load(Ordering::Relaxed) {
            self.ensure_stream().await?;
        }
        let mut previous = self.predecessor().await?;
        let inbox = match acks {
            Some(inbox) => inbox,
            None => acks.insert(AckInbox::open(&self.client).await.map_err(unavailable)?),
        };
        if let Some(bad) = messages.iter().find(|m| !fit_for_headers(m)) {
            return Err(PublishError::Refused {
                event_id: bad.event_id.clone(),
                message: "a header name or value the NATS protocol cannot carry".into(),
            });
        }
        let replies = inbox.reserve(messages.len());
        // Each message's id, for what the broker answers of it.
        let mut ids = Vec::with_capacity(messages.len());
        let sending_until = tokio::time::Instant::now() + self.settings.ack_wait;
        for (index, message) in messages.into_iter().enumerate() {
            // Taken apart: its texts become the headers as they are, not copied.
            let IntegrationMessage {
                subject,
                event_id,
                headers: named,
                body,
            } = message;
            let mut headers = HeaderMap::new();
            for (name, value) in named {
                headers.insert(HeaderName::from_static(name), value);
            }
            match previous {
                Predecessor::Sequence(sequence) => {
                    headers.insert(EXPECTED_LAST_SEQUENCE, sequence.to_string());
                }
                Predecessor::Id(id) => headers.insert(EXPECTED_LAST, id),
            }
            let reply = inbox.reply_subject(replies, index);
            // The connection takes publishes while it is up; while it reconnects, waiting
            // here must end too, not only waiting for acknowledgements.
            let sent = tokio::time::timeout_at(
                sending_until,
                self.client
                    .publish_with_reply_and_headers(subject, reply, headers, body),
            )
            .await;
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(refused_or_unavailable(&event_id, error)),
                Err(_) => {
                    return Err(unavailable(format!(
                        "{event_id}: the batch was not all handed to the connection within {:?}",
                        self.settings.ack_wait
                    )));
                }
            }
            previous = Predecessor::Id(event_id.clone());
            ids.push(event_id);
        }
        // Every message is on its way; the broker answers each once it is stored.
        inbox
            .acknowledged(replies, &self.settings.stream, self.settings.ack_wait)
            .await
            .map_err(|failure| match failure {
                AckFailure::Refused { index, reason } => {
                    let event = ids.get(index).map_or("?", String::as_str);
                    unavailable(format!("{event}: {reason}"))
                }
                AckFailure::Silent(reason) => unavailable(reason),
            })?;
        self.remember(Some(previous));
        Ok(())
    }
}

/// Whether the NATS protocol can carry `message`'s headers: names of visible ASCII without
/// `:`, values without line breaks (the client would panic on them).
fn fit_for_headers(message: &IntegrationMessage) -> bool {
    message.headers.iter().all(|(name, value)| {
        !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            && !value.contains(['\r', '\n'])
    })
}

/// A passing failure: the server unreachable, slow or restarting.
fn unavailable(error: impl std::fmt::Display) -> PublishError {
    PublishError::Unavailable(error.to_string())
}

/// A publish error of event `event_id`'s message: refused for good when the message itself
/// is at fault, else passing.
fn refused_or_unavailable(event_id: &str, error: async_nats::client::PublishError) -> PublishError {
    match error.kind() {
        PublishErrorKind::MaxPayloadExceeded => PublishError::Refused {
            event_id: event_id.to_owned(),
            message: error.to_string(),
        },
        _ => unavailable(format!("{event_id}: {error}")),
    }
}

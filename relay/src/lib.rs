//! supplyline's integration events: a checkpointed worker that publishes every event of the
//! global log, in log order, to a message broker, so that other services react to what happens
//! here without reading our database.
//!
//! What a consumer receives is [`IntegrationMessage`]: a subject
//! `supplyline.<aggregate_type>.<event_type>`, headers naming the event, and the event as
//! JSON. Which broker carries it is behind [`Publisher`]: publish a batch in order, many
//! messages in flight, and answer once the broker has acknowledged every one. [`JetStream`]
//! is the NATS JetStream publisher, and [`Relay`] the worker that reads the log, publishes it
//! and checkpoints after acknowledgement, under the projectors' lease.
//!
//! A Kafka or RabbitMQ publisher would be another implementation of [`Publisher`], and nothing
//! else would change. Kafka: the subject's aggregate type names the topic (or one topic with
//! the subject as a header), the aggregate id is the record key, so that one stream's events
//! stay in one partition and in order, and idempotent production (`enable.idempotence`) takes
//! the place of JetStream's duplicate window; acknowledgements arrive per partition in order.
//! RabbitMQ: a topic exchange with the subject as routing key (consumers bind with `#` and
//! `*` as they filter with `>` and `*` here), publisher confirms as the acknowledgement, and
//! the event id as `message_id` for consumers to drop what a crash made the relay send twice.

mod ack_inbox;
mod checkpoint;
mod jetstream;
mod lag;
mod message;
mod publisher;
mod read_ahead;
mod worker;

pub use jetstream::{JetStream, JetStreamSettings};
pub use message::{IntegrationMessage, SUBJECT_PREFIX, Unpublishable};
pub use publisher::{Held, PublishError, Publisher, Stored};
pub use worker::{Relay, RelaySettings};

/// The relay `name`'s checkpoint: the position after which it publishes next, and how many
/// events it has published.
pub use checkpoint::load as checkpoint;
pub use checkpoint::{RelayCheckpoint, all as checkpoints};

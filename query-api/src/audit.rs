//! The audit roots, for auditors and admins (the whole log is `events`): a stream's history, an aggregate's state as of a
//! version or a time (replayed through its domain aggregate, upcast), and the tamper check of
//! a stream's hash chain.

use async_graphql::{Context, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use event_store::{EventStore, ReplayUntil, StreamId};
use executors::AggregateType;

use crate::QueryError;
use crate::error::{refused, unavailable};
use crate::events::{AUDITORS, Event};
use crate::viewer::Viewer;

/// The outcome of a stream's tamper check.
#[derive(Debug, SimpleObject)]
pub struct StreamVerification {
    /// Whether every event's hash matches its content and chain.
    pub ok: bool,
    /// How many events were checked.
    pub checked: u64,
    /// The first event whose hash does not match, if any.
    pub first_broken_sequence: Option<u64>,
}

/// The audit roots.
#[derive(Default)]
pub struct AuditQuery;

/// The aggregate type named `name`, or `BAD_USER_INPUT`.
fn aggregate_type(name: &str) -> async_graphql::Result<AggregateType> {
    AggregateType::parse(name).map_err(|e| refused(QueryError::BadInput(e.to_string())))
}

#[Object]
impl AuditQuery {
    /// Every event of one stream, in order.
    async fn aggregate_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "type")] aggregate: String,
        id: String,
    ) -> async_graphql::Result<Vec<Event>> {
        ctx.data::<Viewer>()?.with_role(&AUDITORS, "history")?;
        let aggregate = aggregate_type(&aggregate)?;
        let store = ctx.data::<EventStore>()?;
        let events = store
            .read_stream(&StreamId::new(aggregate.name(), &id), 0)
            .await
            .map_err(unavailable)?;
        Ok(events.into_iter().map(Event::from).collect())
    }

    /// An aggregate's state as of a version or a time (the latest when neither is given),
    /// rebuilt from its events through the domain aggregate; null when it did not exist yet.
    async fn aggregate_state(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "type")] aggregate: String,
        id: String,
        at_version: Option<u64>,
        at_time: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Option<Json<serde_json::Value>>> {
        ctx.data::<Viewer>()?.with_role(&AUDITORS, "history")?;
        let aggregate = aggregate_type(&aggregate)?;
        let until = match (at_version, at_time) {
            (Some(_), Some(_)) => {
                return Err(refused(QueryError::BadInput(
                    "give atVersion or atTime, not both".into(),
                )));
            }
            (Some(version), None) => ReplayUntil::Version(version),
            (None, Some(time)) => ReplayUntil::Time(time),
            (None, None) => ReplayUntil::End,
        };
        let store = ctx.data::<EventStore>()?;
        let replayed = aggregate
            .replay(store, &id, until)
            .await
            .map_err(unavailable)?;
        Ok(replayed.map(|r| Json(r.state)))
    }

    /// The tamper check of one stream's hash chain.
    async fn verify_stream(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "type")] aggregate: String,
        id: String,
    ) -> async_graphql::Result<StreamVerification> {
        ctx.data::<Viewer>()?.with_role(&AUDITORS, "history")?;
        let aggregate = aggregate_type(&aggregate)?;
        let store = ctx.data::<EventStore>()?;
        let checked = store
            .verify_stream(&StreamId::new(aggregate.name(), &id))
            .await
            .map_err(unavailable)?;
        Ok(StreamVerification {
            ok: checked.ok,
            checked: checked.checked,
            first_broken_sequence: checked.first_broken_sequence,
        })
    }
}

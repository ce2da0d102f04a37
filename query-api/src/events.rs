//! The `events` root and the `Event` object: the whole log for auditors and admins, filtered
//! and paged by position (API.md "Query API").

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use event_schemas::values::Role;
use event_store::{EventStore, LogFilter, Position, RecordedEvent};
use executors::AggregateType;

use crate::QueryError;
use crate::connection::{page_complexity, page_size};
use crate::consistency::{Consistency, consistent};
use crate::error::{refused, unavailable};
use crate::viewer::Viewer;

/// Who may read the log.
pub(crate) const AUDITORS: [Role; 2] = [Role::Auditor, Role::Admin];

/// One event of the log.
#[derive(Debug, Clone, SimpleObject)]
pub struct Event {
    /// Its global position (an opaque token).
    pub position: String,
    /// Its aggregate type (`stock`, `order`, ...).
    pub aggregate_type: String,
    /// Its aggregate's id.
    pub aggregate_id: String,
    /// Its place in its stream (1, 2, ...).
    pub sequence: u64,
    /// Its type, e.g. `OrderPlaced`.
    pub event_type: String,
    /// Its payload schema's version (after upcasting).
    pub event_version: String,
    /// Its payload.
    pub payload: Json<serde_json::Value>,
    /// Its metadata: ids, actor, command, hashes.
    pub metadata: Json<serde_json::Value>,
    /// When the database recorded it (RFC 3339).
    pub recorded_at: DateTime<Utc>,
}

impl From<RecordedEvent> for Event {
    fn from(e: RecordedEvent) -> Self {
        Self {
            position: e.position.token(),
            aggregate_type: e.stream.aggregate_type,
            aggregate_id: e.stream.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            payload: Json(e.payload),
            metadata: Json(e.metadata),
            recorded_at: e.recorded_at,
        }
    }
}

/// Which events to read; every field narrows.
#[derive(Debug, Default, Clone, InputObject)]
pub struct EventFilter {
    /// Only events of this aggregate type (`stock`, `order`, `delivery`, `inspection`,
    /// `purchase`).
    pub aggregate_type: Option<String>,
    /// Only events of aggregates with this id.
    pub aggregate_id: Option<ID>,
    /// Only events of this type, e.g. `OrderPlaced`.
    pub event_type: Option<String>,
    /// Only events of commands sent by this actor (its `sub`).
    pub actor: Option<ID>,
    /// Recorded at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only events after this position token.
    pub after_position: Option<String>,
}

/// A checked [`EventFilter`]: the store's filter and where reading starts.
#[derive(Debug, Clone)]
pub(crate) struct CheckedFilter {
    /// What the store narrows by.
    pub(crate) log: LogFilter,
    /// Read after this position.
    pub(crate) after: Position,
}

impl EventFilter {
    /// The store's filter, or `BAD_USER_INPUT` naming what is wrong.
    pub(crate) fn check(self) -> async_graphql::Result<CheckedFilter> {
        let aggregate_types = match &self.aggregate_type {
            Some(name) => vec![
                AggregateType::parse(name)
                    .map_err(|e| refused(QueryError::BadInput(e.to_string())))?
                    .name()
                    .to_owned(),
            ],
            // An id alone still reads through the streams' key: ask for it under every type.
            None if self.aggregate_id.is_some() => AggregateType::ALL
                .iter()
                .map(|t| t.name().to_owned())
                .collect(),
            None => Vec::new(),
        };
        if let Some(event_type) = &self.event_type
            && !event_schemas::all_kinds()
                .iter()
                .any(|k| k.event_type == event_type)
        {
            return Err(refused(QueryError::BadInput(format!(
                "`{event_type}` is not an event type"
            ))));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(refused(QueryError::BadInput("`from` is after `to`".into())));
        }
        let after = match &self.after_position {
            Some(token) => position(token)?,
            None => Position::START,
        };
        Ok(CheckedFilter {
            log: LogFilter {
                aggregate_types,
                aggregate_id: self.aggregate_id.map(|id| id.0),
                event_type: self.event_type,
                actor: self.actor.map(|id| id.0),
                from: self.from,
                to: self.to,
            },
            after,
        })
    }
}

/// The position a token names, or `BAD_USER_INPUT`.
fn position(token: &str) -> async_graphql::Result<Position> {
    Position::from_token(token).map_err(|e| refused(QueryError::BadInput(e.to_string())))
}

/// Beside a page of events: how many match the filter in all, counted only when asked.
pub struct EventsTotal(CheckedFilter);

#[Object]
impl EventsTotal {
    /// Events matching the filter, on every page (counts them: costs a scan of the matches).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        ctx.data::<EventStore>()?
            .count_filtered(&self.0.log, self.0.after, u64::MAX)
            .await
            .map_err(unavailable)
    }
}

/// The `events` root.
#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// The log in order, filtered, paged by position: auditors and admins only. A page costs
    /// the same at any depth of the log (each filter has its index).
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        filter: Option<EventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Event, EventsTotal, EmptyFields>> {
        consistent(ctx, consistency).await?;
        ctx.data::<Viewer>()?.with_role(&AUDITORS, "the log")?;
        let filter = filter.unwrap_or_default().check()?;
        let first = page_size(first)?.unwrap_or(projections::query::DEFAULT_PAGE);
        let start = match &after {
            Some(cursor) => position(cursor)?.max(filter.after),
            None => filter.after,
        };
        let store = ctx.data::<EventStore>()?;
        // One more than asked tells whether another page follows.
        let mut events = store
            .read_filtered(&filter.log, start, first.saturating_add(1))
            .await
            .map_err(unavailable)?;
        let has_next_page = events.len() > first as usize;
        events.truncate(first as usize);
        let mut connection =
            Connection::with_additional_fields(after.is_some(), has_next_page, EventsTotal(filter));
        connection.edges.extend(events.into_iter().map(|event| {
            let event = Event::from(event);
            Edge::new(event.position.clone(), event)
        }));
        Ok(connection)
    }
}

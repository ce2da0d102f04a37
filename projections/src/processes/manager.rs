//! [`ProcessManager`]: a process run as a projection whose output is commands. It keeps each
//! process instance's state (one per order, farm or purchase) as a row, written with the
//! checkpoint; per batch it feeds every instance its events in log order and issues the
//! commands they decide, instances side by side, before the batch commits.

use std::collections::HashMap;
use std::marker::PhantomData;

use async_trait::async_trait;
use domain::process::{ProcessCommand, Target};
use event_store::Position;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::issue::{Causes, Issuer};
use crate::cache::RowCache;
use crate::changes::Changes;
use crate::db::ReadDb;
use crate::event::Event;
use crate::projection::{ApplyError, Projection, SettleError};
use crate::table::{KeyedRow, Table, Tables};

/// How many process instances of one batch issue their commands at once.
const CONCURRENCY: usize = 32;

/// A process's state row: the instance's key and its state as JSON.
pub trait StateRow:
    KeyedRow
    + Unpin
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
{
    /// The row of instance `key` in state `state`.
    fn new(key: String, state: String) -> Self;
    /// The state, as JSON.
    fn state(&self) -> &str;
}

/// Declares a process's state row type and its table.
macro_rules! state_row {
    ($(#[$doc:meta])* $name:ident in $table:literal) => {
        $crate::table::table_row! {
            $(#[$doc])*
            pub struct $name in $table key(key) {
                /// The instance: an order, a farm or a purchase.
                pub key: String,
                /// Its state, as JSON.
                pub state: String,
            }
        }

        impl $crate::table::KeyedRow for $name {
            fn key(&self) -> &str {
                &self.key
            }
        }

        impl $crate::processes::manager::StateRow for $name {
            fn new(key: String, state: String) -> Self {
                Self { key, state }
            }

            fn state(&self) -> &str {
                &self.state
            }
        }
    };
}
pub(crate) use state_row;

/// Why a process could not go on with an event: a command refused in a way its decision did
/// not foresee, or not carried out at all (the store failed, contention). The batch is
/// retried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Stuck(pub String);

impl Stuck {
    /// `command` was not carried out, for `error`, in a way the decision did not foresee.
    pub fn refused(command: &ProcessCommand, error: &str) -> Self {
        let target = match &command.target {
            Target::Stock {
                stock_item_id,
                command,
            } => format!("{} to stock/{stock_item_id}", command.name()),
            Target::Order { order_id, command } => {
                format!("{} to order/{order_id}", command.name())
            }
            Target::Delivery {
                delivery_id,
                command,
            } => format!("{} to delivery/{delivery_id}", command.name()),
        };
        Self(format!(
            "{target} (command {}) was not carried out: {error}",
            command.id
        ))
    }
}

/// One process: its name, state, which instance an event concerns, and how it reacts.
#[async_trait]
pub trait Process: Send + Sync + 'static {
    /// Its name: its status row, its lease and its system actor (`system:<name>`).
    const NAME: &'static str;
    /// The version of its state's shape.
    const VERSION: i64;
    /// The state of one instance.
    type State: Default + Serialize + DeserializeOwned + Send + Sync;
    /// Its state row.
    type Row: StateRow;

    /// The instance `event` concerns; `None` when the process ignores it.
    fn key(event: &Event) -> Option<String>;

    /// Reacts to `event`: decides, issues the commands through `issuer`, and feeds back what
    /// the decision asked to know of their outcomes.
    async fn react(
        state: &mut Self::State,
        event: &Event,
        causes: Causes,
        issuer: &Issuer,
    ) -> Result<(), Stuck>;
}

/// Runs process `P` on the projector runtime.
pub struct ProcessManager<P: Process> {
    issuer: Issuer,
    states: RowCache<P::Row>,
    /// The batch's events that concern an instance, with its key, in log order.
    pending: Vec<(String, Event)>,
    process: PhantomData<P>,
}

impl<P: Process> ProcessManager<P> {
    /// The manager of `P`, issuing through `issuer`.
    pub fn new(issuer: Issuer) -> Self {
        Self {
            issuer,
            states: RowCache::default(),
            pending: Vec::new(),
            process: PhantomData,
        }
    }

    /// Feeds one instance its events in order.
    async fn run_instance(
        issuer: &Issuer,
        key: String,
        mut state: P::State,
        events: Vec<Event>,
    ) -> Result<(String, String), SettleError> {
        for event in &events {
            let stuck = |message: String| SettleError {
                position: event.position,
                event: event.describe(),
                message,
            };
            let Some((event_id, correlation_id)) = event.ids() else {
                return Err(stuck(
                    "the event has no event id in its metadata".to_owned(),
                ));
            };
            let causes = Causes {
                event_id,
                correlation_id,
                at: event.recorded_at,
            };
            P::react(&mut state, event, causes, issuer)
                .await
                .map_err(|e| stuck(e.0))?;
        }
        let json = serde_json::to_string(&state).map_err(|e| SettleError {
            position: events.last().map_or(Position::START, |e| e.position),
            event: events.last().map(Event::describe).unwrap_or_default(),
            message: format!("cannot store the state of {} `{key}`: {e}", P::NAME),
        })?;
        Ok((key, json))
    }
}

#[async_trait]
impl<P: Process> Projection for ProcessManager<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn version(&self) -> i64 {
        P::VERSION
    }

    fn tables(&self) -> &'static [&'static Table] {
        const { &[&<P::Row as crate::table::Row>::TABLE] }
    }

    async fn load(&mut self, events: &[Event], db: &ReadDb, tables: Tables) -> sqlx::Result<()> {
        self.pending.clear();
        for event in events {
            if let Some(key) = P::key(event) {
                self.states.want(&key);
                self.pending.push((key, event.clone()));
            }
        }
        self.states.load_wanted(db, tables).await
    }

    fn apply(&mut self, _event: &Event) -> Result<(), ApplyError> {
        // The events were taken in `load`; reacting issues commands, so it happens in
        // `settle`.
        Ok(())
    }

    async fn settle(&mut self) -> Result<(), SettleError> {
        let mut instances: Vec<(String, Vec<Event>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (key, event) in self.pending.drain(..) {
            let at = *index.entry(key.clone()).or_insert_with(|| {
                instances.push((key, Vec::new()));
                instances.len() - 1
            });
            instances[at].1.push(event);
        }
        let mut work = Vec::with_capacity(instances.len());
        for (key, events) in instances {
            let state = match self.states.get(&key) {
                Some(row) => serde_json::from_str(row.state()).map_err(|e| SettleError {
                    position: events[0].position,
                    event: events[0].describe(),
                    message: format!("the stored state of {} `{key}` is unreadable: {e}", P::NAME),
                })?,
                None => P::State::default(),
            };
            work.push((key, state, events));
        }
        let issuer = &self.issuer;
        let results: Vec<Result<(String, String), SettleError>> = futures_util::stream::iter(work)
            .map(|(key, state, events)| Self::run_instance(issuer, key, state, events))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut first_failure: Option<SettleError> = None;
        for result in results {
            match result {
                Ok((key, state)) => self.states.put(P::Row::new(key, state)),
                Err(error) => {
                    if first_failure
                        .as_ref()
                        .is_none_or(|first| error.position < first.position)
                    {
                        first_failure = Some(error);
                    }
                }
            }
        }
        match first_failure {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn issues_commands(&self) -> bool {
        true
    }

    fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        self.states.drain_into(&mut changes);
        changes
    }

    fn kept(&self) -> usize {
        self.states.len()
    }

    fn forget(&mut self) {
        self.states.clear();
        self.pending.clear();
    }
}

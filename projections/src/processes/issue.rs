//! How a process manager's commands reach the aggregates: through the same executors as the
//! command API, as the process's `system` actor, under an idempotency key derived from the
//! causing event that never expires, with the causing command's correlation id and the causing
//! event as their cause.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::Issued;
use domain::delivery::{Delivery, DeliveryError};
use domain::order::{Order, OrderError};
use domain::process::{Cause, ProcessCommand, Target};
use domain::stock::{StockError, StockItem};
use event_schemas::values::{Actor, ActorId, StockItemId};
use event_schemas::{DeliveryEvent, OrderEvent, StockEvent};
use event_store::{
    CommandContext, CommitPoint, ExecuteError, Executed, Executor, IdempotencyClaim, StoreError,
};
use executors::Executors;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What an issued command did: the executor's answer, by the aggregate it was addressed to.
#[derive(Debug)]
pub enum Outcome {
    /// A stock item's answer.
    Stock(Result<Executed<StockEvent>, ExecuteError<StockError>>),
    /// An order's answer.
    Order(Result<Executed<OrderEvent>, ExecuteError<OrderError>>),
    /// A delivery's answer.
    Delivery(Result<Executed<DeliveryEvent>, ExecuteError<DeliveryError>>),
}

impl Outcome {
    /// Why the command was not carried out, if it was not.
    pub fn error(&self) -> Option<String> {
        match self {
            Self::Stock(Err(e)) => Some(e.to_string()),
            Self::Order(Err(e)) => Some(e.to_string()),
            Self::Delivery(Err(e)) => Some(e.to_string()),
            _ => None,
        }
    }
}

/// The causing event: its ids, which its effects carry in their metadata, and its time, at
/// which they are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Causes {
    /// The causing event's id: the effects' causation id.
    pub event_id: Uuid,
    /// The causing command's correlation id, which the effects share.
    pub correlation_id: Uuid,
    /// When the causing event was recorded.
    pub at: DateTime<Utc>,
}

impl Causes {
    /// The cause as a process decision takes it.
    pub fn cause(&self) -> Cause {
        Cause {
            event_id: self.event_id,
            at: self.at,
        }
    }
}

/// Issues one process manager's commands.
#[derive(Clone)]
pub struct Issuer {
    executors: Executors,
    actor: Actor,
}

impl Issuer {
    /// The issuer of process `process` (its system actor's name) through `executors`.
    pub fn new(executors: Executors, process: &str) -> Self {
        Self {
            executors,
            actor: Actor::system(process),
        }
    }

    /// The owner of stock item `stock_item_id` (`None`: no such item).
    pub async fn owner_of(
        &self,
        stock_item_id: StockItemId,
    ) -> Result<Option<ActorId>, StoreError> {
        let loaded = self
            .executors
            .stock
            .load(&stock_item_id.to_string())
            .await?;
        Ok(loaded.state.owner().cloned())
    }

    /// Executes `command`, caused by the event with ids `causes`.
    pub async fn issue(&self, command: &ProcessCommand, causes: Causes) -> Outcome {
        match &command.target {
            Target::Stock {
                stock_item_id,
                command: inner,
            } => Outcome::Stock(
                self.execute::<StockItem, _>(
                    &self.executors.stock,
                    &stock_item_id.to_string(),
                    inner.name(),
                    command,
                    inner.clone(),
                    causes,
                )
                .await,
            ),
            Target::Order {
                order_id,
                command: inner,
            } => Outcome::Order(
                self.execute::<Order, _>(
                    &self.executors.orders,
                    &order_id.to_string(),
                    inner.name(),
                    command,
                    inner.clone(),
                    causes,
                )
                .await,
            ),
            Target::Delivery {
                delivery_id,
                command: inner,
            } => Outcome::Delivery(
                self.execute::<Delivery, _>(
                    &self.executors.deliveries,
                    &delivery_id.to_string(),
                    inner.name(),
                    command,
                    inner.clone(),
                    causes,
                )
                .await,
            ),
        }
    }

    async fn execute<A, C>(
        &self,
        executor: &Executor<A>,
        aggregate_id: &str,
        name: &str,
        command: &ProcessCommand,
        inner: C,
        causes: Causes,
    ) -> Result<Executed<A::Event>, ExecuteError<A::Error>>
    where
        A: Aggregate<Command = Issued<C>>
            + serde::Serialize
            + serde::de::DeserializeOwned
            + 'static,
        A::Error: domain::Refusal + serde::Serialize + serde::de::DeserializeOwned,
        C: Clone + Send + Sync,
    {
        let context = CommandContext {
            actor: self.actor.clone(),
            command: name.to_owned(),
            request_id: command.id.to_string(),
            correlation_id: causes.correlation_id,
            causation_id: causes.event_id,
            idempotency: Some(claim(&self.actor, A::TYPE, aggregate_id, name, command.id)),
            expected_version: None,
            commit_point: CommitPoint::new(),
        };
        let issued = Issued::new(self.actor.clone(), command.at, inner);
        executor.execute(aggregate_id, issued, &context).await
    }
}

/// The command's idempotency claim: its key, scoped to the system actor (whose `sub` no token
/// may carry), never expires, so a process replayed after any outage issues nothing twice.
fn claim(
    actor: &Actor,
    aggregate_type: &str,
    aggregate_id: &str,
    command: &str,
    id: Uuid,
) -> IdempotencyClaim {
    let mut hasher = Sha256::new();
    for part in [aggregate_type, aggregate_id, command] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    IdempotencyClaim {
        key: format!("{}\n{id}", actor.sub),
        fingerprint: hex::encode(hasher.finalize()),
        ttl: None,
    }
}

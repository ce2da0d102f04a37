//! What the tests write: raw events with their metadata, appends that keep a stream's version
//! and hash chain, and stock items driven through the executor.

use std::ops::RangeInclusive;

use chrono::Utc;
use domain::Issued;
use domain::stock::{RegisterStockItem, StockCommand, StockItem};
use domain::values::{
    Actor, ActorId, Category, Cents, PositiveQuantity, ProductName, QualityGrade, Quantity,
    QuantityDelta, Reason, Role, StockItemId, Unit,
};
use event_schemas::{ChainHash, EventMetadata};
use event_store::{
    AppendRequest, Appended, CommandContext, CommitPoint, EventStore, Executed, Executor,
    IdempotencyClaim, NewEvent, StoreError, StreamId,
};
use serde_json::json;
use uuid::Uuid;

// ---- raw events ------------------------------------------------------------------------------

/// A stream no other test writes to.
pub fn new_stream() -> StreamId {
    StreamId::new("probe", Uuid::now_v7().to_string())
}

/// Metadata as a command would record it (the store fills in both hashes).
pub fn metadata(command: &str) -> EventMetadata {
    EventMetadata {
        event_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: Uuid::now_v7(),
        actor: Actor::new(ActorId::parse("conformance").unwrap(), Role::Admin),
        command: command.to_owned(),
        idempotency_key: None,
        request_id: "conformance-request".to_owned(),
        recorded_at: Utc::now(),
        prev_hash: ChainHash::GENESIS,
        hash: ChainHash::GENESIS,
    }
}

/// Event number `n` of writer `writer`: a `Probed` event whose payload says both.
pub fn probe_from(writer: u64, n: u64) -> NewEvent {
    NewEvent {
        event_type: "Probed".to_owned(),
        event_version: "1.0.0".to_owned(),
        payload: json!({ "Probed": { "writer": writer, "n": n, "note": "naïve café, \"quoted\"" } }),
        metadata: metadata("Probe"),
    }
}

/// Event number `n` of the test's only writer.
pub fn probe(n: u64) -> NewEvent {
    probe_from(0, n)
}

/// Events numbered `range`.
pub fn probes(range: RangeInclusive<u64>) -> Vec<NewEvent> {
    range.map(probe).collect()
}

/// An idempotency claim.
pub fn claim(key: &str, fingerprint: &str) -> Option<IdempotencyClaim> {
    Some(IdempotencyClaim {
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        ttl: None,
    })
}

/// Appends to one stream the way the executor does: at the version it last saw, chained to
/// the hash it last saw.
pub struct StreamWriter {
    /// The stream written to.
    pub stream: StreamId,
    /// Its version as this writer last saw it.
    pub version: u64,
    /// The hash of its last event as this writer last saw it.
    pub last_hash: ChainHash,
}

impl StreamWriter {
    /// A writer of a stream that does not exist yet.
    pub fn new(stream: StreamId) -> Self {
        Self {
            stream,
            version: 0,
            last_hash: ChainHash::GENESIS,
        }
    }

    /// An append of `events` at this writer's version and hash.
    pub fn request(&self, events: Vec<NewEvent>) -> AppendRequest {
        AppendRequest {
            stream: self.stream.clone(),
            expected_version: self.version,
            prev_hash: self.last_hash,
            events,
            idempotency: None,
        }
    }

    /// Sends `request`, following the stream when it is appended.
    pub async fn send(
        &mut self,
        store: &EventStore,
        request: AppendRequest,
    ) -> Result<Appended, StoreError> {
        let appended = store.append(request).await?;
        if !appended.replayed {
            self.version = appended.version;
            self.last_hash = appended.last_hash;
        }
        Ok(appended)
    }

    /// Appends `events`, which must succeed.
    pub async fn append(&mut self, store: &EventStore, events: Vec<NewEvent>) -> Appended {
        let request = self.request(events);
        self.send(store, request).await.expect("append")
    }
}

// ---- stock items through the executor ----------------------------------------------------------

/// The farmer who owns the test's stock items.
pub fn farmer() -> Actor {
    Actor::new(ActorId::parse("farmer-1").unwrap(), Role::Farmer)
}

/// A farmer who owns none of them.
pub fn other_farmer() -> Actor {
    Actor::new(ActorId::parse("farmer-2").unwrap(), Role::Farmer)
}

/// An administrator.
pub fn admin() -> Actor {
    Actor::new(ActorId::parse("admin-1").unwrap(), Role::Admin)
}

/// A command context for `actor` issuing `command`, with fresh ids.
pub fn context(actor: &Actor, command: &str) -> CommandContext {
    CommandContext {
        actor: actor.clone(),
        command: command.to_owned(),
        request_id: format!("request-{}", Uuid::now_v7().simple()),
        correlation_id: Uuid::now_v7(),
        causation_id: Uuid::now_v7(),
        idempotency: None,
        expected_version: None,
        commit_point: CommitPoint::new(),
    }
}

/// The context of an issued stock command.
pub fn context_for(issued: &Issued<StockCommand>) -> CommandContext {
    context(&issued.by, issued.command.name())
}

/// An id for a new stock item.
pub fn new_stock_item_id() -> String {
    Uuid::now_v7().to_string()
}

/// Registers stock item `id` with `initial` units on hand and never low (threshold 0).
pub fn register(id: &str, by: &Actor, initial: u64) -> Issued<StockCommand> {
    issue(
        by,
        StockCommand::RegisterStockItem(RegisterStockItem {
            stock_item_id: StockItemId::from_uuid(id.parse().unwrap()),
            farmer_id: None,
            product_name: ProductName::parse("Heirloom tomatoes").unwrap(),
            category: Category::Vegetables,
            unit: Unit::Kg,
            unit_price_cents: Cents::new(250).unwrap(),
            quality_grade: QualityGrade::A,
            harvest_date: None,
            certifications: Vec::new(),
            low_stock_threshold: Quantity::new(0).unwrap(),
            initial_quantity: Quantity::new(initial).unwrap(),
        }),
    )
}

/// Receives `quantity` units.
pub fn receive(by: &Actor, quantity: u64) -> Issued<StockCommand> {
    issue(
        by,
        StockCommand::ReceiveStock {
            quantity: PositiveQuantity::new(quantity).unwrap(),
            purchase_id: None,
        },
    )
}

/// Corrects on hand by `delta`.
pub fn adjust(by: &Actor, delta: i64) -> Issued<StockCommand> {
    issue(
        by,
        StockCommand::AdjustStock {
            delta: QuantityDelta::new(delta).unwrap(),
            reason: Reason::parse("stock count").unwrap(),
        },
    )
}

/// Sets the unit price.
pub fn change_price(by: &Actor, cents: u64) -> Issued<StockCommand> {
    issue(
        by,
        StockCommand::ChangePrice {
            unit_price_cents: Cents::new(cents).unwrap(),
        },
    )
}

fn issue(by: &Actor, command: StockCommand) -> Issued<StockCommand> {
    Issued::new(by.clone(), Utc::now(), command)
}

/// Executes `command` on stock item `id`, which must succeed.
pub async fn execute(
    executor: &Executor<StockItem>,
    id: &str,
    command: Issued<StockCommand>,
) -> Executed<event_schemas::StockEvent> {
    let context = context_for(&command);
    executor
        .execute(id, command, &context)
        .await
        .expect("the command succeeds")
}

/// Registers a new stock item of `by` with `initial` units on hand; returns its id.
pub async fn register_stock_item(
    executor: &Executor<StockItem>,
    by: &Actor,
    initial: u64,
) -> String {
    let id = new_stock_item_id();
    let executed = execute(executor, &id, register(&id, by, initial)).await;
    assert_eq!(executed.version, 1);
    id
}

/// Units on hand of a stock item.
pub fn on_hand(item: &StockItem) -> u64 {
    item.levels().on_hand.into()
}

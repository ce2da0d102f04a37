//! The schema: every query root, with the read models' database and the caller as data.

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, MergedObject, Schema};
use event_store::EventStore;
use projections::ReadDb;

use crate::audit::AuditQuery;
use crate::consistency::Checkpoints;
use crate::deliveries::DeliveriesQuery;
use crate::events::EventsQuery;
use crate::feed::LogFeed;
use crate::inspections::InspectionsQuery;
use crate::limits::QueryLimits;
use crate::loaders::{Compliances, Deliveries, Timelines, Violations};
use crate::orders::OrdersQuery;
use crate::purchases::PurchasesQuery;
use crate::reports::ReportsQuery;
use crate::stock::StockQuery;
use crate::subscriptions::SubscriptionRoot;

/// Every query root of API.md.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    OrdersQuery,
    StockQuery,
    DeliveriesQuery,
    PurchasesQuery,
    InspectionsQuery,
    ReportsQuery,
    AuditQuery,
    EventsQuery,
);

/// The query API's schema.
pub type QuerySchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

/// The most nested selections a query may have.
const MAX_DEPTH: usize = 10;

/// The most fields a query may select, counting each list's page size.
const MAX_COMPLEXITY: usize = 5_000;

/// The schema over the read models in `db` and the log in `store`; each request adds its
/// [`crate::Viewer`]. Starts the read models' checkpoint watcher and the subscriptions' feed
/// of the log on the current runtime.
pub fn build_schema(store: EventStore, db: ReadDb) -> QuerySchema {
    Schema::build(QueryRoot::default(), EmptyMutation, SubscriptionRoot)
        .data(Checkpoints::watch(db.clone()))
        .data(LogFeed::start(store.clone()))
        // Shared by every request: loads that arrive together batch together; nothing is
        // cached, so no answer is older than its query.
        .data(DataLoader::new(Timelines(db.clone()), tokio::spawn))
        .data(DataLoader::new(Deliveries(db.clone()), tokio::spawn))
        .data(DataLoader::new(Compliances(db.clone()), tokio::spawn))
        .data(DataLoader::new(Violations(db.clone()), tokio::spawn))
        .data(db)
        .data(store)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(QueryLimits)
        .finish()
}

/// The schema's SDL, for client tooling (`supplyline schemas export`).
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), EmptyMutation, SubscriptionRoot)
        .finish()
        .sdl()
}

//! The schema: every query root, with the read models' database and the caller as data.

use std::any::Any;
use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{
    Data, EmptyMutation, Executor, MergedObject, Request, Response, Schema, ValidationMode,
};
use event_store::EventStore;
use futures_util::stream::{self, BoxStream, StreamExt};
use projections::ReadDb;

use crate::audit::AuditQuery;
use crate::consistency::Checkpoints;
use crate::deliveries::DeliveriesQuery;
use crate::events::EventsQuery;
use crate::feed::LogFeed;
use crate::inspections::InspectionsQuery;
use crate::limits;
use crate::loaders::{Compliances, Deliveries, Timelines, Violations};
use crate::orders::OrdersQuery;
use crate::parsed::{ParsedQueries, Seen};
use crate::purchases::PurchasesQuery;
use crate::reports::ReportsQuery;
use crate::stock::StockQuery;
use crate::subscriptions::SubscriptionRoot;
use crate::tlog::TransparencyQuery;

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
    TransparencyQuery,
);

/// The engine's schema, without the query limits.
type Engine = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

/// The query API's schema: every request and subscription is checked against the query
/// limits before it runs, and every error in its answers carries a code.
#[derive(Clone)]
pub struct QuerySchema {
    /// Validates every rule.
    engine: Engine,
    /// The same schema over the same data, validating only what a document's variables can
    /// change (the depth and complexity limits): it runs the texts `engine` ran without errors.
    validated: Engine,
    /// The documents of the query texts seen last.
    parsed: Arc<ParsedQueries>,
}

impl QuerySchema {
    /// Runs a query.
    pub async fn execute(&self, request: impl Into<Request>) -> Response {
        let mut request = request.into();
        match limits::check(&mut request, &self.parsed) {
            Err(refused) => Response::from_errors(vec![refused]),
            Ok(Seen::Validated) => limits::coded_response(self.validated.execute(request).await),
            Ok(Seen::Unvalidated) => {
                let text = request.query.clone();
                let response = self.engine.execute(request).await;
                if response.errors.is_empty() {
                    self.parsed.validated(&text);
                }
                limits::coded_response(response)
            }
        }
    }

    /// What the schema holds of type `D` (see [`build_schema`]).
    pub fn data<D: Any + Send + Sync>(&self) -> Option<&D> {
        self.engine.data::<D>()
    }
}

impl Executor for QuerySchema {
    async fn execute(&self, request: Request) -> Response {
        QuerySchema::execute(self, request).await
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        if let Err(refused) = limits::check(&mut request, &self.parsed) {
            return stream::once(async move { Response::from_errors(vec![refused]) }).boxed();
        }
        // Validated in full every time: a subscription is asked for once and runs long.
        Executor::execute_stream(&self.engine, request, session_data)
            .map(limits::coded_response)
            .boxed()
    }
}

/// The most nested selections a query may have.
const MAX_DEPTH: usize = 10;

/// The most fields a query may select, counting each list's page size.
const MAX_COMPLEXITY: usize = 5_000;

/// The schema over the read models in `db` and the log in `store`; each request adds its
/// [`crate::Viewer`]. Starts the read models' checkpoint watcher and the subscriptions' feed
/// of the log on the current runtime.
pub fn build_schema(store: EventStore, db: ReadDb) -> QuerySchema {
    let shared = Shared {
        checkpoints: Checkpoints::watch(db.clone()),
        feed: LogFeed::start(store.clone()),
        auditor: transparency::Auditor::new(store.clone(), db.clone()),
        db,
        store,
    };
    QuerySchema {
        engine: engine(&shared, ValidationMode::Strict),
        validated: engine(&shared, ValidationMode::Fast),
        parsed: Arc::new(ParsedQueries::new()),
    }
}

/// What both engines of a schema hold alike.
struct Shared {
    checkpoints: Checkpoints,
    feed: LogFeed,
    auditor: transparency::Auditor,
    db: ReadDb,
    store: EventStore,
}

/// An engine over `shared`, validating requests as `mode` says.
fn engine(shared: &Shared, mode: ValidationMode) -> Engine {
    let db = &shared.db;
    Schema::build(QueryRoot::default(), EmptyMutation, SubscriptionRoot)
        .data(shared.checkpoints.clone())
        .data(shared.feed.clone())
        // Shared by every request of the engine: loads that arrive together batch together;
        // nothing is cached, so no answer is older than its query.
        .data(DataLoader::new(Timelines(db.clone()), tokio::spawn))
        .data(DataLoader::new(Deliveries(db.clone()), tokio::spawn))
        .data(DataLoader::new(Compliances(db.clone()), tokio::spawn))
        .data(DataLoader::new(Violations(db.clone()), tokio::spawn))
        .data(shared.auditor.clone())
        .data(db.clone())
        .data(shared.store.clone())
        .validation_mode(mode)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema's SDL, for client tooling (`supplyline schemas export`).
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), EmptyMutation, SubscriptionRoot)
        .finish()
        .sdl()
}

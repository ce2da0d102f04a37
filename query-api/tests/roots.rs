//! The roots built so far, through `schema.execute`, on SQLite and PostgreSQL: answers, paging
//! to the end, and every role rule refused with its code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use async_graphql::Request;
use chrono::Utc;
use domain::Issued;
use domain::order::{OrderCommand, PlaceOrder};
use domain::stock::{RegisterStockItem, StockCommand};
use event_schemas::OrderLine;
use event_schemas::values::{
    Actor, ActorId, Address, AddressParts, Category, Cents, OrderId, PositiveQuantity, ProductName,
    QualityGrade, Quantity, Role, StockItemId, Unit,
};
use event_store::{CommandContext, EventStore, ScratchDatabase};
use executors::{ExecutorSettings, Executors};
use projections::models::orders;
use projections::{ReadDb, Runtime, RuntimeSettings, models, processes, status};
use query_api::{QuerySchema, Viewer, build_schema};
use serde_json::{Value, json};
use transparency::{TreeSettings, TreeWorker};
use transparency_log::{
    Hash, SigningKey, VerifierKey, leaf_hash, verify_consistency, verify_inclusion,
};
use uuid::Uuid;

struct Env {
    schema: QuerySchema,
    store: EventStore,
    runtime: Runtime,
    db: ReadDb,
    items: Vec<String>,
    bistro_order: String,
    cafe_order: String,
    _dir: Option<tempfile::TempDir>,
    scratch: Option<ScratchDatabase>,
}

fn actor(sub: &str, role: Role) -> Actor {
    Actor::new(ActorId::parse(sub).unwrap(), role)
}

async fn register(executors: &Executors, farmer: &str, name: &str) -> String {
    let id = Uuid::now_v7();
    let by = actor(farmer, Role::Farmer);
    let command = StockCommand::RegisterStockItem(RegisterStockItem {
        stock_item_id: StockItemId::from_uuid(id),
        farmer_id: None,
        product_name: ProductName::parse(name).unwrap(),
        category: Category::Vegetables,
        unit: Unit::Kg,
        unit_price_cents: Cents::new(300).unwrap(),
        quality_grade: QualityGrade::A,
        harvest_date: None,
        certifications: Vec::new(),
        low_stock_threshold: Quantity::new(1).unwrap(),
        initial_quantity: Quantity::new(50).unwrap(),
    });
    let context = CommandContext::new(by.clone(), "RegisterStockItem");
    executors
        .stock
        .execute(
            &id.to_string(),
            Issued::new(by, Utc::now(), command),
            &context,
        )
        .await
        .unwrap();
    id.to_string()
}

async fn place(executors: &Executors, restaurant: &str, item: &str) -> String {
    let id = Uuid::now_v7();
    let by = actor(restaurant, Role::Restaurant);
    let command = OrderCommand::PlaceOrder(PlaceOrder {
        order_id: OrderId::from_uuid(id),
        customer_id: None,
        farmer_id: ActorId::parse("farmer-ana").unwrap(),
        lines: vec![OrderLine {
            stock_item_id: item.parse().unwrap(),
            quantity: PositiveQuantity::new(2).unwrap(),
        }],
        delivery_address: Address::parse(AddressParts {
            line1: "12 Market Street".into(),
            line2: None,
            city: "Paris".into(),
            postal_code: "75011".into(),
            country: "FR".into(),
        })
        .unwrap(),
        requested_delivery_date: None,
        notes: None,
    });
    let context = CommandContext::new(by.clone(), "PlaceOrder");
    executors
        .orders
        .execute(
            &id.to_string(),
            Issued::new(by, Utc::now(), command),
            &context,
        )
        .await
        .unwrap();
    id.to_string()
}

impl Env {
    async fn new(postgres: bool) -> Option<Self> {
        let (url, dir, scratch) = if postgres {
            let Ok(admin) = std::env::var("DATABASE_URL") else {
                eprintln!("SKIPPED: DATABASE_URL is not set; this PostgreSQL test did not run");
                return None;
            };
            let scratch = ScratchDatabase::create(&admin, "query_test").await.unwrap();
            (scratch.url().to_owned(), None, Some(scratch))
        } else {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("log.db").display());
            (url, Some(dir), None)
        };
        let store = EventStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let db = ReadDb::open(&store, 4).await.unwrap();
        let executors = Executors::new(store.clone(), ExecutorSettings::default());
        let mut workers = models::all();
        workers.extend(processes::all(&executors));
        let settings = RuntimeSettings {
            poll_interval: Duration::from_millis(20),
            ..RuntimeSettings::default()
        };
        let runtime = Runtime::start(store.clone(), db.clone(), workers, settings)
            .await
            .unwrap();
        let items = vec![
            register(&executors, "farmer-ana", "Kale").await,
            register(&executors, "farmer-ana", "Leeks").await,
            register(&executors, "farmer-bob", "Plums").await,
        ];
        let bistro_order = place(&executors, "bistro", &items[0]).await;
        let cafe_order = place(&executors, "cafe", &items[1]).await;
        // Both orders confirmed, then every read model as far as the log is now: each
        // projector goes at its own pace (CI once saw the stock items lag the orders).
        let deadline = Instant::now() + Duration::from_secs(30);
        for order in [&bistro_order, &cafe_order] {
            while orders::order(&db, order)
                .await
                .unwrap()
                .is_none_or(|row| row.status != "CONFIRMED")
            {
                assert!(Instant::now() < deadline, "order {order} never confirmed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let head = store.head().await.unwrap().readable.unwrap();
        for model in models::all() {
            while status::checkpoint(&db, model.name())
                .await
                .unwrap()
                .0
                .position
                < head
            {
                assert!(
                    Instant::now() < deadline,
                    "{} never caught up",
                    model.name()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Some(Self {
            schema: build_schema(store.clone(), db.clone()),
            store,
            runtime,
            db,
            items,
            bistro_order,
            cafe_order,
            _dir: dir,
            scratch,
        })
    }

    async fn finish(self) {
        self.runtime.stop().await;
        self.db.close().await;
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await.unwrap();
        }
    }

    /// The answer's error messages (none when it succeeded).
    async fn refusals(&self, viewer: Viewer, query: &str) -> Vec<String> {
        let response = self.schema.execute(Request::new(query).data(viewer)).await;
        response.errors.into_iter().map(|e| e.message).collect()
    }

    /// The answer's data, or its errors' codes.
    async fn ask(&self, viewer: Viewer, query: &str) -> Result<Value, Vec<String>> {
        self.ask_with(viewer, query, json!({})).await
    }

    /// [`Env::ask`] with `variables`.
    async fn ask_with(
        &self,
        viewer: Viewer,
        query: &str,
        variables: Value,
    ) -> Result<Value, Vec<String>> {
        let request = Request::new(query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(viewer);
        let response = self.schema.execute(request).await;
        if response.errors.is_empty() {
            return Ok(response.data.into_json().unwrap());
        }
        Err(response
            .errors
            .iter()
            .map(|e| {
                e.extensions
                    .as_ref()
                    .and_then(|x| x.get("code"))
                    .map_or("NO CODE".to_owned(), |c| {
                        c.to_string().trim_matches('"').to_owned()
                    })
            })
            .collect())
    }
}

fn as_(sub: &str, role: Role) -> Viewer {
    Viewer::actor(actor(sub, role))
}

async fn roots_answer_page_and_refuse(env: &Env) {
    // The catalogue: every role reads it; paged to the end.
    let first = env
        .ask(
            as_("bistro", Role::Restaurant),
            "{ stockItems(first: 2) { totalCount pageInfo { hasNextPage endCursor } \
               edges { node { id productName farmerId available } } } }",
        )
        .await
        .unwrap();
    assert_eq!(first["stockItems"]["totalCount"], 3);
    assert_eq!(first["stockItems"]["pageInfo"]["hasNextPage"], true);
    let cursor = first["stockItems"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap();
    let rest = env
        .ask(
            as_("bistro", Role::Restaurant),
            &format!(
                "{{ stockItems(first: 2, after: \"{cursor}\") {{ pageInfo {{ hasNextPage }} \
                   edges {{ node {{ id }} }} }} }}"
            ),
        )
        .await
        .unwrap();
    assert_eq!(rest["stockItems"]["pageInfo"]["hasNextPage"], false);
    let mut seen: Vec<String> = first["stockItems"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["stockItems"]["edges"].as_array().unwrap())
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    let mut items = env.items.clone();
    items.sort();
    assert_eq!(seen, items);
    let kale = env
        .ask(
            as_("driver-dan", Role::Distributor),
            &format!(
                "{{ stockItem(id: \"{}\") {{ productName available reserved }} }}",
                env.items[0]
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        kale["stockItem"],
        json!({"productName": "Kale", "available": 48, "reserved": 2})
    );
    let filtered = env
        .ask(
            as_("bistro", Role::Restaurant),
            "{ stockItems(filter: {farmerId: \"farmer-bob\"}) { totalCount } }",
        )
        .await
        .unwrap();
    assert_eq!(filtered["stockItems"]["totalCount"], 1);

    // Orders: a restaurant sees its own, a farmer those placed with it, an admin all.
    let orders_of = |who: Viewer| {
        let query = "{ orders { totalCount edges { node { id status customerId totalCents \
                     lines { stockItemId quantity unitPriceCents } timeline { status } } } } }";
        async move { env.ask(who, query).await }
    };
    let bistro = orders_of(as_("bistro", Role::Restaurant)).await.unwrap();
    assert_eq!(bistro["orders"]["totalCount"], 1);
    let node = &bistro["orders"]["edges"][0]["node"];
    assert_eq!(node["id"], env.bistro_order.as_str());
    assert_eq!(node["status"], "CONFIRMED");
    assert_eq!(node["totalCents"], 600);
    assert_eq!(node["lines"][0]["unitPriceCents"], 300);
    assert_eq!(node["timeline"][0]["status"], "PENDING");
    let ana = orders_of(as_("farmer-ana", Role::Farmer)).await.unwrap();
    assert_eq!(ana["orders"]["totalCount"], 2);
    let bob = orders_of(as_("farmer-bob", Role::Farmer)).await.unwrap();
    assert_eq!(bob["orders"]["totalCount"], 0);
    let admin = orders_of(as_("admin-amy", Role::Admin)).await.unwrap();
    assert_eq!(admin["orders"]["totalCount"], 2);
    let confirmed = env
        .ask(
            as_("auditor-al", Role::Auditor),
            "{ orders(filter: {status: CONFIRMED}) { totalCount } }",
        )
        .await
        .unwrap();
    assert_eq!(confirmed["orders"]["totalCount"], 2);

    // Refusals carry their code; none is an empty answer.
    let forbidden = |errors: Result<Value, Vec<String>>| {
        assert_eq!(errors.unwrap_err(), ["FORBIDDEN"]);
    };
    forbidden(
        env.ask(
            as_("bistro", Role::Restaurant),
            &format!("{{ order(id: \"{}\") {{ id }} }}", env.cafe_order),
        )
        .await,
    );
    forbidden(
        env.ask(
            as_("bistro", Role::Restaurant),
            "{ orders(filter: {customerId: \"cafe\"}) { totalCount } }",
        )
        .await,
    );
    forbidden(orders_of(as_("driver-dan", Role::Distributor)).await);
    forbidden(orders_of(as_("inspector-ines", Role::Inspector)).await);
    assert_eq!(
        orders_of(Viewer::anonymous("no token")).await.unwrap_err(),
        ["UNAUTHENTICATED"]
    );
    assert_eq!(
        env.ask(
            Viewer::anonymous("no token"),
            "{ stockItems { totalCount } }"
        )
        .await
        .unwrap_err(),
        ["UNAUTHENTICATED"]
    );
    assert_eq!(
        env.ask(
            as_("bistro", Role::Restaurant),
            "{ stockItems(first: 1000) { totalCount } }"
        )
        .await
        .unwrap_err(),
        ["BAD_USER_INPUT"]
    );
    assert_eq!(
        env.ask(
            as_("bistro", Role::Restaurant),
            "{ stockItems(after: \"not a cursor\") { totalCount } }"
        )
        .await
        .unwrap_err(),
        ["BAD_USER_INPUT"]
    );
    let own = env
        .ask(
            as_("bistro", Role::Restaurant),
            &format!("{{ order(id: \"{}\") {{ customerId }} }}", env.bistro_order),
        )
        .await
        .unwrap();
    assert_eq!(own["order"]["customerId"], "bistro");

    // Reports: analysts read them; a farmer its own sales only; a restaurant nothing.
    // A day either side, so a run across midnight still holds both orders.
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
    let sales = format!(
        "{{ salesReport(from: \"{from}\", to: \"{to}\", groupBy: FARMER) \
           {{ key orders quantity revenueCents }} }}"
    );
    let analyst = env.ask(as_("ann", Role::Analyst), &sales).await.unwrap();
    assert_eq!(
        analyst["salesReport"],
        json!([{"key": "farmer-ana", "orders": 2, "quantity": 4, "revenueCents": 1200}])
    );
    let bob = env
        .ask(as_("farmer-bob", Role::Farmer), &sales)
        .await
        .unwrap();
    assert_eq!(bob["salesReport"], json!([]));
    assert_eq!(
        env.ask(as_("bistro", Role::Restaurant), &sales)
            .await
            .unwrap_err(),
        ["FORBIDDEN"]
    );
    let inventory = env
        .ask(
            as_("ann", Role::Analyst),
            "{ inventoryReport { category items onHand reserved available } }",
        )
        .await
        .unwrap();
    assert_eq!(
        inventory["inventoryReport"],
        json!([{"category": "vegetables", "items": 3, "onHand": 150, "reserved": 4,
                "available": 146}])
    );
    let states = env
        .ask(
            as_("admin-amy", Role::Admin),
            "{ projections { name status lag } }",
        )
        .await
        .unwrap();
    let names: Vec<&str> = states["projections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"orders") && names.contains(&"order-process"),
        "{names:?}"
    );
    assert_eq!(
        env.ask(as_("farmer-ana", Role::Farmer), "{ projections { name } }")
            .await
            .unwrap_err(),
        ["FORBIDDEN"]
    );

    // Abusive queries are refused before they run, with a message saying why.
    let admin = || as_("admin-amy", Role::Admin);
    let mut deep = String::from("name");
    for _ in 0..12 {
        deep = format!("ofType {{ {deep} }}");
    }
    let refused = env
        .refusals(
            admin(),
            &format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}"),
        )
        .await;
    assert!(
        refused.iter().any(|m| m.contains("too deep")),
        "{refused:?}"
    );
    let rich = "orders(first: 100) { edges { node { id status customerId farmerId totalCents \
                placedAt updatedAt version lines { stockItemId productName quantity \
                unitPriceCents } timeline { status at note } } } }";
    assert!(
        env.refusals(admin(), &format!("{{ {rich} }}"))
            .await
            .is_empty()
    );
    let refused = env
        .refusals(admin(), &format!("{{ a: {rich} b: {rich} c: {rich} }}"))
        .await;
    assert!(
        refused.iter().any(|m| m.contains("too complex")),
        "{refused:?}"
    );
    let many: String = (0..=query_api::MAX_ALIASES)
        .map(|n| format!("a{n}: stockItems(first: 1) {{ totalCount }} "))
        .collect();
    let refused = env.refusals(admin(), &format!("{{ {many} }}")).await;
    assert!(refused.iter().any(|m| m.contains("aliases")), "{refused:?}");
    hostile_queries_are_refused_with_a_code(env).await;

    // Audit: a stream's history, its state at a past version (equal to the aggregate's state
    // replayed to that version), and its hash chain; for auditors and admins only.
    let order = &env.bistro_order;
    let history = env
        .ask(
            as_("auditor-al", Role::Auditor),
            &format!(
                "{{ aggregateHistory(type: \"order\", id: \"{order}\") \
                   {{ sequence eventType metadata }} }}"
            ),
        )
        .await
        .unwrap();
    let types: Vec<&str> = history["aggregateHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["OrderPlaced", "OrderConfirmed"]);
    let at_placement = env
        .ask(
            as_("admin-amy", Role::Admin),
            &format!("{{ aggregateState(type: \"order\", id: \"{order}\", atVersion: 1) }}"),
        )
        .await
        .unwrap();
    let replayed = executors::AggregateType::Order
        .replay(&env.store, order, event_store::ReplayUntil::Version(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at_placement["aggregateState"], replayed.state);
    let now = env
        .ask(
            as_("admin-amy", Role::Admin),
            &format!("{{ aggregateState(type: \"order\", id: \"{order}\") }}"),
        )
        .await
        .unwrap();
    assert_ne!(now["aggregateState"], at_placement["aggregateState"]);
    let verified = env
        .ask(
            as_("auditor-al", Role::Auditor),
            &format!(
                "{{ verifyStream(type: \"order\", id: \"{order}\") \
                   {{ ok checked firstBrokenSequence }} }}"
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        verified["verifyStream"],
        json!({"ok": true, "checked": 2, "firstBrokenSequence": null})
    );
    assert_eq!(
        env.ask(
            as_("ann", Role::Analyst),
            &format!("{{ verifyStream(type: \"order\", id: \"{order}\") {{ ok }} }}")
        )
        .await
        .unwrap_err(),
        ["FORBIDDEN"]
    );
    assert_eq!(
        env.ask(
            as_("auditor-al", Role::Auditor),
            "{ aggregateHistory(type: \"tractor\", id: \"x\") { sequence } }"
        )
        .await
        .unwrap_err(),
        ["BAD_USER_INPUT"]
    );
    the_log_pages_by_position_through_each_filter(env).await;
    the_transparency_log_proves_to_auditors_only(env).await;
}

/// The transparency log's roots: null before a checkpoint; then the checkpoint, an event's
/// inclusion proof and a consistency proof, each checked here as an auditor would; refused to
/// other roles and for events or sizes the tree does not hold.
async fn the_transparency_log_proves_to_auditors_only(env: &Env) {
    let auditor = || as_("auditor-al", Role::Auditor);
    let none = env
        .ask(auditor(), "{ checkpoint { treeSize } }")
        .await
        .unwrap();
    assert_eq!(none["checkpoint"], Value::Null);
    let (private, public) = SigningKey::generate("supplyline.test/log").unwrap();
    let worker = || {
        TreeWorker::new(
            env.store.clone(),
            env.db.clone(),
            private.parse().unwrap(),
            TreeSettings::new("supplyline.test/log"),
        )
    };
    let first = worker().catch_up().await.unwrap();
    let executors = Executors::new(env.store.clone(), ExecutorSettings::default());
    place(&executors, "bistro-bob", &env.items[0]).await;
    let size = worker().catch_up().await.unwrap();
    assert!(size > first);

    let answer = env
        .ask(
            auditor(),
            "{ checkpoint { note origin treeSize rootHash } }",
        )
        .await
        .unwrap();
    let key: VerifierKey = public.parse().unwrap();
    let note = answer["checkpoint"]["note"].as_str().unwrap();
    let checkpoint = key.open(note).unwrap();
    assert_eq!(answer["checkpoint"]["treeSize"], size);
    assert_eq!(answer["checkpoint"]["origin"], "supplyline.test/log");
    assert_eq!(
        answer["checkpoint"]["rootHash"],
        checkpoint.root().to_base64()
    );

    let log = env
        .store
        .read_all(event_store::Position::START, u32::MAX)
        .await
        .unwrap();
    let event_id = log[1].metadata["event_id"].as_str().unwrap();
    let proof = env
        .ask(
            as_("admin-amy", Role::Admin),
            &format!(
                "{{ inclusionProof(eventId: \"{event_id}\") \
                   {{ leafIndex treeSize leafInput hashes checkpoint }} }}"
            ),
        )
        .await
        .unwrap();
    let proof = &proof["inclusionProof"];
    assert_eq!(proof["leafIndex"], 1);
    let input = base64_decode(proof["leafInput"].as_str().unwrap());
    let hashes: Vec<Hash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    verify_inclusion(&leaf_hash(&input), 1, size, &hashes, &checkpoint.root()).unwrap();

    let consistency = env
        .ask(
            auditor(),
            &format!(
                "{{ consistencyProof(from: {first}, to: {size}) {{ hashes fromCheckpoint }} }}"
            ),
        )
        .await
        .unwrap();
    let old = key
        .open(
            consistency["consistencyProof"]["fromCheckpoint"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let hashes: Vec<Hash> = consistency["consistencyProof"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    verify_consistency(first, size, &old.root(), &checkpoint.root(), &hashes).unwrap();

    for (viewer, query, code) in [
        (
            as_("farmer-ana", Role::Farmer),
            "{ checkpoint { treeSize } }".to_owned(),
            "FORBIDDEN",
        ),
        (
            Viewer::anonymous("no token"),
            "{ checkpoint { treeSize } }".to_owned(),
            "UNAUTHENTICATED",
        ),
        (
            auditor(),
            "{ inclusionProof(eventId: \"nope\") { leafIndex } }".to_owned(),
            "BAD_USER_INPUT",
        ),
        (
            auditor(),
            format!(
                "{{ consistencyProof(from: 1, to: {}) {{ hashes }} }}",
                size + 1
            ),
            "BAD_USER_INPUT",
        ),
        (
            auditor(),
            format!("{{ consistencyProof(from: {size}, to: 1) {{ hashes }} }}"),
            "BAD_USER_INPUT",
        ),
    ] {
        assert_eq!(
            env.ask(viewer, &query).await.unwrap_err(),
            [code],
            "{query}"
        );
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// What a hostile review found: every refusal has its code, repeated root fields count, NUL
/// is bad input (not an outage), and nobody waits without a token.
async fn hostile_queries_are_refused_with_a_code(env: &Env) {
    let admin = || as_("admin-amy", Role::Admin);
    // The engine's own refusals carry a code too.
    let deep = "{ orders { edges { node { delivery { lastLocation { lat } } } } } }";
    assert!(env.ask(admin(), deep).await.is_ok());
    let mut too_deep = String::from("name");
    for _ in 0..12 {
        too_deep = format!("ofType {{ {too_deep} }}");
    }
    let too_deep = format!("{{ __schema {{ types {{ fields {{ type {{ {too_deep} }} }} }} }} }}");
    assert_eq!(
        env.ask(admin(), &too_deep).await.unwrap_err(),
        ["GRAPHQL_VALIDATION_FAILED"]
    );
    assert_eq!(
        env.ask(admin(), "{ orders { nope } }").await.unwrap_err(),
        ["GRAPHQL_VALIDATION_FAILED"]
    );
    assert_eq!(
        env.ask(admin(), "{ orders(").await.unwrap_err(),
        ["GRAPHQL_PARSE_FAILED"]
    );
    assert_eq!(
        env.ask(admin(), "{ orders(first: 99999999999) { totalCount } }")
            .await
            .unwrap_err(),
        ["GRAPHQL_VALIDATION_FAILED"]
    );
    // The same root field repeated without aliases is as many queries.
    let repeated = "__typename ".repeat(query_api::MAX_ROOT_FIELDS + 1);
    assert_eq!(
        env.ask(admin(), &format!("{{ {repeated} }}"))
            .await
            .unwrap_err(),
        ["GRAPHQL_VALIDATION_FAILED"]
    );
    let counts = "stockItems(first: 0) { totalCount } ".repeat(query_api::MAX_ROOT_FIELDS + 1);
    assert_eq!(
        env.ask(admin(), &format!("{{ {counts} }}"))
            .await
            .unwrap_err(),
        ["GRAPHQL_VALIDATION_FAILED"]
    );
    // A text once answered without errors is no longer validated in full, but what its
    // variables can change still is: each refusal below comes after the text passed.
    let paged = "query($first: Int, $id: ID!) { stockItems(first: $first) { totalCount } \
                 stockItem(id: $id) { id } }";
    let ok = json!({"first": 1, "id": "none"});
    assert!(env.ask_with(admin(), paged, ok.clone()).await.is_ok());
    assert!(env.ask_with(admin(), paged, ok).await.is_ok());
    for (variables, code) in [
        (
            json!({"first": "one", "id": "none"}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (json!({"first": 1}), "BAD_USER_INPUT"),
        (
            json!({"first": 1, "id": {"not": "an id"}}),
            "BAD_USER_INPUT",
        ),
        (json!({"first": 1, "id": "a\u{0}b"}), "BAD_USER_INPUT"),
        (json!({"first": 100_000, "id": "none"}), "BAD_USER_INPUT"),
    ] {
        assert_eq!(
            env.ask_with(admin(), paged, variables.clone())
                .await
                .unwrap_err(),
            [code],
            "{variables}"
        );
    }
    // The same text is still refused to a caller without a token.
    let anonymous = Viewer::anonymous("no Authorization header");
    let ok = json!({"first": 1, "id": "none"});
    assert_eq!(
        env.ask_with(anonymous, paged, ok).await.unwrap_err(),
        ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    );
    // NUL in an id or a filter is bad input on both stores, not a database outage.
    for query in [
        r#"{ order(id: "a\u0000b") { id } }"#,
        r#"{ stockItems(filter: {farmerId: "x\u0000"}) { totalCount } }"#,
        r#"{ events(filter: {actor: "\u0000"}) { totalCount } }"#,
    ] {
        assert_eq!(
            env.ask(admin(), query).await.unwrap_err(),
            ["BAD_USER_INPUT"],
            "{query}"
        );
    }
    // A consistency wait is for authenticated callers only: refused at once, not after 5 s.
    let far = format!("{:040x}", u128::MAX >> 8);
    let anonymous = Viewer::anonymous("no Authorization header");
    let waited = format!("{{ stockItems(consistency: {{atLeast: \"{far}\"}}) {{ totalCount }} }}");
    assert_eq!(
        env.ask(anonymous, &waited).await.unwrap_err(),
        ["UNAUTHENTICATED"]
    );
    // A report from after its end is refused, as the log's `from` after `to` is.
    assert_eq!(
        env.ask(
            admin(),
            r#"{ salesReport(from: "2026-05-02", to: "2026-05-01", groupBy: DAY) { key } }"#
        )
        .await
        .unwrap_err(),
        ["BAD_USER_INPUT"]
    );
}

/// The `events` root: the whole log paged to the end, each filter, a start position, and the
/// refusals.
async fn the_log_pages_by_position_through_each_filter(env: &Env) {
    let log = env
        .store
        .read_all(event_store::Position::START, 10_000)
        .await
        .unwrap();
    let read = |filter: String| async move {
        let mut read = Vec::new();
        let mut after = String::new();
        loop {
            let answer = env
                .ask(
                    as_("auditor-al", Role::Auditor),
                    &format!(
                        "{{ events(filter: {{{filter}}}, first: 3{after}) {{ totalCount \
                           pageInfo {{ hasNextPage endCursor }} \
                           edges {{ node {{ position aggregateId eventType metadata }} }} }} }}"
                    ),
                )
                .await
                .unwrap();
            let events = &answer["events"];
            for edge in events["edges"].as_array().unwrap() {
                read.push(edge["node"].clone());
            }
            assert!(events["edges"].as_array().unwrap().len() <= 3);
            if events["pageInfo"]["hasNextPage"] == json!(false) {
                assert_eq!(events["totalCount"], json!(read.len()), "{filter}");
                return read;
            }
            after = format!(", after: {}", events["pageInfo"]["endCursor"]);
        }
    };
    let positions = |nodes: &[Value]| -> Vec<String> {
        nodes
            .iter()
            .map(|n| n["position"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = read(String::new()).await;
    let expected: Vec<String> = log.iter().map(|e| e.position.token()).collect();
    assert_eq!(positions(&all), expected, "the whole log, in order");

    let placed = read("eventType: \"OrderPlaced\"".into()).await;
    assert!(placed.len() >= 2);
    assert!(placed.iter().all(|e| e["eventType"] == "OrderPlaced"));
    let order = &env.bistro_order;
    let stream = read(format!("aggregateId: \"{order}\"")).await;
    let types: Vec<&str> = stream
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["OrderPlaced", "OrderConfirmed"]);
    let bistro = read("actor: \"bistro\", aggregateType: \"order\"".into()).await;
    let expected: Vec<String> = log
        .iter()
        .filter(|e| e.metadata["actor"]["sub"] == "bistro" && e.stream.aggregate_type == "order")
        .map(|e| e.position.token())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(positions(&bistro), expected);
    let later = read(format!("afterPosition: \"{}\"", expected[0])).await;
    assert_eq!(
        positions(&later),
        positions(&all)[log
            .iter()
            .position(|e| e.position.token() == expected[0])
            .unwrap()
            + 1..]
    );
    let future = read(format!(
        "from: \"{}\"",
        Utc::now() + chrono::Duration::hours(1)
    ))
    .await;
    assert!(future.is_empty());

    for (viewer, query, code) in [
        (
            as_("bistro", Role::Restaurant),
            "{ events { totalCount } }",
            "FORBIDDEN",
        ),
        (
            as_("ann", Role::Analyst),
            "{ events { totalCount } }",
            "FORBIDDEN",
        ),
        (
            as_("auditor-al", Role::Auditor),
            "{ events(filter: {eventType: \"OrderTeleported\"}) { totalCount } }",
            "BAD_USER_INPUT",
        ),
        (
            as_("auditor-al", Role::Auditor),
            "{ events(filter: {afterPosition: \"zz\"}) { totalCount } }",
            "BAD_USER_INPUT",
        ),
        (
            as_("auditor-al", Role::Auditor),
            "{ events(after: \"not-a-token\") { totalCount } }",
            "BAD_USER_INPUT",
        ),
        (
            as_("auditor-al", Role::Auditor),
            "{ events(first: 101) { totalCount } }",
            "BAD_USER_INPUT",
        ),
        (
            as_("auditor-al", Role::Auditor),
            "{ events(filter: {aggregateType: \"tractor\"}) { totalCount } }",
            "BAD_USER_INPUT",
        ),
    ] {
        assert_eq!(env.ask(viewer, query).await.unwrap_err(), [code], "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let env = Env::new(false).await.unwrap();
    roots_answer_page_and_refuse(&env).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let Some(env) = Env::new(true).await else {
        return;
    };
    roots_answer_page_and_refuse(&env).await;
    env.finish().await;
}

/// How many times PostgreSQL has scanned `table` (index or sequential), as its statistics
/// say once every backend has flushed them.
async fn scans(db: &ReadDb, table: &str) -> i64 {
    let ReadDb::Postgres(pool) = db else {
        unreachable!("PostgreSQL only");
    };
    // A backend publishes its counts when it has been idle a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sqlx::query_scalar::<_, i64>(
        "SELECT COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0) FROM pg_stat_user_tables \
         WHERE relname = $1",
    )
    .bind(table)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A page of 50 orders with their timelines, or of 32 stock items with their farms'
/// compliance, costs the same few statements as a page of one: counted in PostgreSQL's own
/// statistics of the tables read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_orders_with_timelines_costs_a_constant_number_of_statements() {
    let Some(env) = Env::new(true).await else {
        return;
    };
    let store = env.store.clone();
    let executors = Executors::new(store, ExecutorSettings::default());
    let mut placed = Vec::new();
    for _ in 0..48 {
        placed.push(place(&executors, "bistro", &env.items[0]).await);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for order in &placed {
        while orders::order(&env.db, order)
            .await
            .unwrap()
            .is_none_or(|row| row.status == "PENDING")
        {
            assert!(Instant::now() < deadline, "order {order} never decided");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let query = |first: usize| {
        format!(
            "{{ orders(first: {first}) {{ edges {{ node {{ id status \
               lines {{ quantity }} timeline {{ status at }} delivery {{ id }} }} }} }} }}"
        )
    };
    let mut costs = Vec::new();
    for first in [1, 50] {
        let before = scans(&env.db, "order_timeline").await;
        let answer = env
            .ask(as_("admin-amy", Role::Admin), &query(first))
            .await
            .unwrap();
        let edges = answer["orders"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), first);
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["timeline"].as_array().unwrap().len() >= 2)
        );
        costs.push(scans(&env.db, "order_timeline").await - before);
    }
    // One statement for the page's timelines, however slow the server; one more is allowed
    // for a projector's write still settling.
    assert!(
        costs[0] <= 2 && costs[1] <= 2,
        "timeline scans for a page of 1 and of 50: {costs:?} (one per order would be 50)"
    );

    // A page of stock items of 30 farms with each farm's compliance: one statement per table.
    let mut farms = Vec::new();
    for n in 0..30 {
        farms.push(register(&executors, &format!("farmer-{n}"), "Kale").await);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for item in &farms {
        while models::stock::stock_item(&env.db, item)
            .await
            .unwrap()
            .is_none()
        {
            assert!(Instant::now() < deadline, "item {item} never projected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let query = |first: usize| {
        format!(
            "{{ stockItems(first: {first}) {{ edges {{ node {{ id \
               farmCompliance {{ status openViolations {{ code }} }} }} }} }} }}"
        )
    };
    for table in ["farm_compliance", "inspection_violations"] {
        let mut costs = Vec::new();
        for first in [1, 32] {
            let before = scans(&env.db, table).await;
            let answer = env
                .ask(as_("bistro", Role::Restaurant), &query(first))
                .await
                .unwrap();
            let edges = answer["stockItems"]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), first);
            assert!(
                edges
                    .iter()
                    .all(|e| e["node"]["farmCompliance"]["status"] == "UNINSPECTED")
            );
            costs.push(scans(&env.db, table).await - before);
        }
        assert!(
            costs[0] <= 2 && costs[1] <= 2,
            "{table} scans for a page of 1 and of 32 items: {costs:?}"
        );
    }
    env.finish().await;
}

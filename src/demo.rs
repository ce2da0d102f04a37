//! `serve --demo`: a farm-to-table day, seeded through the served HTTP API the way its users
//! would (three farms, three restaurants, a driver, an inspector), so every rule, process
//! manager and read model sees real commands. It seeds a database once: its ids are fixed, and
//! a log that already holds them is left alone.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use command_api::{JwtConfig, mint_token};
use domain::process::DeliveryProcess;
use event_schemas::values::{OrderId, Role};
use event_store::{EventStore, StreamId};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::output::tell;

/// The namespace of the demo's fixed ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x5e1d_a7a0_de30_4d1b_9c2e_0000_0000_0001);

/// How long the demo waits for a process manager or a read model to catch up.
const CATCH_UP: Duration = Duration::from_secs(30);

/// The demo's fixed id for `name`.
fn id(name: &str) -> String {
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

/// Seeds the demo through the API served at `base` unless the log already holds it.
pub async fn seed(base: &str, jwt: &JwtConfig, store: &EventStore) -> anyhow::Result<()> {
    let first = StreamId::new("stock", id("tomatoes"));
    let last = StreamId::new("purchase", id("egg-restock"));
    if !store.read_stream(&last, 0).await?.is_empty() {
        tell!("demo: the data is already there (seeded on an earlier start)");
        return Ok(());
    }
    if !store.read_stream(&first, 0).await?.is_empty() {
        bail!(
            "an earlier demo seeding was interrupted: start the demo on a fresh data folder \
             (move ./data away)"
        );
    }
    let started = Instant::now();
    let demo = Client::new(base, jwt)?;
    day(&demo).await?;
    tell!(
        "demo: seeded a farm-to-table day in {:.1} s: try `{{ orders {{ totalCount edges {{ node \
         {{ status timeline {{ status note }} }} }} }} }}` in GraphiQL as admin",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The day itself.
async fn day(demo: &Client) -> anyhow::Result<()> {
    let farms = [
        (
            "farmer-ada",
            "tomatoes",
            "Heirloom tomatoes",
            "vegetables",
            "kg",
            450,
            120,
        ),
        (
            "farmer-ada",
            "basil",
            "Genovese basil",
            "herbs",
            "bunch",
            250,
            60,
        ),
        (
            "farmer-bruno",
            "eggs",
            "Free-range eggs",
            "eggs",
            "dozen",
            520,
            80,
        ),
        (
            "farmer-bruno",
            "cheese",
            "Goat cheese",
            "dairy",
            "piece",
            890,
            40,
        ),
        (
            "farmer-chloe",
            "strawberries",
            "Gariguette strawberries",
            "fruits",
            "kg",
            780,
            50,
        ),
        (
            "farmer-chloe",
            "lettuce",
            "Butterhead lettuce",
            "vegetables",
            "piece",
            180,
            70,
        ),
    ];
    for (farmer, name, product, category, unit, cents, quantity) in farms {
        let body = json!({
            "id": id(name), "product_name": product, "category": category, "unit": unit,
            "unit_price_cents": cents, "quality_grade": "A", "certifications": ["organic"],
            "low_stock_threshold": 10, "initial_quantity": quantity,
        });
        demo.post((farmer, Role::Farmer), "/v1/stock-items", body)
            .await?;
    }

    // Orders in every status but the fleeting PENDING.
    let orders = [
        (
            "delivered",
            "bistro-rue",
            "farmer-ada",
            vec![("tomatoes", 10), ("basil", 5)],
        ),
        ("in-transit", "cafe-nord", "farmer-bruno", vec![("eggs", 6)]),
        (
            "ready",
            "trattoria-sol",
            "farmer-ada",
            vec![("tomatoes", 8)],
        ),
        (
            "preparing",
            "bistro-rue",
            "farmer-bruno",
            vec![("cheese", 4)],
        ),
        (
            "confirmed",
            "cafe-nord",
            "farmer-chloe",
            vec![("strawberries", 5)],
        ),
        (
            "rejected",
            "trattoria-sol",
            "farmer-chloe",
            vec![("lettuce", 500)],
        ),
        ("cancelled", "bistro-rue", "farmer-ada", vec![("basil", 3)]),
        (
            "retried",
            "cafe-nord",
            "farmer-chloe",
            vec![("strawberries", 4)],
        ),
    ];
    for (name, restaurant, farmer, lines) in &orders {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(item, quantity)| json!({"stock_item_id": id(item), "quantity": quantity}))
            .collect();
        let body = json!({
            "id": id(name), "farmer_id": farmer, "lines": lines,
            "delivery_address": {"line1": "12 Market Street", "city": "Lyon",
                "postal_code": "69002", "country": "FR"},
        });
        demo.post((restaurant, Role::Restaurant), "/v1/orders", body)
            .await?;
    }
    for (name, ..) in &orders {
        let decided = if *name == "rejected" {
            "REJECTED"
        } else {
            "CONFIRMED"
        };
        demo.order_in(name, decided).await?;
    }
    demo.post(
        ("bistro-rue", Role::Restaurant),
        &format!("/v1/orders/{}/cancel", id("cancelled")),
        json!({"reason": "the menu changed"}),
    )
    .await?;
    for (name, _, farmer, _) in &orders {
        let steps: &[&str] = match *name {
            "delivered" | "in-transit" | "ready" | "retried" => &["preparing", "ready-for-pickup"],
            "preparing" => &["preparing"],
            _ => &[],
        };
        for step in steps {
            let path = format!("/v1/orders/{}/{step}", id(name));
            demo.post((farmer, Role::Farmer), &path, json!({})).await?;
        }
    }

    // The driver's round: one delivered, one on the road, one failed and tried again.
    let driver = ("driver-dan", Role::Distributor);
    for name in ["delivered", "in-transit", "retried"] {
        let delivery = demo.delivery_of(name, 1).await?;
        for step in ["assign", "pickup"] {
            let path = format!("/v1/deliveries/{delivery}/{step}");
            demo.post(driver, &path, json!({})).await?;
        }
        let location = json!({"lat": 45.76, "lon": 4.83, "recorded_at": chrono::Utc::now(),
            "eta": chrono::Utc::now() + chrono::Duration::minutes(25)});
        let path = format!("/v1/deliveries/{delivery}/location");
        demo.post(driver, &path, location).await?;
        let (step, body) = match name {
            "delivered" => (
                "complete",
                json!({"recipient_name": "Chef Marie", "delivered_at": chrono::Utc::now()}),
            ),
            "retried" => ("fail", json!({"reason": "the restaurant was closed"})),
            _ => continue,
        };
        let path = format!("/v1/deliveries/{delivery}/{step}");
        demo.post(driver, &path, body).await?;
    }
    let second = demo.delivery_of("retried", 2).await?;
    for step in ["assign", "pickup"] {
        let path = format!("/v1/deliveries/{second}/{step}");
        demo.post(driver, &path, json!({})).await?;
    }
    let path = format!("/v1/deliveries/{second}/complete");
    let body = json!({"recipient_name": "Chef Paul", "delivered_at": chrono::Utc::now()});
    demo.post(driver, &path, body).await?;

    // An inspection fails on a critical violation and quarantines the lettuce; the farm fixes
    // it and the next inspection passes, which releases it.
    let inspector = ("inspector-ivy", Role::Inspector);
    let failed = demo.inspection("chloe-spring", "farmer-chloe").await?;
    let recorded = demo
        .post(
            inspector,
            &format!("/v1/inspections/{failed}/violations"),
            json!({"code": "HYG-12", "severity": "critical",
                "description": "Listeria found in the washing station",
                "stock_item_ids": [id("lettuce")]}),
        )
        .await?;
    let violation = recorded["violation_id"]
        .as_str()
        .context("the violation's answer has no violation_id")?
        .to_owned();
    let path = format!("/v1/inspections/{failed}/complete");
    demo.post(
        inspector,
        &path,
        json!({"score": 55, "notes": "washing station closed"}),
    )
    .await?;
    demo.quarantined("lettuce", true).await?;
    let path = format!("/v1/inspections/{failed}/violations/{violation}/resolve");
    let body = json!({"resolution": "station sanitised and retested clean"});
    demo.post(inspector, &path, body).await?;
    let passed = demo.inspection("chloe-follow-up", "farmer-chloe").await?;
    let path = format!("/v1/inspections/{passed}/complete");
    demo.post(inspector, &path, json!({"score": 92})).await?;
    demo.quarantined("lettuce", false).await?;
    let ada = demo.inspection("ada-annual", "farmer-ada").await?;
    let path = format!("/v1/inspections/{ada}/complete");
    demo.post(inspector, &path, json!({"score": 96})).await?;

    // A purchase restocks the eggs from a supplier, through a carrier.
    let bruno = ("farmer-bruno", Role::Farmer);
    let purchase = id("egg-restock");
    let steps = [
        ("supplier-order", json!({"supplier_order_ref": "HH-2041"})),
        (
            "carrier-reservation",
            json!({"carrier_id": "rhone-freight", "tracking_ref": "RF-77",
                "eta": chrono::Utc::now() + chrono::Duration::hours(4)}),
        ),
        ("receive", json!({"quantity_received": 40})),
    ];
    // Created last: its stream marks a demo seeded to the end.
    let body = json!({"id": purchase, "stock_item_id": id("eggs"),
        "supplier_id": "hillside-hatchery", "quantity": 40, "unit_cost_cents": 300});
    demo.post(bruno, "/v1/purchases", body).await?;
    let mut last = Value::Null;
    for (step, body) in steps {
        let path = format!("/v1/purchases/{purchase}/{step}");
        last = demo.post(bruno, &path, body).await?;
    }
    // Done when the purchase process has restocked the eggs (80 + 40; the 6 on the road are
    // held, not taken, until delivered) and the read models show it.
    let query = format!(
        "{{ purchase(id: \"{purchase}\") {{ status }} stockItem(id: \"{}\") {{ onHand }} }}",
        id("eggs")
    );
    demo.until("the eggs restocked", &query, |data| {
        (data["purchase"]["status"] == "COMPLETED" && data["stockItem"]["onHand"] == 120)
            .then_some(())
    })
    .await?;
    // And every read model has applied the day's last command.
    let position = last["position"]
        .as_str()
        .context("no position in the answer")?;
    demo.query_at("{ projections { name } }", Some(position))
        .await
        .map(|_| ())
}

/// The demo's users, speaking to the served API.
struct Client {
    http: reqwest::Client,
    base: String,
    jwt: JwtConfig,
}

impl Client {
    fn new(base: &str, jwt: &JwtConfig) -> anyhow::Result<Self> {
        // Signing is what the demo needs: a public-key configuration cannot mint its tokens.
        mint_token(jwt, "admin-demo", Role::Admin, 60)
            .context("--demo signs its users' tokens: it needs an HS256 secret")?;
        Ok(Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            jwt: jwt.clone(),
        })
    }

    fn token(&self, sub: &str, role: Role) -> anyhow::Result<String> {
        Ok(mint_token(&self.jwt, sub, role, 3600)?)
    }

    /// POSTs `body` to `path` as `sub` in `role`; the answer, which must be a success.
    async fn post(
        &self,
        (sub, role): (&str, Role),
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token(sub, role)?)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path} as {sub}: {status}: {answer}");
        }
        Ok(answer)
    }

    /// Asks GraphQL as an admin; the `data`.
    async fn query(&self, query: &str) -> anyhow::Result<Value> {
        self.query_at(query, None).await
    }

    /// Asks GraphQL as an admin once every read model has applied `position`; the `data`.
    async fn query_at(&self, query: &str, position: Option<&str>) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(self.token("admin-demo", Role::Admin)?)
            .json(&json!({"query": query}));
        if let Some(position) = position {
            request = request.header("x-consistency-position", position);
        }
        let answer: Value = request.send().await?.json().await?;
        if let Some(errors) = answer.get("errors") {
            bail!("GraphQL refused `{query}`: {errors}");
        }
        Ok(answer["data"].clone())
    }

    /// Waits until `probe` finds what it looks for in the read models.
    async fn until<T>(
        &self,
        what: &str,
        query: &str,
        probe: impl Fn(&Value) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + CATCH_UP;
        loop {
            if let Some(found) = probe(&self.query(query).await?) {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!("{what} did not happen within {} s", CATCH_UP.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until order `name` is in `status`.
    async fn order_in(&self, name: &str, status: &str) -> anyhow::Result<()> {
        let query = format!("{{ order(id: \"{}\") {{ status }} }}", id(name));
        self.until(&format!("order {name} {status}"), &query, |data| {
            (data["order"]["status"] == status).then_some(())
        })
        .await
    }

    /// The id of order `name`'s delivery `attempt`, once its process has scheduled it.
    async fn delivery_of(&self, name: &str, attempt: u32) -> anyhow::Result<String> {
        let order: OrderId = id(name).parse()?;
        let delivery = DeliveryProcess::delivery_id_for(order, attempt).to_string();
        let query = format!("{{ delivery(id: \"{delivery}\") {{ status }} }}");
        self.until(&format!("delivery {attempt} of {name}"), &query, |data| {
            (data["delivery"]["status"] == "SCHEDULED").then_some(())
        })
        .await?;
        Ok(delivery)
    }

    /// Waits until stock item `name` is (or is no longer) quarantined.
    async fn quarantined(&self, name: &str, quarantined: bool) -> anyhow::Result<()> {
        let query = format!("{{ stockItem(id: \"{}\") {{ quarantined }} }}", id(name));
        self.until(
            &format!("{name} quarantined: {quarantined}"),
            &query,
            |data| (data["stockItem"]["quarantined"] == quarantined).then_some(()),
        )
        .await
    }

    /// Schedules and starts inspection `name` of `farmer` by the demo's inspector; its id.
    async fn inspection(&self, name: &str, farmer: &str) -> anyhow::Result<String> {
        let inspector = ("inspector-ivy", Role::Inspector);
        let inspection = id(name);
        let body = json!({"id": inspection, "farmer_id": farmer, "inspector_id": "inspector-ivy",
            "scheduled_for": chrono::Utc::now()});
        self.post(inspector, "/v1/inspections", body).await?;
        let path = format!("/v1/inspections/{inspection}/start");
        self.post(inspector, &path, json!({})).await?;
        Ok(inspection)
    }
}

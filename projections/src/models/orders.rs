//! The `orders` read model: each order with its lines, total and the timeline of its statuses,
//! and how many orders are in each status.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use event_schemas::{DeliveryEvent, OrderEvent, OrderStatus};
use serde::{Deserialize, Serialize};

use crate::cache::RowCache;
use crate::changes::Changes;
use crate::convert::{int, json, name_of};
use crate::db::{ReadDb, on_db};
use crate::event::{Body, Event};
use crate::projection::{ApplyError, Projection};
use crate::query::{Page, Paged};
use crate::table::{KeyedRow, Row, Table, Tables, table_row};
use crate::time::to_text;

table_row! {
    /// One order as dashboards list it.
    pub struct OrderRow in "orders" key(id) {
        /// The order id.
        pub id: String,
        /// Its status (`PENDING`, `CONFIRMED`, ...).
        pub status: String,
        /// The restaurant that placed it.
        pub customer_id: String,
        /// The farmer it is placed with.
        pub farmer_id: String,
        /// Its lines, JSON ([`OrderLineView`]), priced once confirmed.
        pub lines: String,
        /// The total once confirmed.
        pub total_cents: Option<i64>,
        /// Where to deliver, JSON.
        pub delivery_address: String,
        /// The day the restaurant wants it.
        pub requested_delivery_date: Option<String>,
        /// The restaurant's notes.
        pub notes: Option<String>,
        /// Why it was rejected or cancelled.
        pub closing_reason: Option<String>,
        /// The delivery carrying it (the latest scheduled).
        pub delivery_id: Option<String>,
        /// When it was placed.
        pub placed_at: String,
        /// When it last changed.
        pub updated_at: String,
        /// Its stream version.
        pub version: i64,
    }
    index by_status(status, placed_at, id);
    index by_customer(customer_id, placed_at, id);
    index by_farmer(farmer_id, placed_at, id);
    index by_placed(placed_at, id);
}

impl KeyedRow for OrderRow {
    fn key(&self) -> &str {
        &self.id
    }
}

table_row! {
    /// One status change of an order.
    pub struct TimelineRow in "order_timeline" key(order_id, seq) {
        /// The order.
        pub order_id: String,
        /// The order's stream version at the change.
        pub seq: i64,
        /// The status entered.
        pub status: String,
        /// When.
        pub at: String,
        /// Why, where the change has a reason.
        pub note: Option<String>,
    }
}

/// One line of an order: as placed, then priced at confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineView {
    /// The stock item ordered.
    pub stock_item_id: String,
    /// Its product name, once reserved.
    pub product_name: Option<String>,
    /// How many units.
    pub quantity: i64,
    /// The unit price, once reserved.
    pub unit_price_cents: Option<i64>,
}

table_row! {
    /// How many orders are in one status, or in any ([`EVERY_STATUS`]): kept as orders move,
    /// so that a list's `totalCount` reads one row where counting would read every order.
    pub struct OrderCountRow in "order_counts" key(status) {
        /// The status (`CONFIRMED`, ...), or [`EVERY_STATUS`].
        pub status: String,
        /// How many orders.
        pub orders: i64,
    }
}

/// The [`OrderCountRow`] of every order, whatever its status.
pub const EVERY_STATUS: &str = "";

static TABLES: &[&Table] = &[&OrderRow::TABLE, &TimelineRow::TABLE, &OrderCountRow::TABLE];

/// Builds `orders`, `order_timeline` and `order_counts`.
#[derive(Debug, Default)]
pub struct OrdersProjection {
    orders: RowCache<OrderRow>,
    timeline: Vec<TimelineRow>,
    /// Every count by status (a handful of rows, so all are read at once); `None` until read.
    counts: Option<HashMap<String, i64>>,
    /// The statuses whose counts the batch changed.
    recounted: HashSet<String>,
}

#[async_trait]
impl Projection for OrdersProjection {
    fn name(&self) -> &'static str {
        "orders"
    }

    fn version(&self) -> i64 {
        // 2: `order_counts`.
        2
    }

    fn tables(&self) -> &'static [&'static Table] {
        TABLES
    }

    async fn load(&mut self, events: &[Event], db: &ReadDb, tables: Tables) -> sqlx::Result<()> {
        for event in events {
            match &event.body {
                Body::Order(OrderEvent::OrderPlaced(_)) => {
                    self.orders.expect_new(&event.aggregate_id)
                }
                Body::Order(_) => self.orders.want(&event.aggregate_id),
                Body::Delivery(DeliveryEvent::DeliveryScheduled(e)) => {
                    self.orders.want(&e.order_id.to_string());
                }
                _ => {}
            }
        }
        self.orders.load_wanted(db, tables).await?;
        if self.counts.is_none() {
            let rows = counts(db, tables).await?;
            self.counts = Some(rows.into_iter().map(|r| (r.status, r.orders)).collect());
        }
        Ok(())
    }

    fn apply(&mut self, event: &Event) -> Result<(), ApplyError> {
        let order = match &event.body {
            Body::Order(order) => order,
            Body::Delivery(DeliveryEvent::DeliveryScheduled(e)) => {
                // A delivery an admin scheduled for an order this model does not know changes
                // no order.
                if let Some(row) = self.orders.get_mut(&e.order_id.to_string()) {
                    row.delivery_id = Some(e.delivery_id.to_string());
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        let id = &event.aggregate_id;
        if let OrderEvent::OrderPlaced(e) = order {
            let lines: Vec<OrderLineView> = e
                .lines
                .iter()
                .map(|l| OrderLineView {
                    stock_item_id: l.stock_item_id.to_string(),
                    product_name: None,
                    quantity: int(l.quantity.get()),
                    unit_price_cents: None,
                })
                .collect();
            self.orders.put(OrderRow {
                id: id.clone(),
                status: name_of(&OrderStatus::Pending),
                customer_id: e.customer_id.to_string(),
                farmer_id: e.farmer_id.to_string(),
                lines: json(&lines),
                total_cents: None,
                delivery_address: json(&e.delivery_address),
                requested_delivery_date: e.requested_delivery_date.map(crate::time::day_text),
                notes: e.notes.as_ref().map(|n| n.as_str().to_owned()),
                closing_reason: None,
                delivery_id: None,
                placed_at: to_text(e.placed_at),
                updated_at: to_text(e.placed_at),
                version: event.version(),
            });
            self.record(event, OrderStatus::Pending, e.placed_at, None);
            self.count(EVERY_STATUS, 1)?;
            return self.count(&name_of(&OrderStatus::Pending), 1);
        }
        let Some(row) = self.orders.get_mut(id) else {
            return Err(ApplyError(format!("no order {id} to apply it to")));
        };
        let (status, at, note) = match order {
            OrderEvent::OrderPlaced(_) => return Ok(()),
            OrderEvent::OrderConfirmed(e) => {
                let lines: Vec<OrderLineView> = e
                    .lines
                    .iter()
                    .map(|l| OrderLineView {
                        stock_item_id: l.stock_item_id.to_string(),
                        product_name: Some(l.product_name.as_str().to_owned()),
                        quantity: int(l.quantity.get()),
                        unit_price_cents: Some(int(l.unit_price_cents.get())),
                    })
                    .collect();
                row.lines = json(&lines);
                row.total_cents = Some(int(e.total_cents.get()));
                (OrderStatus::Confirmed, e.confirmed_at, None)
            }
            OrderEvent::OrderRejected(e) => {
                row.closing_reason = Some(e.reason.as_str().to_owned());
                let reason = Some(e.reason.as_str().to_owned());
                (OrderStatus::Rejected, e.rejected_at, reason)
            }
            OrderEvent::OrderCancelled(e) => {
                row.closing_reason = Some(e.reason.as_str().to_owned());
                let reason = Some(e.reason.as_str().to_owned());
                (OrderStatus::Cancelled, e.cancelled_at, reason)
            }
            OrderEvent::OrderPreparing(e) => (OrderStatus::Preparing, e.at, None),
            OrderEvent::OrderReadyForPickup(e) => (OrderStatus::ReadyForPickup, e.at, None),
            OrderEvent::OrderInTransit(e) => {
                row.delivery_id = Some(e.delivery_id.to_string());
                (OrderStatus::InTransit, e.at, None)
            }
            // The order waits at the farm again, the reason on its timeline; the failed
            // delivery stays named until the next one is scheduled.
            OrderEvent::OrderDeliveryFailed(e) => {
                let reason = Some(e.reason.as_str().to_owned());
                (OrderStatus::ReadyForPickup, e.failed_at, reason)
            }
            OrderEvent::OrderDelivered(e) => {
                row.delivery_id = Some(e.delivery_id.to_string());
                (OrderStatus::Delivered, e.at, None)
            }
        };
        let after = name_of(&status);
        let before = std::mem::replace(&mut row.status, after.clone());
        row.updated_at = to_text(at);
        row.version = event.version();
        self.record(event, status, at, note);
        if before != after {
            self.count(&before, -1)?;
            self.count(&after, 1)?;
        }
        Ok(())
    }

    fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        self.orders.drain_into(&mut changes);
        for row in self.timeline.drain(..) {
            changes.upsert(&row);
        }
        if let Some(counts) = &self.counts {
            for status in self.recounted.drain() {
                let orders = counts.get(&status).copied().unwrap_or_default();
                changes.upsert(&OrderCountRow { status, orders });
            }
        }
        changes
    }

    fn kept(&self) -> usize {
        self.orders.len() + self.counts.as_ref().map_or(0, HashMap::len)
    }

    fn forget(&mut self) {
        self.orders.clear();
        self.timeline.clear();
        self.counts = None;
        self.recounted.clear();
    }
}

impl OrdersProjection {
    /// Adds `n` to the count of `status`.
    fn count(&mut self, status: &str, n: i64) -> Result<(), ApplyError> {
        let counts = self
            .counts
            .as_mut()
            .ok_or_else(|| ApplyError("the order counts were not read".into()))?;
        *counts.entry(status.to_owned()).or_default() += n;
        self.recounted.insert(status.to_owned());
        Ok(())
    }

    fn record(
        &mut self,
        event: &Event,
        status: OrderStatus,
        at: chrono::DateTime<chrono::Utc>,
        note: Option<String>,
    ) {
        self.timeline.push(TimelineRow {
            order_id: event.aggregate_id.clone(),
            seq: event.version(),
            status: name_of(&status),
            at: to_text(at),
            note,
        });
    }
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only orders in this status (`CONFIRMED`, ...).
    pub status: Option<String>,
    /// Only this restaurant's orders.
    pub customer_id: Option<String>,
    /// Only orders placed with this farmer.
    pub farmer_id: Option<String>,
    /// Placed at or after this time (stored form, [`to_text`]).
    pub placed_from: Option<String>,
    /// Placed before this time (stored form).
    pub placed_to: Option<String>,
}

const ORDER_WHERE: &str = "($1 IS NULL OR status = $1) AND ($2 IS NULL OR customer_id = $2) \
     AND ($3 IS NULL OR farmer_id = $3) AND ($4 IS NULL OR placed_at >= $4) \
     AND ($5 IS NULL OR placed_at < $5)";

/// Every count row of `tables`.
async fn counts(db: &ReadDb, tables: Tables) -> sqlx::Result<Vec<OrderCountRow>> {
    let sql = format!(
        "SELECT {} FROM {}",
        OrderCountRow::TABLE.column_list(),
        tables.name(&OrderCountRow::TABLE)
    );
    on_db!(db, pool => sqlx::query_as::<_, OrderCountRow>(&sql).fetch_all(pool).await)
}

/// The order `id`, if any.
pub async fn order(db: &ReadDb, id: &str) -> sqlx::Result<Option<OrderRow>> {
    let sql = format!(
        "SELECT {} FROM orders WHERE id = $1",
        OrderRow::TABLE.column_list()
    );
    on_db!(db, pool => sqlx::query_as::<_, OrderRow>(&sql).bind(id).fetch_optional(pool).await)
}

/// The order's timeline, oldest first.
pub async fn timeline(db: &ReadDb, order_id: &str) -> sqlx::Result<Vec<TimelineRow>> {
    let sql = format!(
        "SELECT {} FROM order_timeline WHERE order_id = $1 ORDER BY seq",
        TimelineRow::TABLE.column_list()
    );
    on_db!(db, pool => sqlx::query_as::<_, TimelineRow>(&sql).bind(order_id).fetch_all(pool).await)
}

/// The timelines of `order_ids`, each oldest first (rows of all the orders, in one query per
/// chunk of ids).
pub async fn timelines(db: &ReadDb, order_ids: &[String]) -> sqlx::Result<Vec<TimelineRow>> {
    let mut rows: Vec<TimelineRow> =
        crate::changes::load_rows_where(db, "order_id", order_ids).await?;
    rows.sort_by(|a, b| (&a.order_id, a.seq).cmp(&(&b.order_id, b.seq)));
    Ok(rows)
}

/// A page of the orders matching `filter`, newest first, and how many match in all: for no
/// filter but a status, that is one row of `order_counts`; for the others, a count of the
/// matching orders over the index the filter names.
pub async fn orders(
    db: &ReadDb,
    filter: &OrderFilter,
    page: &Page,
) -> sqlx::Result<Paged<OrderRow>> {
    let (after_placed, after_id) = page.after_pair();
    let sql = format!(
        "SELECT {} FROM orders WHERE {ORDER_WHERE} \
           AND ($6 IS NULL OR placed_at < $6 OR (placed_at = $6 AND id < $7)) \
         ORDER BY placed_at DESC, id DESC LIMIT $8",
        OrderRow::TABLE.column_list()
    );
    let count_sql = format!("SELECT count(*) FROM orders WHERE {ORDER_WHERE}");
    on_db!(db, pool => {
        // Both statements on one connection: each taking its own costs two more round trips
        // (the pool checks a connection when it hands it out and when it takes it back).
        let mut connection = pool.acquire().await?;
        let rows = sqlx::query_as::<_, OrderRow>(&sql)
            .bind(filter.status.as_deref())
            .bind(filter.customer_id.as_deref())
            .bind(filter.farmer_id.as_deref())
            .bind(filter.placed_from.as_deref())
            .bind(filter.placed_to.as_deref())
            .bind(after_placed.as_deref())
            .bind(after_id.as_deref())
            .bind(page.limit_plus_one())
            .fetch_all(&mut *connection)
            .await?;
        let counted = filter.customer_id.is_none()
            && filter.farmer_id.is_none()
            && filter.placed_from.is_none()
            && filter.placed_to.is_none();
        let total: i64 = if counted {
            sqlx::query_scalar("SELECT orders FROM order_counts WHERE status = $1")
                .bind(filter.status.as_deref().unwrap_or(EVERY_STATUS))
                .fetch_optional(&mut *connection)
                .await?
                .unwrap_or(0)
        } else {
            sqlx::query_scalar(&count_sql)
                .bind(filter.status.as_deref())
                .bind(filter.customer_id.as_deref())
                .bind(filter.farmer_id.as_deref())
                .bind(filter.placed_from.as_deref())
                .bind(filter.placed_to.as_deref())
                .fetch_one(&mut *connection)
                .await?
        };
        Ok(Paged::new(rows, page, total, |r| (r.placed_at.clone(), r.id.clone())))
    })
}

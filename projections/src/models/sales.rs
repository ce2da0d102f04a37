//! The `sales` read model: one row per line of every confirmed order (kept when it is
//! delivered, removed if it is cancelled), grouped by day, product or farmer when reported.

use async_trait::async_trait;
use chrono::NaiveDate;
use event_schemas::OrderEvent;

use crate::cache::RowCache;
use crate::changes::Changes;
use crate::convert::int;
use crate::db::{ReadDb, on_db};
use crate::event::{Body, Event};
use crate::projection::{ApplyError, Projection};
use crate::table::{KeyedRow, Row, Table, Tables, table_row};
use crate::time::day_text;

table_row! {
    /// An order as the sales report needs it: who sells.
    pub struct SalesOrderRow in "sales_orders" key(order_id) {
        /// The order.
        pub order_id: String,
        /// The farmer it is placed with.
        pub farmer_id: String,
    }
}

impl KeyedRow for SalesOrderRow {
    fn key(&self) -> &str {
        &self.order_id
    }
}

table_row! {
    /// One line of a confirmed order.
    pub struct SalesLineRow in "sales_lines" key(order_id, stock_item_id) {
        /// The order.
        pub order_id: String,
        /// The stock item sold.
        pub stock_item_id: String,
        /// The day the order was confirmed (UTC), `YYYY-MM-DD`.
        pub day: String,
        /// The farmer who sold it.
        pub farmer_id: String,
        /// The product's name when sold.
        pub product_name: String,
        /// Units sold.
        pub quantity: i64,
        /// Quantity times unit price.
        pub revenue_cents: i64,
    }
    index by_day(day);
    index by_farmer_day(farmer_id, day);
}

static TABLES: &[&Table] = &[&SalesOrderRow::TABLE, &SalesLineRow::TABLE];

/// Builds `sales_orders` and `sales_lines`.
#[derive(Debug, Default)]
pub struct SalesProjection {
    orders: RowCache<SalesOrderRow>,
    lines: Vec<SalesLineRow>,
    cancelled: Vec<String>,
}

#[async_trait]
impl Projection for SalesProjection {
    fn name(&self) -> &'static str {
        "sales"
    }

    fn version(&self) -> i64 {
        1
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
                Body::Order(OrderEvent::OrderConfirmed(_)) => self.orders.want(&event.aggregate_id),
                _ => {}
            }
        }
        self.orders.load_wanted(db, tables).await
    }

    fn apply(&mut self, event: &Event) -> Result<(), ApplyError> {
        let Body::Order(order) = &event.body else {
            return Ok(());
        };
        let id = &event.aggregate_id;
        match order {
            OrderEvent::OrderPlaced(e) => self.orders.put(SalesOrderRow {
                order_id: id.clone(),
                farmer_id: e.farmer_id.to_string(),
            }),
            OrderEvent::OrderConfirmed(e) => {
                let Some(sale) = self.orders.get(id) else {
                    return Err(ApplyError(format!("no order {id} to confirm")));
                };
                let day = day_text(e.confirmed_at.date_naive());
                for line in &e.lines {
                    self.lines.push(SalesLineRow {
                        order_id: id.clone(),
                        stock_item_id: line.stock_item_id.to_string(),
                        day: day.clone(),
                        farmer_id: sale.farmer_id.clone(),
                        product_name: line.product_name.as_str().to_owned(),
                        quantity: int(line.quantity.get()),
                        revenue_cents: int(line.line_total_cents.get()),
                    });
                }
            }
            OrderEvent::OrderCancelled(_) => {
                // Lines confirmed in this same batch are not written at all.
                self.lines.retain(|line| &line.order_id != id);
                self.cancelled.push(id.clone());
            }
            _ => {}
        }
        Ok(())
    }

    fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        for order in self.cancelled.drain(..) {
            changes.delete_where::<SalesLineRow>("order_id", order);
        }
        self.orders.drain_into(&mut changes);
        for line in self.lines.drain(..) {
            changes.upsert(&line);
        }
        changes
    }

    fn kept(&self) -> usize {
        self.orders.len()
    }

    fn forget(&mut self) {
        self.orders.clear();
        self.lines.clear();
        self.cancelled.clear();
    }
}

/// What the sales report's rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesGrouping {
    /// One row per day.
    Day,
    /// One row per product name.
    Product,
    /// One row per farmer.
    Farmer,
}

impl SalesGrouping {
    fn column(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Product => "product_name",
            Self::Farmer => "farmer_id",
        }
    }
}

/// One row of the sales report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesReportRow {
    /// The day, product name or farmer id.
    pub key: String,
    /// Orders with lines in the group.
    pub orders: i64,
    /// Units sold.
    pub quantity: i64,
    /// Revenue.
    pub revenue_cents: i64,
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for SalesReportRow
where
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            key: row.try_get(0)?,
            orders: row.try_get(1)?,
            quantity: row.try_get(2)?,
            revenue_cents: row.try_get(3)?,
        })
    }
}

/// Sales of confirmed (and later delivered) orders from day `from` to day `to` inclusive,
/// grouped by `group_by`; only `farmer_id`'s sales when given.
pub async fn sales_report(
    db: &ReadDb,
    from: NaiveDate,
    to: NaiveDate,
    group_by: SalesGrouping,
    farmer_id: Option<&str>,
) -> sqlx::Result<Vec<SalesReportRow>> {
    let key = group_by.column();
    let sql = format!(
        "SELECT {key} AS key, count(DISTINCT order_id) AS orders, \
                CAST(sum(quantity) AS BIGINT) AS quantity, \
                CAST(sum(revenue_cents) AS BIGINT) AS revenue_cents \
         FROM sales_lines WHERE day >= $1 AND day <= $2 AND ($3 IS NULL OR farmer_id = $3) \
         GROUP BY {key} ORDER BY {key}"
    );
    on_db!(db, pool => sqlx::query_as::<_, SalesReportRow>(&sql)
        .bind(day_text(from))
        .bind(day_text(to))
        .bind(farmer_id)
        .fetch_all(pool)
        .await)
}

//! The `stock_items` read model (levels, low stock, quarantine) and the inventory by category
//! it keeps in step.

use async_trait::async_trait;
use event_schemas::{StockEvent, StockLevels};

use crate::cache::RowCache;
use crate::changes::Changes;
use crate::convert::{int, json, name_of};
use crate::db::{ReadDb, on_db};
use crate::event::{Body, Event};
use crate::projection::{ApplyError, Projection};
use crate::query::{Page, Paged};
use crate::table::{KeyedRow, Row, Table, Tables, table_row};
use crate::time::{day_text, to_text};

table_row! {
    /// One stock item of the shared catalogue.
    pub struct StockItemRow in "stock_items" key(id) {
        /// The stock item id.
        pub id: String,
        /// Its owner.
        pub farmer_id: String,
        /// What it is called.
        pub product_name: String,
        /// Its category (`vegetables`, ...).
        pub category: String,
        /// Its unit (`kg`, ...).
        pub unit: String,
        /// The price of one unit.
        pub unit_price_cents: i64,
        /// `A`, `B` or `C`.
        pub quality_grade: String,
        /// Units physically held.
        pub on_hand: i64,
        /// Units held for orders.
        pub reserved: i64,
        /// On hand minus reserved.
        pub available: i64,
        /// Available at or below this is low stock.
        pub low_stock_threshold: i64,
        /// Whether available is at or below the threshold.
        pub low_stock: bool,
        /// Whether it is quarantined.
        pub quarantined: bool,
        /// Why, while quarantined.
        pub quarantine_reason: Option<String>,
        /// Its certifications, JSON array.
        pub certifications: String,
        /// When it was harvested.
        pub harvest_date: Option<String>,
        /// When it was registered.
        pub registered_at: String,
        /// When it last changed.
        pub updated_at: String,
        /// Its stream version.
        pub version: i64,
    }
    index by_farmer(farmer_id, id);
    index by_category(category, id);
    index by_low_stock(low_stock, id);
    index by_quarantined(quarantined, id);
}

impl KeyedRow for StockItemRow {
    fn key(&self) -> &str {
        &self.id
    }
}

table_row! {
    /// The inventory of one category: sums over its stock items.
    pub struct InventoryRow in "inventory_by_category" key(category) {
        /// The category.
        pub category: String,
        /// How many stock items it has.
        pub items: i64,
        /// Units on hand.
        pub on_hand: i64,
        /// Units reserved.
        pub reserved: i64,
        /// Units available.
        pub available: i64,
        /// Items at or below their low-stock threshold.
        pub low_stock_items: i64,
    }
}

impl KeyedRow for InventoryRow {
    fn key(&self) -> &str {
        &self.category
    }
}

static TABLES: &[&Table] = &[&StockItemRow::TABLE, &InventoryRow::TABLE];

/// Builds `stock_items` and `inventory_by_category`.
#[derive(Debug, Default)]
pub struct StockProjection {
    items: RowCache<StockItemRow>,
    categories: RowCache<InventoryRow>,
}

/// What a stock item adds to its category's sums.
#[derive(Debug, Clone, Copy, Default)]
struct Share {
    items: i64,
    on_hand: i64,
    reserved: i64,
    available: i64,
    low: i64,
}

impl Share {
    fn of(row: &StockItemRow) -> Self {
        Self {
            items: 1,
            on_hand: row.on_hand,
            reserved: row.reserved,
            available: row.available,
            low: i64::from(row.low_stock),
        }
    }
}

#[async_trait]
impl Projection for StockProjection {
    fn name(&self) -> &'static str {
        "stock_items"
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
                Body::Stock(StockEvent::StockItemRegistered(e)) => {
                    self.items.expect_new(&event.aggregate_id);
                    self.categories.want(&name_of(&e.category));
                }
                Body::Stock(_) => self.items.want(&event.aggregate_id),
                _ => {}
            }
        }
        self.items.load_wanted(db, tables).await?;
        // Every category an item of the batch is in.
        let categories: Vec<String> = events
            .iter()
            .filter(|e| matches!(e.body, Body::Stock(_)))
            .filter_map(|e| self.items.get(&e.aggregate_id).map(|r| r.category.clone()))
            .collect();
        for category in &categories {
            self.categories.want(category);
        }
        self.categories.load_wanted(db, tables).await
    }

    fn apply(&mut self, event: &Event) -> Result<(), ApplyError> {
        let Body::Stock(stock) = &event.body else {
            return Ok(());
        };
        let id = &event.aggregate_id;
        if let StockEvent::StockItemRegistered(e) = stock {
            let on_hand = int(e.initial_quantity.get());
            let threshold = int(e.low_stock_threshold.get());
            let row = StockItemRow {
                id: id.clone(),
                farmer_id: e.farmer_id.to_string(),
                product_name: e.product_name.as_str().to_owned(),
                category: name_of(&e.category),
                unit: name_of(&e.unit),
                unit_price_cents: int(e.unit_price_cents.get()),
                quality_grade: name_of(&e.quality_grade),
                on_hand,
                reserved: 0,
                available: on_hand,
                low_stock_threshold: threshold,
                low_stock: on_hand <= threshold,
                quarantined: false,
                quarantine_reason: None,
                certifications: json(&e.certifications),
                harvest_date: e.harvest_date.map(day_text),
                registered_at: to_text(e.registered_at),
                updated_at: to_text(e.registered_at),
                version: event.version(),
            };
            self.add_to_category(&row.category, Share::of(&row), 1)?;
            self.items.put(row);
            return Ok(());
        }
        let Some(row) = self.items.get_mut(id) else {
            return Err(ApplyError(format!("no stock item {id} to apply it to")));
        };
        let before = Share::of(row);
        let at = match stock {
            StockEvent::StockItemRegistered(_) => return Ok(()),
            StockEvent::StockReceived(e) => set_levels(row, e.levels, e.received_at),
            StockEvent::StockAdjusted(e) => set_levels(row, e.levels, e.adjusted_at),
            StockEvent::StockReserved(e) => set_levels(row, e.levels, e.reserved_at),
            StockEvent::ReservationReleased(e) => set_levels(row, e.levels, e.released_at),
            StockEvent::ReservationCommitted(e) => set_levels(row, e.levels, e.committed_at),
            StockEvent::PriceChanged(e) => {
                row.unit_price_cents = int(e.unit_price_cents.get());
                e.changed_at
            }
            StockEvent::StockReservationRefused(e) => e.refused_at,
            // A refused quarantine leaves the item as it was; only its version moves.
            StockEvent::StockQuarantineRefused(e) => e.refused_at,
            StockEvent::LowStockReached(e) => e.reached_at,
            StockEvent::StockQuarantined(e) => {
                row.quarantined = true;
                row.quarantine_reason = Some(e.reason.as_str().to_owned());
                e.quarantined_at
            }
            StockEvent::QuarantineReleased(e) => {
                row.quarantined = false;
                row.quarantine_reason = None;
                e.released_at
            }
        };
        row.updated_at = to_text(at);
        row.version = event.version();
        let after = Share::of(row);
        let category = row.category.clone();
        let change = Share {
            items: 0,
            on_hand: after.on_hand - before.on_hand,
            reserved: after.reserved - before.reserved,
            available: after.available - before.available,
            low: after.low - before.low,
        };
        self.add_to_category(&category, change, 1)
    }

    fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        self.items.drain_into(&mut changes);
        self.categories.drain_into(&mut changes);
        changes
    }

    fn kept(&self) -> usize {
        self.items.len() + self.categories.len()
    }

    fn forget(&mut self) {
        self.items.clear();
        self.categories.clear();
    }
}

impl StockProjection {
    fn add_to_category(
        &mut self,
        category: &str,
        share: Share,
        sign: i64,
    ) -> Result<(), ApplyError> {
        if self.categories.get(category).is_none() {
            self.categories.put(InventoryRow {
                category: category.to_owned(),
                items: 0,
                on_hand: 0,
                reserved: 0,
                available: 0,
                low_stock_items: 0,
            });
        }
        let row = self
            .categories
            .get_mut(category)
            .ok_or_else(|| ApplyError(format!("no inventory row for {category}")))?;
        row.items += sign * share.items;
        row.on_hand += sign * share.on_hand;
        row.reserved += sign * share.reserved;
        row.available += sign * share.available;
        row.low_stock_items += sign * share.low;
        Ok(())
    }
}

/// Copies the levels an event carries; returns its time.
fn set_levels(
    row: &mut StockItemRow,
    levels: StockLevels,
    at: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    row.on_hand = int(levels.on_hand.get());
    row.reserved = int(levels.reserved.get());
    row.available = int(levels.available().get());
    row.low_stock = row.available <= row.low_stock_threshold;
    at
}

/// Which stock items to list.
#[derive(Debug, Clone, Default)]
pub struct StockItemFilter {
    /// Only this farmer's items.
    pub farmer_id: Option<String>,
    /// Only this category's items.
    pub category: Option<String>,
    /// Only items that are (or are not) low on stock.
    pub low_stock: Option<bool>,
    /// Only items that are (or are not) quarantined.
    pub quarantined: Option<bool>,
}

const STOCK_WHERE: &str = "($1 IS NULL OR farmer_id = $1) AND ($2 IS NULL OR category = $2) \
     AND ($3 IS NULL OR low_stock = $3) AND ($4 IS NULL OR quarantined = $4)";

/// The stock item `id`, if any.
pub async fn stock_item(db: &ReadDb, id: &str) -> sqlx::Result<Option<StockItemRow>> {
    let sql = format!(
        "SELECT {} FROM stock_items WHERE id = $1",
        StockItemRow::TABLE.column_list()
    );
    on_db!(db, pool => sqlx::query_as::<_, StockItemRow>(&sql).bind(id).fetch_optional(pool).await)
}

/// A page of the stock items matching `filter`, by id, and how many match in all.
pub async fn stock_items(
    db: &ReadDb,
    filter: &StockItemFilter,
    page: &Page,
) -> sqlx::Result<Paged<StockItemRow>> {
    let (_, after_id) = page.after_pair();
    let sql = format!(
        "SELECT {} FROM stock_items WHERE {STOCK_WHERE} AND ($5 IS NULL OR id > $5) \
         ORDER BY id LIMIT $6",
        StockItemRow::TABLE.column_list()
    );
    let count_sql = format!("SELECT count(*) FROM stock_items WHERE {STOCK_WHERE}");
    on_db!(db, pool => {
        let rows = sqlx::query_as::<_, StockItemRow>(&sql)
            .bind(filter.farmer_id.as_deref())
            .bind(filter.category.as_deref())
            .bind(filter.low_stock)
            .bind(filter.quarantined)
            .bind(after_id.as_deref())
            .bind(page.limit_plus_one())
            .fetch_all(pool)
            .await?;
        let total: i64 = sqlx::query_scalar(&count_sql)
            .bind(filter.farmer_id.as_deref())
            .bind(filter.category.as_deref())
            .bind(filter.low_stock)
            .bind(filter.quarantined)
            .fetch_one(pool)
            .await?;
        Ok(Paged::new(rows, page, total, |r| (r.id.clone(), r.id.clone())))
    })
}

/// The inventory of every category that has stock items, by category.
pub async fn inventory_report(db: &ReadDb) -> sqlx::Result<Vec<InventoryRow>> {
    let sql = format!(
        "SELECT {} FROM inventory_by_category WHERE items > 0 ORDER BY category",
        InventoryRow::TABLE.column_list()
    );
    on_db!(db, pool => sqlx::query_as::<_, InventoryRow>(&sql).fetch_all(pool).await)
}

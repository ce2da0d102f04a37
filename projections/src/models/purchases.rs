//! The `purchases` read model: restocking from suppliers, from request to goods received.

use async_trait::async_trait;
use event_schemas::{PurchaseEvent, PurchaseStatus};

use crate::cache::RowCache;
use crate::changes::Changes;
use crate::convert::{int, name_of};
use crate::db::{ReadDb, on_db};
use crate::event::{Body, Event};
use crate::projection::{ApplyError, Projection};
use crate::query::{Page, Paged};
use crate::table::{KeyedRow, Row, Table, Tables, table_row};
use crate::time::to_text;

table_row! {
    /// One purchase.
    pub struct PurchaseRow in "purchases" key(id) {
        /// The purchase id.
        pub id: String,
        /// The stock item restocked.
        pub stock_item_id: String,
        /// The stock item's owner.
        pub farmer_id: String,
        /// The supplier.
        pub supplier_id: String,
        /// Its status (`RECEIVED`, ...).
        pub status: String,
        /// Units bought.
        pub quantity: i64,
        /// What one unit costs.
        pub unit_cost_cents: i64,
        /// Quantity times unit cost.
        pub total_cost_cents: i64,
        /// The voucher given, if any.
        pub voucher_code: Option<String>,
        /// The supplier's order reference.
        pub supplier_order_ref: Option<String>,
        /// The carrier.
        pub carrier_id: Option<String>,
        /// The carrier's tracking reference.
        pub tracking_ref: Option<String>,
        /// When the goods are expected.
        pub eta: Option<String>,
        /// Units that arrived.
        pub quantity_received: Option<i64>,
        /// Why it was cancelled.
        pub cancel_reason: Option<String>,
        /// When the request was taken.
        pub created_at: String,
        /// When it last changed.
        pub updated_at: String,
        /// Its stream version.
        pub version: i64,
    }
    index by_status(status, id);
    index by_stock_item(stock_item_id, id);
    index by_supplier(supplier_id, id);
    index by_farmer(farmer_id, id);
}

impl KeyedRow for PurchaseRow {
    fn key(&self) -> &str {
        &self.id
    }
}

static TABLES: &[&Table] = &[&PurchaseRow::TABLE];

/// Builds `purchases`.
#[derive(Debug, Default)]
pub struct PurchasesProjection {
    purchases: RowCache<PurchaseRow>,
}

#[async_trait]
impl Projection for PurchasesProjection {
    fn name(&self) -> &'static str {
        "purchases"
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
                Body::Purchase(PurchaseEvent::PurchaseReceived(_)) => {
                    self.purchases.expect_new(&event.aggregate_id);
                }
                Body::Purchase(_) => self.purchases.want(&event.aggregate_id),
                _ => {}
            }
        }
        self.purchases.load_wanted(db, tables).await
    }

    fn apply(&mut self, event: &Event) -> Result<(), ApplyError> {
        let Body::Purchase(purchase) = &event.body else {
            return Ok(());
        };
        let id = &event.aggregate_id;
        if let PurchaseEvent::PurchaseReceived(e) = purchase {
            self.purchases.put(PurchaseRow {
                id: id.clone(),
                stock_item_id: e.stock_item_id.to_string(),
                farmer_id: e.farmer_id.to_string(),
                supplier_id: e.supplier_id.as_str().to_owned(),
                status: name_of(&PurchaseStatus::Received),
                quantity: int(e.quantity.get()),
                unit_cost_cents: int(e.unit_cost_cents.get()),
                total_cost_cents: int(e.total_cost_cents.get()),
                voucher_code: e.voucher_code.as_ref().map(|v| v.as_str().to_owned()),
                supplier_order_ref: None,
                carrier_id: None,
                tracking_ref: None,
                eta: None,
                quantity_received: None,
                cancel_reason: None,
                created_at: to_text(e.received_at),
                updated_at: to_text(e.received_at),
                version: event.version(),
            });
            return Ok(());
        }
        let Some(row) = self.purchases.get_mut(id) else {
            return Err(ApplyError(format!("no purchase {id} to apply it to")));
        };
        let at = match purchase {
            PurchaseEvent::PurchaseReceived(_) => return Ok(()),
            PurchaseEvent::SupplierOrderRequested(e) => {
                row.status = name_of(&PurchaseStatus::OrderRequested);
                row.supplier_order_ref = Some(e.supplier_order_ref.as_str().to_owned());
                e.requested_at
            }
            PurchaseEvent::CarrierReserved(e) => {
                row.status = name_of(&PurchaseStatus::ReserveDelivered);
                row.carrier_id = Some(e.carrier_id.as_str().to_owned());
                row.tracking_ref = Some(e.tracking_ref.as_str().to_owned());
                row.eta = Some(to_text(e.eta));
                e.reserved_at
            }
            PurchaseEvent::GoodsReceived(e) => {
                row.quantity_received = Some(int(e.quantity_received.get()));
                e.received_at
            }
            PurchaseEvent::PurchaseCompleted(e) => {
                row.status = name_of(&PurchaseStatus::Completed);
                e.completed_at
            }
            PurchaseEvent::PurchaseCancelled(e) => {
                row.status = name_of(&PurchaseStatus::Cancelled);
                row.cancel_reason = Some(e.reason.as_str().to_owned());
                e.cancelled_at
            }
        };
        row.updated_at = to_text(at);
        row.version = event.version();
        Ok(())
    }

    fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        self.purchases.drain_into(&mut changes);
        changes
    }

    fn kept(&self) -> usize {
        self.purchases.len()
    }

    fn forget(&mut self) {
        self.purchases.clear();
    }
}

/// Which purchases to list.
#[derive(Debug, Clone, Default)]
pub struct PurchaseFilter {
    /// Only purchases in this status.
    pub status: Option<String>,
    /// Only purchases restocking this stock item.
    pub stock_item_id: Option<String>,
    /// Only purchases from this supplier.
    pub supplier_id: Option<String>,
    /// Only purchases of this farmer's stock items.
    pub farmer_id: Option<String>,
}

const PURCHASE_WHERE: &str = "($1 IS NULL OR status = $1) \
     AND ($2 IS NULL OR stock_item_id = $2) AND ($3 IS NULL OR supplier_id = $3) \
     AND ($4 IS NULL OR farmer_id = $4)";

/// The purchase `id`, if any.
pub async fn purchase(db: &ReadDb, id: &str) -> sqlx::Result<Option<PurchaseRow>> {
    let sql = format!(
        "SELECT {} FROM purchases WHERE id = $1",
        PurchaseRow::TABLE.column_list()
    );
    on_db!(db, pool => sqlx::query_as::<_, PurchaseRow>(&sql).bind(id).fetch_optional(pool).await)
}

/// A page of the purchases matching `filter`, by id, and how many match in all.
pub async fn purchases(
    db: &ReadDb,
    filter: &PurchaseFilter,
    page: &Page,
) -> sqlx::Result<Paged<PurchaseRow>> {
    let (_, after_id) = page.after_pair();
    let sql = format!(
        "SELECT {} FROM purchases WHERE {PURCHASE_WHERE} AND ($5 IS NULL OR id > $5) \
         ORDER BY id LIMIT $6",
        PurchaseRow::TABLE.column_list()
    );
    let count_sql = format!("SELECT count(*) FROM purchases WHERE {PURCHASE_WHERE}");
    on_db!(db, pool => {
        let rows = sqlx::query_as::<_, PurchaseRow>(&sql)
            .bind(filter.status.as_deref())
            .bind(filter.stock_item_id.as_deref())
            .bind(filter.supplier_id.as_deref())
            .bind(filter.farmer_id.as_deref())
            .bind(after_id.as_deref())
            .bind(page.limit_plus_one())
            .fetch_all(pool)
            .await?;
        let total: i64 = sqlx::query_scalar(&count_sql)
            .bind(filter.status.as_deref())
            .bind(filter.stock_item_id.as_deref())
            .bind(filter.supplier_id.as_deref())
            .bind(filter.farmer_id.as_deref())
            .fetch_one(pool)
            .await?;
        Ok(Paged::new(rows, page, total, |r| (r.id.clone(), r.id.clone())))
    })
}

//! The reports (`salesReport`, `inventoryReport`) and the read models' own state
//! (`projections`): for admins, analysts and auditors; a farmer gets its own sales rows.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::NaiveDate;
use event_schemas::values::Role;
use event_store::EventStore;
use projections::models::sales::{self, SalesGrouping};
use projections::models::stock;
use projections::{ReadDb, runtime, status};

use crate::QueryError;
use crate::consistency::{Consistency, consistent};
use crate::error::{refused, unavailable};
use crate::viewer::Viewer;

/// What the sales report's rows group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum SalesGroupBy {
    /// One row per day.
    Day,
    /// One row per product.
    Product,
    /// One row per farmer.
    Farmer,
}

/// One row of the sales report.
#[derive(Debug, SimpleObject)]
pub struct SalesRow {
    /// The day (`YYYY-MM-DD`), product name or farmer id.
    pub key: String,
    /// Orders with lines in the group.
    pub orders: i64,
    /// Units sold.
    pub quantity: i64,
    /// Revenue in cents.
    pub revenue_cents: i64,
}

/// One category of the inventory.
#[derive(Debug, SimpleObject)]
pub struct InventoryRow {
    /// The category.
    pub category: String,
    /// Stock items in it.
    pub items: i64,
    /// Units held.
    pub on_hand: i64,
    /// Units held for orders.
    pub reserved: i64,
    /// Units that can still be ordered.
    pub available: i64,
    /// Items low on stock.
    pub low_stock_count: i64,
}

/// A read model's (or process manager's) state.
#[derive(Debug, SimpleObject)]
pub struct ProjectionState {
    /// Its name.
    pub name: String,
    /// Events it applied.
    pub position: i64,
    /// Events readable after its checkpoint.
    pub lag: i64,
    /// `running`, `failing`, `stopped`...
    pub status: String,
    /// Why it last failed, while failing.
    pub last_error: Option<String>,
    /// When it was last rebuilt.
    pub rebuilt_at: Option<String>,
}

/// The report roots.
#[derive(Default)]
pub struct ReportsQuery;

/// The roles that read reports.
const REPORT_READERS: [Role; 3] = [Role::Admin, Role::Analyst, Role::Auditor];

#[Object]
impl ReportsQuery {
    /// Sales of confirmed and delivered orders from day `from` to day `to` (inclusive,
    /// `YYYY-MM-DD`), grouped; a farmer gets only its own rows.
    async fn sales_report(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        from: String,
        to: String,
        group_by: SalesGroupBy,
    ) -> async_graphql::Result<Vec<SalesRow>> {
        consistent(ctx, consistency).await?;
        let actor = ctx.data::<Viewer>()?.with_role(
            &[Role::Admin, Role::Analyst, Role::Auditor, Role::Farmer],
            "the sales report",
        )?;
        let day = |text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                refused(QueryError::BadInput(format!(
                    "`{text}` is not a YYYY-MM-DD day"
                )))
            })
        };
        let (from, to) = (day(&from)?, day(&to)?);
        if from > to {
            return Err(refused(QueryError::BadInput(format!(
                "`from` ({from}) is after `to` ({to})"
            ))));
        }
        let grouping = match group_by {
            SalesGroupBy::Day => SalesGrouping::Day,
            SalesGroupBy::Product => SalesGrouping::Product,
            SalesGroupBy::Farmer => SalesGrouping::Farmer,
        };
        let farmer = (actor.role == Role::Farmer).then(|| actor.sub.as_str());
        let db = ctx.data::<ReadDb>()?;
        let rows = sales::sales_report(db, from, to, grouping, farmer)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|r| SalesRow {
                key: r.key,
                orders: r.orders,
                quantity: r.quantity,
                revenue_cents: r.revenue_cents,
            })
            .collect())
    }

    /// On hand, reserved and available per category, and how many items are low.
    async fn inventory_report(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
    ) -> async_graphql::Result<Vec<InventoryRow>> {
        consistent(ctx, consistency).await?;
        ctx.data::<Viewer>()?
            .with_role(&REPORT_READERS, "the inventory report")?;
        let db = ctx.data::<ReadDb>()?;
        let rows = stock::inventory_report(db).await.map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|r| InventoryRow {
                category: r.category,
                items: r.items,
                on_hand: r.on_hand,
                reserved: r.reserved,
                available: r.available,
                low_stock_count: r.low_stock_items,
            })
            .collect())
    }

    /// Every read model's and process manager's position, lag, status and last error.
    async fn projections(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ProjectionState>> {
        ctx.data::<Viewer>()?
            .with_role(&REPORT_READERS, "the projections")?;
        let db = ctx.data::<ReadDb>()?;
        let store = ctx.data::<EventStore>()?;
        let rows = status::all(db).await.map_err(unavailable)?;
        let mut states = Vec::with_capacity(rows.len());
        for row in rows {
            let lag = match row.checkpoint() {
                Ok(checkpoint) => runtime::lag(store, checkpoint)
                    .await
                    .map_or(-1, |l| i64::try_from(l.events).unwrap_or(i64::MAX)),
                Err(_) => -1,
            };
            states.push(ProjectionState {
                name: row.name,
                position: row.applied,
                lag,
                status: row.state,
                last_error: row.last_error,
                rebuilt_at: row.rebuilt_at,
            });
        }
        Ok(states)
    }
}

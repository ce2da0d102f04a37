//! The `purchase` and `purchases` roots and the `Purchase` object: restocking from suppliers.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object};
use event_schemas::values::Role;
use projections::ReadDb;
use projections::models::purchases::{self, PurchaseFilter as RowFilter, PurchaseRow};

use crate::QueryError;
use crate::connection::{Total, connection, page};
use crate::consistency::{Consistency, consistent};
use crate::error::{refused, unavailable};
use crate::stored_enum::stored_enum;
use crate::viewer::Viewer;

stored_enum! {
    /// Where a purchase is in its life.
    pub enum PurchaseStatus {
        /// Taken.
        Received => "RECEIVED",
        /// Ordered from the supplier.
        OrderRequested => "ORDER_REQUESTED",
        /// A carrier is reserved.
        ReserveDelivered => "RESERVE_DELIVERED",
        /// The goods arrived.
        Completed => "COMPLETED",
        /// Abandoned.
        Cancelled => "CANCELLED",
    }
}

/// Which purchases to list.
#[derive(Debug, Default, InputObject)]
pub struct PurchaseFilter {
    /// Only purchases in this status.
    pub status: Option<PurchaseStatus>,
    /// Only purchases restocking this stock item.
    pub stock_item_id: Option<ID>,
    /// Only purchases from this supplier.
    pub supplier_id: Option<ID>,
}

/// A restock of a stock item from a supplier through a carrier.
pub struct Purchase(PurchaseRow);

#[Object]
impl Purchase {
    /// The purchase's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The stock item restocked.
    async fn stock_item_id(&self) -> ID {
        ID(self.0.stock_item_id.clone())
    }
    /// The stock item's owner.
    async fn farmer_id(&self) -> ID {
        ID(self.0.farmer_id.clone())
    }
    /// The supplier.
    async fn supplier_id(&self) -> ID {
        ID(self.0.supplier_id.clone())
    }
    /// Where it is in its life.
    async fn status(&self) -> Option<PurchaseStatus> {
        PurchaseStatus::from_stored(&self.0.status)
    }
    /// Units bought.
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    /// What one unit costs, in cents.
    async fn unit_cost_cents(&self) -> i64 {
        self.0.unit_cost_cents
    }
    /// Quantity times unit cost, in cents.
    async fn total_cost_cents(&self) -> i64 {
        self.0.total_cost_cents
    }
    /// The carrier, once reserved.
    async fn carrier_id(&self) -> Option<&str> {
        self.0.carrier_id.as_deref()
    }
    /// The carrier's tracking reference.
    async fn tracking_ref(&self) -> Option<&str> {
        self.0.tracking_ref.as_deref()
    }
    /// When the goods are expected (RFC 3339).
    async fn eta(&self) -> Option<&str> {
        self.0.eta.as_deref()
    }
    /// Units that arrived.
    async fn quantity_received(&self) -> Option<i64> {
        self.0.quantity_received
    }
    /// Its stream version.
    async fn version(&self) -> i64 {
        self.0.version
    }
}

/// The purchase roots.
#[derive(Default)]
pub struct PurchasesQuery;

/// The roles that read purchases: a farmer its own, the others all.
const PURCHASE_READERS: [Role; 4] = [Role::Farmer, Role::Admin, Role::Auditor, Role::Analyst];

#[Object]
impl PurchasesQuery {
    /// One purchase: its stock item's owner, or an admin, auditor or analyst.
    async fn purchase(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        id: ID,
    ) -> async_graphql::Result<Option<Purchase>> {
        consistent(ctx, consistency).await?;
        let actor = ctx
            .data::<Viewer>()?
            .with_role(&PURCHASE_READERS, "purchases")?;
        let db = ctx.data::<ReadDb>()?;
        let Some(row) = purchases::purchase(db, &id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        if actor.role == Role::Farmer && row.farmer_id != actor.sub.as_str() {
            return Err(refused(QueryError::Forbidden(
                "this purchase is another farmer's".into(),
            )));
        }
        Ok(Some(Purchase(row)))
    }

    /// Purchases, by id: a farmer's own, or all for admins, auditors and analysts.
    #[graphql(complexity = "crate::connection::page_complexity(first, child_complexity)")]
    async fn purchases(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        filter: Option<PurchaseFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Purchase, Total, EmptyFields>> {
        consistent(ctx, consistency).await?;
        let actor = ctx
            .data::<Viewer>()?
            .with_role(&PURCHASE_READERS, "purchases")?;
        let db = ctx.data::<ReadDb>()?;
        let filter = filter.unwrap_or_default();
        let rows = RowFilter {
            status: filter.status.map(|s| s.stored().to_owned()),
            stock_item_id: filter.stock_item_id.map(|id| id.0),
            supplier_id: filter.supplier_id.map(|id| id.0),
            farmer_id: (actor.role == Role::Farmer).then(|| actor.sub.as_str().to_owned()),
        };
        let page = page(first, after.as_deref())?;
        let paged = purchases::purchases(db, &rows, &page)
            .await
            .map_err(unavailable)?;
        Ok(connection(paged, after.is_some(), Purchase))
    }
}

//! The `order` and `orders` roots and the `Order` object (API.md "Query API").

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use event_schemas::values::{Actor, Role};
use projections::ReadDb;
use projections::models::deliveries::DeliveryRow;
use projections::models::orders::{
    self, OrderFilter as RowFilter, OrderLineView, OrderRow, TimelineRow,
};

use crate::QueryError;
use crate::connection::{Total, connection, page};
use crate::consistency::{Consistency, consistent};
use crate::deliveries::Delivery;
use crate::error::{refused, unavailable};
use crate::loaders::{Deliveries, Timelines, preload};
use crate::stored_enum::stored_enum;
use crate::viewer::Viewer;

stored_enum! {
    /// Where an order is in its life.
    pub enum OrderStatus {
        /// Placed; its lines are being reserved.
        Pending => "PENDING",
        /// Every line reserved and priced.
        Confirmed => "CONFIRMED",
        /// A line could not be reserved.
        Rejected => "REJECTED",
        /// Cancelled before it left the farm.
        Cancelled => "CANCELLED",
        /// The farmer is preparing it.
        Preparing => "PREPARING",
        /// Waiting for the driver at the farm.
        ReadyForPickup => "READY_FOR_PICKUP",
        /// On its way.
        InTransit => "IN_TRANSIT",
        /// Received by the restaurant.
        Delivered => "DELIVERED",
    }
}

/// Which orders to list.
#[derive(Debug, Default, InputObject)]
pub struct OrderFilter {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only this restaurant's orders.
    pub customer_id: Option<ID>,
    /// Only orders placed with this farmer.
    pub farmer_id: Option<ID>,
    /// Placed at or after this time (RFC 3339).
    pub placed_from: Option<String>,
    /// Placed before this time (RFC 3339).
    pub placed_to: Option<String>,
}

/// One line of an order.
#[derive(Debug, SimpleObject)]
#[graphql(serial)]
pub struct OrderLine {
    /// The stock item ordered.
    pub stock_item_id: ID,
    /// Its product name, once reserved.
    pub product_name: Option<String>,
    /// How many units.
    pub quantity: i64,
    /// The unit price in cents, once reserved.
    pub unit_price_cents: Option<i64>,
}

/// One status change of an order.
#[derive(Debug, SimpleObject)]
pub struct TimelineEntry {
    /// The status it entered.
    pub status: OrderStatus,
    /// When (RFC 3339).
    pub at: String,
    /// Why, where the change says.
    pub note: Option<String>,
}

/// A restaurant's order to one farmer.
pub struct Order(OrderRow, Preloaded);

/// What a page loaded for all its orders at once, so that no order waits on its own query.
#[derive(Default)]
struct Preloaded {
    timeline: Option<Vec<TimelineRow>>,
    delivery: Option<DeliveryRow>,
}

impl Order {
    /// The order of `row`, loading its timeline and delivery when asked.
    pub(crate) fn new(row: OrderRow) -> Self {
        Self(row, Preloaded::default())
    }
}

// Its fields are in memory: one after the other costs less than all at once.
#[Object(serial)]
impl Order {
    /// The order's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Where it is in its life.
    async fn status(&self) -> Option<OrderStatus> {
        OrderStatus::from_stored(&self.0.status)
    }

    /// The restaurant that placed it.
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.clone())
    }

    /// The farmer it is placed with.
    async fn farmer_id(&self) -> ID {
        ID(self.0.farmer_id.clone())
    }

    /// Its lines, priced once confirmed.
    async fn lines(&self) -> async_graphql::Result<Vec<OrderLine>> {
        let lines: Vec<OrderLineView> = serde_json::from_str(&self.0.lines)?;
        Ok(lines
            .into_iter()
            .map(|l| OrderLine {
                stock_item_id: ID(l.stock_item_id),
                product_name: l.product_name,
                quantity: l.quantity,
                unit_price_cents: l.unit_price_cents,
            })
            .collect())
    }

    /// The sum of the line totals in cents, once confirmed.
    async fn total_cents(&self) -> Option<i64> {
        self.0.total_cents
    }

    /// Where to deliver.
    async fn delivery_address(&self) -> async_graphql::Result<Json<serde_json::Value>> {
        Ok(Json(serde_json::from_str(&self.0.delivery_address)?))
    }

    /// When it was placed (RFC 3339).
    async fn placed_at(&self) -> &str {
        &self.0.placed_at
    }

    /// When it last changed (RFC 3339).
    async fn updated_at(&self) -> &str {
        &self.0.updated_at
    }

    /// Every status change, oldest first.
    async fn timeline(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TimelineEntry>> {
        let rows = match &self.1.timeline {
            Some(rows) => rows.clone(),
            None => ctx
                .data::<DataLoader<Timelines>>()?
                .load_one(self.0.id.clone())
                .await
                .map_err(unavailable)?
                .unwrap_or_default(),
        };
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(TimelineEntry {
                    status: OrderStatus::from_stored(&r.status)?,
                    at: r.at,
                    note: r.note,
                })
            })
            .collect())
    }

    /// Its latest delivery, if it has one.
    async fn delivery(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Delivery>> {
        let Some(id) = &self.0.delivery_id else {
            return Ok(None);
        };
        if let Some(row) = &self.1.delivery {
            return Ok(Some(Delivery(row.clone())));
        }
        let row = ctx
            .data::<DataLoader<Deliveries>>()?
            .load_one(id.clone())
            .await
            .map_err(unavailable)?;
        Ok(row.map(Delivery))
    }

    /// Its stream version.
    async fn version(&self) -> i64 {
        self.0.version
    }
}

/// The order roots.
#[derive(Default)]
pub struct OrdersQuery;

/// Whether `actor` may read the order `row`: its customer, its farmer, or an admin, auditor or
/// analyst.
pub(crate) fn may_read(actor: &Actor, row: &OrderRow) -> bool {
    match actor.role {
        Role::Restaurant => row.customer_id == actor.sub.as_str(),
        Role::Farmer => row.farmer_id == actor.sub.as_str(),
        _ => Viewer::sees_all(actor),
    }
}

/// The roles that read orders at all; each sees only its own but admins, auditors, analysts.
pub(crate) const ORDER_READERS: [Role; 5] = [
    Role::Restaurant,
    Role::Farmer,
    Role::Admin,
    Role::Auditor,
    Role::Analyst,
];

#[Object]
impl OrdersQuery {
    /// One order: its customer, its farmer, or an admin, auditor or analyst.
    async fn order(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        id: ID,
    ) -> async_graphql::Result<Option<Order>> {
        consistent(ctx, consistency).await?;
        let actor = ctx.data::<Viewer>()?.with_role(&ORDER_READERS, "orders")?;
        let db = ctx.data::<ReadDb>()?;
        let Some(row) = orders::order(db, &id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        if !may_read(actor, &row) {
            return Err(refused(QueryError::Forbidden(
                "this order is another actor's".into(),
            )));
        }
        Ok(Some(Order::new(row)))
    }

    /// Orders, newest first: a restaurant's own, a farmer's placed with it, or all for admins,
    /// auditors and analysts.
    #[graphql(complexity = "crate::connection::page_complexity(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        filter: Option<OrderFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Order, Total, EmptyFields>> {
        consistent(ctx, consistency).await?;
        let actor = ctx.data::<Viewer>()?.with_role(&ORDER_READERS, "orders")?;
        let db = ctx.data::<ReadDb>()?;
        let filter = filter.unwrap_or_default();
        let mut rows = RowFilter {
            status: filter.status.map(|s| s.stored().to_owned()),
            customer_id: filter.customer_id.map(|id| id.0),
            farmer_id: filter.farmer_id.map(|id| id.0),
            placed_from: filter.placed_from.as_deref().map(time).transpose()?,
            placed_to: filter.placed_to.as_deref().map(time).transpose()?,
        };
        // Each sees its own: a filter naming another actor is refused, not emptied.
        let own = |asked: &mut Option<String>| -> async_graphql::Result<()> {
            match asked {
                Some(other) if other != actor.sub.as_str() => Err(refused(QueryError::Forbidden(
                    "a filter may name only the caller itself".into(),
                ))),
                _ => {
                    *asked = Some(actor.sub.as_str().to_owned());
                    Ok(())
                }
            }
        };
        match actor.role {
            Role::Restaurant => own(&mut rows.customer_id)?,
            Role::Farmer => own(&mut rows.farmer_id)?,
            _ => {}
        }
        let page = page(first, after.as_deref())?;
        let paged = orders::orders(db, &rows, &page)
            .await
            .map_err(unavailable)?;
        let rows = || paged.rows.iter().map(|(_, row)| row);
        let timelines = preload::<Timelines>(ctx, "timeline", rows().map(|r| r.id.clone()));
        let mut timelines = timelines.await?;
        let deliveries = rows().filter_map(|r| r.delivery_id.clone());
        let deliveries = preload::<Deliveries>(ctx, "delivery", deliveries).await?;
        Ok(connection(paged, after.is_some(), |row| {
            let loaded = Preloaded {
                timeline: timelines
                    .as_mut()
                    .map(|found| found.remove(&row.id).unwrap_or_default()),
                delivery: deliveries
                    .as_ref()
                    .zip(row.delivery_id.as_ref())
                    .and_then(|(found, id)| found.get(id).cloned()),
            };
            Order(row, loaded)
        }))
    }
}

/// An RFC 3339 time in the read models' stored form.
fn time(text: &str) -> async_graphql::Result<String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| projections::time::to_text(t.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            refused(QueryError::BadInput(format!(
                "`{text}` is not an RFC 3339 time: {e}"
            )))
        })
}

//! The `delivery` and `deliveries` roots and the `Delivery` object.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use event_schemas::values::{Actor, Role};
use projections::ReadDb;
use projections::models::deliveries::{self, DeliveryFilter as RowFilter, DeliveryRow};
use projections::models::orders;

use crate::QueryError;
use crate::connection::{Total, connection, page};
use crate::consistency::{Consistency, consistent};
use crate::error::{refused, unavailable};
use crate::stored_enum::stored_enum;
use crate::viewer::Viewer;

stored_enum! {
    /// Where a delivery is in its life.
    pub enum DeliveryStatus {
        /// Waiting for a driver.
        Scheduled => "SCHEDULED",
        /// A driver took it.
        Assigned => "ASSIGNED",
        /// Picked up, on its way.
        InTransit => "IN_TRANSIT",
        /// Handed over.
        Delivered => "DELIVERED",
        /// Could not be delivered.
        Failed => "FAILED",
    }
}

/// Which deliveries to list.
#[derive(Debug, Default, InputObject)]
pub struct DeliveryFilter {
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// Only this driver's deliveries.
    pub driver_id: Option<ID>,
    /// Only this order's deliveries.
    pub order_id: Option<ID>,
}

/// Where the driver last was.
#[derive(Debug, SimpleObject)]
pub struct Location {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// When the position was taken (RFC 3339).
    pub recorded_at: Option<String>,
}

/// A delivery of an order from the farm to the restaurant.
pub struct Delivery(pub(crate) DeliveryRow);

// Its fields are in memory: one after the other costs less than all at once.
#[Object(serial)]
impl Delivery {
    /// The delivery's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The order it carries.
    async fn order_id(&self) -> ID {
        ID(self.0.order_id.clone())
    }
    /// Where it is in its life.
    async fn status(&self) -> Option<DeliveryStatus> {
        DeliveryStatus::from_stored(&self.0.status)
    }
    /// The driver, once assigned.
    async fn driver_id(&self) -> Option<ID> {
        self.0.driver_id.clone().map(ID)
    }
    /// The driver's last reported position.
    async fn last_location(&self) -> Option<Location> {
        Some(Location {
            lat: self.0.last_lat?,
            lon: self.0.last_lon?,
            recorded_at: self.0.last_recorded_at.clone(),
        })
    }
    /// The expected arrival the driver gave (RFC 3339).
    async fn eta(&self) -> Option<&str> {
        self.0.eta.as_deref()
    }
    /// The proof of delivery, once handed over.
    async fn proof_ref(&self) -> Option<&str> {
        self.0.proof_ref.as_deref()
    }
    /// When it was handed over (RFC 3339).
    async fn delivered_at(&self) -> Option<&str> {
        self.0.delivered_at.as_deref()
    }
    /// Its stream version.
    async fn version(&self) -> i64 {
        self.0.version
    }
}

/// The delivery roots.
#[derive(Default)]
pub struct DeliveriesQuery;

/// Whether `actor` may see `row`: its driver, the order's customer or farmer, or an admin,
/// auditor or analyst.
pub(crate) async fn may_see(
    db: &ReadDb,
    actor: &Actor,
    row: &DeliveryRow,
) -> async_graphql::Result<bool> {
    if Viewer::sees_all(actor) {
        return Ok(true);
    }
    match actor.role {
        Role::Distributor => Ok(row.driver_id.as_deref() == Some(actor.sub.as_str())),
        Role::Restaurant | Role::Farmer => {
            let Some(order) = orders::order(db, &row.order_id)
                .await
                .map_err(unavailable)?
            else {
                return Ok(false);
            };
            let party = if actor.role == Role::Restaurant {
                &order.customer_id
            } else {
                &order.farmer_id
            };
            Ok(party == actor.sub.as_str())
        }
        _ => Ok(false),
    }
}

#[Object]
impl DeliveriesQuery {
    /// One delivery: its driver, its order's customer or farmer, or an admin, auditor or
    /// analyst.
    async fn delivery(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        id: ID,
    ) -> async_graphql::Result<Option<Delivery>> {
        consistent(ctx, consistency).await?;
        let actor = ctx.data::<Viewer>()?.authenticated()?;
        let db = ctx.data::<ReadDb>()?;
        let Some(row) = deliveries::delivery(db, &id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        if !may_see(db, actor, &row).await? {
            return Err(refused(QueryError::Forbidden(
                "this delivery is another actor's".into(),
            )));
        }
        Ok(Some(Delivery(row)))
    }

    /// Deliveries, by id: a distributor's own, or all for admins, auditors and analysts.
    #[graphql(complexity = "crate::connection::page_complexity(first, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        filter: Option<DeliveryFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Delivery, Total, EmptyFields>> {
        consistent(ctx, consistency).await?;
        let actor = ctx.data::<Viewer>()?.with_role(
            &[Role::Distributor, Role::Admin, Role::Auditor, Role::Analyst],
            "deliveries",
        )?;
        let db = ctx.data::<ReadDb>()?;
        let filter = filter.unwrap_or_default();
        let mut rows = RowFilter {
            status: filter.status.map(|s| s.stored().to_owned()),
            driver_id: filter.driver_id.map(|id| id.0),
            order_id: filter.order_id.map(|id| id.0),
        };
        if actor.role == Role::Distributor {
            match &rows.driver_id {
                Some(other) if other != actor.sub.as_str() => {
                    return Err(refused(QueryError::Forbidden(
                        "a distributor lists only its own deliveries".into(),
                    )));
                }
                _ => rows.driver_id = Some(actor.sub.as_str().to_owned()),
            }
        }
        let page = page(first, after.as_deref())?;
        let paged = deliveries::deliveries(db, &rows, &page)
            .await
            .map_err(unavailable)?;
        Ok(connection(paged, after.is_some(), Delivery))
    }
}

//! The `deliveries` read model: status, driver, last location, ETA and proof of each delivery.

use async_trait::async_trait;
use event_schemas::{DeliveryEvent, DeliveryStatus};

use crate::cache::RowCache;
use crate::changes::Changes;
use crate::convert::{json, name_of};
use crate::db::{ReadDb, on_db};
use crate::event::{Body, Event};
use crate::projection::{ApplyError, Projection};
use crate::query::{Page, Paged};
use crate::table::{KeyedRow, Row, Table, Tables, table_row};
use crate::time::to_text;

table_row! {
    /// One delivery.
    pub struct DeliveryRow in "deliveries" key(id) {
        /// The delivery id.
        pub id: String,
        /// The order it carries.
        pub order_id: String,
        /// Its status (`SCHEDULED`, ...).
        pub status: String,
        /// The driver, once assigned.
        pub driver_id: Option<String>,
        /// The vehicle, if given.
        pub vehicle: Option<String>,
        /// Where to pick up, JSON (`null`: at the order's farm).
        pub pickup_address: Option<String>,
        /// Where to deliver, JSON.
        pub dropoff_address: String,
        /// The window's start.
        pub window_start: String,
        /// The window's end.
        pub window_end: String,
        /// The last reported latitude.
        pub last_lat: Option<f64>,
        /// The last reported longitude.
        pub last_lon: Option<f64>,
        /// When the last position was taken.
        pub last_recorded_at: Option<String>,
        /// The expected arrival, as last reported.
        pub eta: Option<String>,
        /// Who received it.
        pub recipient_name: Option<String>,
        /// The proof of delivery.
        pub proof_ref: Option<String>,
        /// When it was handed over.
        pub delivered_at: Option<String>,
        /// Why it failed.
        pub failure_reason: Option<String>,
        /// When it was scheduled.
        pub scheduled_at: String,
        /// When it last changed.
        pub updated_at: String,
        /// Its stream version.
        pub version: i64,
    }
    index by_status(status, id);
    index by_driver(driver_id, id);
    index by_order(order_id, id);
}

impl KeyedRow for DeliveryRow {
    fn key(&self) -> &str {
        &self.id
    }
}

static TABLES: &[&Table] = &[&DeliveryRow::TABLE];

/// Builds `deliveries`.
#[derive(Debug, Default)]
pub struct DeliveriesProjection {
    deliveries: RowCache<DeliveryRow>,
}

#[async_trait]
impl Projection for DeliveriesProjection {
    fn name(&self) -> &'static str {
        "deliveries"
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
                Body::Delivery(DeliveryEvent::DeliveryScheduled(_)) => {
                    self.deliveries.expect_new(&event.aggregate_id);
                }
                Body::Delivery(_) => self.deliveries.want(&event.aggregate_id),
                _ => {}
            }
        }
        self.deliveries.load_wanted(db, tables).await
    }

    fn apply(&mut self, event: &Event) -> Result<(), ApplyError> {
        let Body::Delivery(delivery) = &event.body else {
            return Ok(());
        };
        let id = &event.aggregate_id;
        if let DeliveryEvent::DeliveryScheduled(e) = delivery {
            self.deliveries.put(DeliveryRow {
                id: id.clone(),
                order_id: e.order_id.to_string(),
                status: name_of(&DeliveryStatus::Scheduled),
                driver_id: None,
                vehicle: None,
                pickup_address: e.pickup_address.as_ref().map(json),
                dropoff_address: json(&e.dropoff_address),
                window_start: to_text(e.window.start),
                window_end: to_text(e.window.end),
                last_lat: None,
                last_lon: None,
                last_recorded_at: None,
                eta: None,
                recipient_name: None,
                proof_ref: None,
                delivered_at: None,
                failure_reason: None,
                scheduled_at: to_text(e.scheduled_at),
                updated_at: to_text(e.scheduled_at),
                version: event.version(),
            });
            return Ok(());
        }
        let Some(row) = self.deliveries.get_mut(id) else {
            return Err(ApplyError(format!("no delivery {id} to apply it to")));
        };
        let at = match delivery {
            DeliveryEvent::DeliveryScheduled(_) => return Ok(()),
            DeliveryEvent::DriverAssigned(e) => {
                row.status = name_of(&DeliveryStatus::Assigned);
                row.driver_id = Some(e.driver_id.to_string());
                row.vehicle = e.vehicle.as_ref().map(|v| v.as_str().to_owned());
                e.assigned_at
            }
            DeliveryEvent::DeliveryPickedUp(e) => {
                row.status = name_of(&DeliveryStatus::InTransit);
                e.picked_up_at
            }
            DeliveryEvent::LocationUpdated(e) => {
                row.last_lat = Some(e.location.lat.degrees());
                row.last_lon = Some(e.location.lon.degrees());
                row.last_recorded_at = Some(to_text(e.recorded_at));
                if let Some(eta) = e.eta {
                    row.eta = Some(to_text(eta));
                }
                e.recorded_at
            }
            DeliveryEvent::DeliveryCompleted(e) => {
                row.status = name_of(&DeliveryStatus::Delivered);
                row.recipient_name = Some(e.recipient_name.as_str().to_owned());
                row.proof_ref = e.proof_ref.as_ref().map(|p| p.as_str().to_owned());
                row.delivered_at = Some(to_text(e.delivered_at));
                e.delivered_at
            }
            DeliveryEvent::DeliveryFailed(e) => {
                row.status = name_of(&DeliveryStatus::Failed);
                row.failure_reason = Some(e.reason.as_str().to_owned());
                e.failed_at
            }
        };
        row.updated_at = to_text(at);
        row.version = event.version();
        Ok(())
    }

    fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        self.deliveries.drain_into(&mut changes);
        changes
    }

    fn kept(&self) -> usize {
        self.deliveries.len()
    }

    fn forget(&mut self) {
        self.deliveries.clear();
    }
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only deliveries in this status.
    pub status: Option<String>,
    /// Only this driver's deliveries.
    pub driver_id: Option<String>,
    /// Only this order's deliveries.
    pub order_id: Option<String>,
}

const DELIVERY_WHERE: &str = "($1 IS NULL OR status = $1) AND ($2 IS NULL OR driver_id = $2) \
     AND ($3 IS NULL OR order_id = $3)";

/// The deliveries of `ids` that exist (one query per chunk of ids).
pub async fn deliveries_by_id(db: &ReadDb, ids: &[String]) -> sqlx::Result<Vec<DeliveryRow>> {
    crate::changes::load_rows::<DeliveryRow>(db, crate::table::Tables::Live, ids).await
}

/// The delivery `id`, if any.
pub async fn delivery(db: &ReadDb, id: &str) -> sqlx::Result<Option<DeliveryRow>> {
    let sql = format!(
        "SELECT {} FROM deliveries WHERE id = $1",
        DeliveryRow::TABLE.column_list()
    );
    on_db!(db, pool => sqlx::query_as::<_, DeliveryRow>(&sql).bind(id).fetch_optional(pool).await)
}

/// A page of the deliveries matching `filter`, by id, and how many match in all.
pub async fn deliveries(
    db: &ReadDb,
    filter: &DeliveryFilter,
    page: &Page,
) -> sqlx::Result<Paged<DeliveryRow>> {
    let (_, after_id) = page.after_pair();
    let sql = format!(
        "SELECT {} FROM deliveries WHERE {DELIVERY_WHERE} AND ($4 IS NULL OR id > $4) \
         ORDER BY id LIMIT $5",
        DeliveryRow::TABLE.column_list()
    );
    let count_sql = format!("SELECT count(*) FROM deliveries WHERE {DELIVERY_WHERE}");
    on_db!(db, pool => {
        let rows = sqlx::query_as::<_, DeliveryRow>(&sql)
            .bind(filter.status.as_deref())
            .bind(filter.driver_id.as_deref())
            .bind(filter.order_id.as_deref())
            .bind(after_id.as_deref())
            .bind(page.limit_plus_one())
            .fetch_all(pool)
            .await?;
        let total: i64 = sqlx::query_scalar(&count_sql)
            .bind(filter.status.as_deref())
            .bind(filter.driver_id.as_deref())
            .bind(filter.order_id.as_deref())
            .fetch_one(pool)
            .await?;
        Ok(Paged::new(rows, page, total, |r| (r.id.clone(), r.id.clone())))
    })
}

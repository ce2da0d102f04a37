//! The read models: each module owns a projection, its tables and the queries over them.

pub mod deliveries;
pub mod inspections;
pub mod orders;
pub mod purchases;
pub mod sales;
pub mod stock;

use crate::projection::Projection;

/// Every projection, in the order they are reported.
pub fn all() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(orders::OrdersProjection::default()),
        Box::new(stock::StockProjection::default()),
        Box::new(deliveries::DeliveriesProjection::default()),
        Box::new(inspections::InspectionsProjection::default()),
        Box::new(purchases::PurchasesProjection::default()),
        Box::new(sales::SalesProjection::default()),
    ]
}

/// The names of every projection.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name()).collect()
}

/// The projection named `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Projection>> {
    all().into_iter().find(|p| p.name() == name)
}

//! supplyline's GraphQL read side (API.md "Query API") over the read models that the
//! `projections` crate owns: each root resolves through that crate's typed queries, and every
//! answer passes the caller's role and ownership first.
//!
//! Built so far: the schema with the `order`, `orders`, `stockItem` and `stockItems` roots as
//! Relay connections, the JWT viewer and its rules, and the HTTP route with GraphiQL. The
//! other roots, the audit queries, the consistency wait and subscriptions follow.

mod connection;
mod error;
mod http;
mod orders;
mod schema;
mod stock;
mod viewer;

pub use error::QueryError;
pub use http::router;
pub use schema::{QuerySchema, build_schema};
pub use viewer::Viewer;

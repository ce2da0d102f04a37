//! supplyline's GraphQL read side (API.md "Query API") over the read models that the
//! `projections` crate owns: each root resolves through that crate's typed queries, and every
//! answer passes the caller's role and ownership first.
//!
//! It serves the read roots (orders, stock items, deliveries, purchases, inspections,
//! reports, the projections' state) as Relay connections, the audit roots, the JWT viewer and
//! its rules, read-your-writes, batch loaders and the query limits, and the HTTP route with
//! GraphiQL, the `events` root over the log, and the subscriptions over WebSocket, fed by one
//! follower of the log per process.

mod audit;
mod connection;
mod consistency;
mod deliveries;
mod error;
mod events;
mod feed;
mod http;
mod inspections;
mod limits;
mod loaders;
mod orders;
mod parsed;
mod purchases;
mod reports;
mod schema;
mod sockets;
mod stock;
mod stored_enum;
mod subscriptions;
mod tlog;
mod viewer;
mod ws;

pub use consistency::{CONSISTENCY_WAIT, Checkpoints, Consistency};
pub use error::QueryError;
pub use http::{limited_router, router};
pub use limits::{MAX_ALIASES, MAX_ROOT_FIELDS};
pub use schema::{QuerySchema, build_schema, sdl};
pub use sockets::{MAX_SOCKETS, MAX_SOCKETS_PER_ACTOR, MAX_SUBSCRIPTIONS_PER_SOCKET, Sockets};
pub use viewer::Viewer;

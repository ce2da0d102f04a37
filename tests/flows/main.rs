//! End to end, over HTTP, on SQLite and on PostgreSQL: the farm-to-table flows that the
//! process managers carry on by themselves once a client has spoken.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

mod deliveries;
mod graphql;
mod inspections;
mod metadata;
mod orders;
mod purchases;
mod subscriptions;

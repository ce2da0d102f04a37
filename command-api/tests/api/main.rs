//! End-to-end tests of the command API: the real router on a random port against SQLite and
//! against PostgreSQL, driven over HTTP like a client.
//!
//! Every test in the [`api_test!`] macro becomes a module with a `sqlite` and a `postgres`
//! test, each on a fresh store. PostgreSQL comes from `DATABASE_URL` (a database of its own per
//! test, dropped afterwards); without it the `postgres` variants print a loud `SKIPPED` line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

/// Instantiates an API test for both backends: `api_test!(name, |app| async move { .. })`.
macro_rules! api_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::support::on_sqlite($body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::support::on_postgres($body).await;
            }
        }
    };
}

mod auth;
mod connections;
mod deliveries;
mod idempotency;
mod inspections;
mod operations;
mod orders;
mod purchases;
mod stock_items;
mod store_down;
mod support;
mod truthful;

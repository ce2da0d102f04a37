//! The event store's conformance suite (DESIGN.md "The log", "Tests"): written once, run
//! against SQLite and against a real PostgreSQL through the public [`event_store::EventStore`].
//!
//! Every test in the [`conformance!`] macro becomes a module with a `sqlite` and a `postgres`
//! test, each on a fresh, migrated store. PostgreSQL comes from `DATABASE_URL` (each test
//! creates its own database there and drops it afterwards); without it the `postgres` variants
//! print a loud `SKIPPED` line and pass.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

/// Instantiates a conformance test for both backends: `conformance!(name, |db| async move {
/// .. })` becomes `mod name { fn sqlite(), fn postgres() }`, each running the body with a
/// [`support::TestStore`] on a fresh, migrated store of that backend.
macro_rules! conformance {
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

mod append;
mod blocked;
mod executor;
mod fixtures;
mod group_commit;
mod hash_chain;
mod hostile;
mod hot;
mod idempotency;
mod read;
mod snapshots;
mod support;
mod unavailable;
mod upcasting;

//! The read side against SQLite and a real PostgreSQL: read models after scripted commands,
//! replays, rebuilds under load, failures and standbys.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod counts;
mod failure;
mod process;
mod rebuild;
mod schema;
mod scripted;
mod standby;
mod support;

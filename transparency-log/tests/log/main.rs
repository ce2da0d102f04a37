//! The transparency log's tests against published vectors and its properties, in one binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixture;
mod notes;
mod properties;
mod rfc6962;

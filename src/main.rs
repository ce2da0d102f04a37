//! The `supplyline` binary.
fn main() {}

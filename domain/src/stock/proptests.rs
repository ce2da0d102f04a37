//! Property tests of the `stock` aggregate.

//! Property tests of the `order` aggregate.

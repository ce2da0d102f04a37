//! Given/when/then tests of the `stock` aggregate. PLACEHOLDER.

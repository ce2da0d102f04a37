//! Given/when/then tests of the `delivery` aggregate. PLACEHOLDER.

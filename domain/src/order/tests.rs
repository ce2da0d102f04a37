//! Given/when/then tests of the `order` aggregate. PLACEHOLDER.

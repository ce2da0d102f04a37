//! Given/when/then tests of the `purchase` aggregate. PLACEHOLDER.

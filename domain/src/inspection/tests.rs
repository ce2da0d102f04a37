//! Given/when/then tests of the `inspection` aggregate. PLACEHOLDER.

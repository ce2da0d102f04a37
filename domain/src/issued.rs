//! A command as issued: who issues it, when, and what it asks.

use chrono::{DateTime, Utc};
use event_schemas::values::Actor;

/// A command with the actor who issues it and the time it is issued at.
///
/// Time comes in here, never from a clock inside the domain, so every decision is replayable.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued<C> {
    /// Who issues the command (authenticated by the caller).
    pub by: Actor,
    /// When it is issued.
    pub at: DateTime<Utc>,
    /// What it asks.
    pub command: C,
}

impl<C> Issued<C> {
    /// `command`, issued by `by` at `at`.
    pub fn new(by: Actor, at: DateTime<Utc>, command: C) -> Self {
        Self { by, at, command }
    }
}

//! Who is asking: the actor of the request's JWT, checked with the command API's rules and
//! keys, and what that actor may read.

use event_schemas::values::{Actor, Role};

use crate::QueryError;
use crate::error::refused;

/// The caller of a query: an authenticated actor, or nobody (every root then refuses).
#[derive(Debug, Clone)]
pub struct Viewer(Result<Actor, String>);

impl Viewer {
    /// An authenticated caller.
    pub fn actor(actor: Actor) -> Self {
        Self(Ok(actor))
    }

    /// A caller without a valid token, and why.
    pub fn anonymous(why: impl Into<String>) -> Self {
        Self(Err(why.into()))
    }

    /// The actor, or `UNAUTHENTICATED`.
    pub fn authenticated(&self) -> async_graphql::Result<&Actor> {
        self.0
            .as_ref()
            .map_err(|why| refused(QueryError::Unauthenticated(why.clone())))
    }

    /// The actor, if its role is one of `roles`; else `FORBIDDEN` (or `UNAUTHENTICATED`).
    pub fn with_role(&self, roles: &[Role], what: &str) -> async_graphql::Result<&Actor> {
        let actor = self.authenticated()?;
        if roles.contains(&actor.role) {
            Ok(actor)
        } else {
            Err(refused(QueryError::Forbidden(format!(
                "the {} role may not read {what}",
                actor.role.as_str()
            ))))
        }
    }

    /// Whether the actor reads everything (admins, auditors, analysts).
    pub fn sees_all(actor: &Actor) -> bool {
        matches!(actor.role, Role::Admin | Role::Auditor | Role::Analyst)
    }
}

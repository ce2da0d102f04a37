//! Who is asking: the actor of the request's JWT, checked with the command API's rules and
//! keys, and what that actor may read.

use std::sync::Arc;

use command_api::Authenticator;
use event_schemas::values::{Actor, Role};

use crate::QueryError;
use crate::error::refused;

/// The caller of a query: an authenticated actor, or nobody (every root then refuses).
#[derive(Debug, Clone)]
pub struct Viewer {
    actor: Result<Actor, String>,
    /// For a connection that outlives its first request (a WebSocket): the token to check
    /// again each time, so that it stops at the token's expiry.
    session: Option<Session>,
}

/// The token a long-lived connection authenticated with.
#[derive(Clone)]
struct Session {
    auth: Arc<Authenticator>,
    token: Arc<str>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session { .. }")
    }
}

impl Viewer {
    /// An authenticated caller.
    pub fn actor(actor: Actor) -> Self {
        Self {
            actor: Ok(actor),
            session: None,
        }
    }

    /// A caller without a valid token, and why.
    pub fn anonymous(why: impl Into<String>) -> Self {
        Self {
            actor: Err(why.into()),
            session: None,
        }
    }

    /// The caller of a long-lived connection opened with `token`: authenticated now, and
    /// again at every [`Self::authenticated`].
    pub fn connection(auth: Arc<Authenticator>, token: &str) -> Self {
        let actor = auth.authenticate(token).map_err(|e| e.to_string());
        Self {
            actor,
            session: Some(Session {
                auth,
                token: Arc::from(token),
            }),
        }
    }

    /// The actor, or `UNAUTHENTICATED` (also once a connection's token has expired).
    pub fn authenticated(&self) -> async_graphql::Result<&Actor> {
        let actor = self
            .actor
            .as_ref()
            .map_err(|why| refused(QueryError::Unauthenticated(why.clone())))?;
        if let Some(session) = &self.session {
            session
                .auth
                .authenticate(&session.token)
                .map_err(|e| refused(QueryError::Unauthenticated(e.to_string())))?;
        }
        Ok(actor)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use command_api::{Authenticator, JwtConfig, JwtKey, mint_token};
    use event_schemas::values::Role;

    use super::Viewer;

    /// A connection's caller is refused once its token expires, though it was let in: an open
    /// socket keeps no access its token no longer grants.
    #[tokio::test]
    async fn a_connection_is_refused_once_its_token_expires() {
        let mut jwt = JwtConfig::new(JwtKey::Secret(
            b"a-test-secret-of-at-least-32-bytes".to_vec(),
        ));
        jwt.leeway = Duration::ZERO;
        let auth = Arc::new(Authenticator::new(&jwt).expect("a valid configuration"));
        let token = mint_token(&jwt, "bistro", Role::Restaurant, 1).expect("a token");
        let viewer = Viewer::connection(auth, &token);
        assert!(viewer.authenticated().is_ok());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let refused = viewer.authenticated().expect_err("expired");
        assert!(refused.message.contains("expired"), "{}", refused.message);
    }
}

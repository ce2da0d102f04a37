//! Who issues a command: the JWT's `sub` and `role`, or the system's process managers.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InvalidValue;
use super::text::bounded;

/// The id of an actor: a JWT `sub` (a farmer, restaurant, driver, inspector...).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct ActorId(String);

impl ActorId {
    /// Checks a raw id: trimmed, 1 to 200 characters, no control characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded("actor id", raw, 1, 200, false).map(Self)
    }

    /// The id itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ActorId {
    type Error = InvalidValue;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<ActorId> for String {
    fn from(id: ActorId) -> Self {
        id.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an actor may do (API.md "Identities and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Lists and manages own stock items; prepares own orders; buys restock.
    Farmer,
    /// Places and cancels own orders.
    Restaurant,
    /// Delivers orders assigned to it.
    Distributor,
    /// Inspects farms.
    Inspector,
    /// May do everything.
    Admin,
    /// Reads everything, changes nothing.
    Auditor,
    /// Reads reports and rebuilds projections.
    Analyst,
    /// The product itself: process managers issuing internal commands. Never in a token.
    System,
}

impl Role {
    /// Parses a JWT `role` claim; `system` is not a role a token may carry.
    pub fn from_claim(raw: &str) -> Option<Self> {
        Some(match raw {
            "farmer" => Self::Farmer,
            "restaurant" => Self::Restaurant,
            "distributor" => Self::Distributor,
            "inspector" => Self::Inspector,
            "admin" => Self::Admin,
            "auditor" => Self::Auditor,
            "analyst" => Self::Analyst,
            _ => return None,
        })
    }

    /// The role's name as in tokens and metadata.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Farmer => "farmer",
            Self::Restaurant => "restaurant",
            Self::Distributor => "distributor",
            Self::Inspector => "inspector",
            Self::Admin => "admin",
            Self::Auditor => "auditor",
            Self::Analyst => "analyst",
            Self::System => "system",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated actor: who issues a command and in which role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// The actor's id (the JWT `sub`).
    pub sub: ActorId,
    /// The actor's role.
    pub role: Role,
}

impl Actor {
    /// An actor with the given id and role.
    pub fn new(sub: ActorId, role: Role) -> Self {
        Self { sub, role }
    }

    /// The product's own process managers.
    pub fn system(process: &str) -> Self {
        Self {
            sub: ActorId(format!("system:{process}")),
            role: Role::System,
        }
    }

    /// Whether this actor is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this actor is the product itself.
    pub fn is_system(&self) -> bool {
        self.role == Role::System
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_cannot_claim_the_system_role() {
        assert_eq!(Role::from_claim("system"), None);
        assert_eq!(Role::from_claim("farmer"), Some(Role::Farmer));
    }

    #[test]
    fn every_claimable_role_round_trips() {
        for role in [
            Role::Farmer,
            Role::Restaurant,
            Role::Distributor,
            Role::Inspector,
            Role::Admin,
            Role::Auditor,
            Role::Analyst,
        ] {
            assert_eq!(Role::from_claim(role.as_str()), Some(role));
        }
    }
}

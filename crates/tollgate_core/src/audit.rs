//! The audit log: who did what to which target, written in the same transaction as the change.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AuditId, UserId};

/// Who acted: a user (through the API or a page), the command line, or tollgate itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Actor {
    User(UserId),
    Cli,
    System,
}

impl Actor {
    /// The form stored in the `actor` column.
    pub fn as_stored(&self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::Cli => "cli".to_string(),
            Actor::System => "system".to_string(),
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "cli" => Some(Actor::Cli),
            "system" => Some(Actor::System),
            other => other
                .strip_prefix("user:")
                .and_then(|id| UserId::parse(id).ok())
                .map(Actor::User),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub id: AuditId,
    pub actor: Actor,
    /// A stable dotted name such as `user.signup` or `api_key.revoke`.
    pub action: String,
    /// What was acted upon, as `kind:id` (e.g. `user:…`).
    pub target: String,
    pub details: serde_json::Value,
    pub at: OffsetDateTime,
}

impl AuditEntry {
    pub fn new(
        actor: Actor,
        action: &str,
        target: String,
        details: serde_json::Value,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            id: AuditId::new(),
            actor,
            action: action.to_string(),
            target,
            details,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_survive_their_stored_form() {
        for actor in [Actor::User(UserId::new()), Actor::Cli, Actor::System] {
            assert_eq!(Actor::from_stored(&actor.as_stored()), Some(actor));
        }
        assert_eq!(Actor::from_stored("user:nonsense"), None);
    }
}

//! `[database]`: the URL (never printed with its password), the pool, the inbox journal,
//! row-level security.

use serde::{Deserialize, Serialize};
use tollgate_core::secret::REDACTED;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (the default, created on first run) or `postgres://…`.
    pub url: DatabaseUrl,
    pub max_connections: u32,
    /// On a SQLite file: webhook events are appended to a synced journal beside it before
    /// their 2xx, and become inbox rows before anything reads the inbox (docs/inbox.md).
    pub inbox_journal: bool,
    /// PostgreSQL only: tenant rows behind row-level security as well as the store's tenant
    /// filters (a second wall). Needs a login role that may create the `tollgate_tenant` role.
    pub row_level_security: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl("sqlite://data/tollgate.db".to_string()),
            max_connections: 10,
            inbox_journal: true,
            row_level_security: false,
        }
    }
}

/// A database URL whose printed forms hide the password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `postgres://user:[redacted]@host/db`: the URL with any password replaced.
    pub fn redacted(&self) -> String {
        let Some(scheme_end) = self.0.find("://").map(|i| i + 3) else {
            return self.0.clone();
        };
        let rest = &self.0[scheme_end..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let hidden = if userinfo.contains(':') {
                    format!("{user}:{REDACTED}")
                } else {
                    user.to_string()
                };
                format!("{}{hidden}{}", &self.0[..scheme_end], &rest[at..])
            }
            None => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

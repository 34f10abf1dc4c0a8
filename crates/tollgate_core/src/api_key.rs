//! Per-user API keys (seed 002's `Authorization: Bearer <key>`): shown once, stored as a hash,
//! recognisable by their `tg_live_` / `tg_test_` prefix.

use time::OffsetDateTime;

use crate::account::Role;
use crate::audit::{Actor, AuditEntry};
use crate::store::{ApiKeyStore, StoreError};
use crate::{ApiKeyId, Clock, Secret, UserId, token};

pub const LIVE_PREFIX: &str = "tg_live_";
pub const TEST_PREFIX: &str = "tg_test_";
/// How much of a key is kept in clear to let a person tell keys apart.
const DISPLAY_LENGTH: usize = 12;

/// Live keys go with a live Stripe key; test keys with test keys or the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    Live,
    Test,
}

/// What a key may do. A host application's service key needs `entitlements:read` and
/// `usage:write`, not the rights of the person who made it; `admin` and `tenant` are never
/// given unless asked for by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read entitlements, subscriptions and usage (one's own; any user's with an admin key).
    EntitlementsRead,
    /// Record usage.
    UsageWrite,
    /// The owner's own billing: checkouts, payments, credits, coupons, the portal.
    Billing,
    /// The owner's tenant, for a tenant admin: onboarding, customers, invoices, refunds.
    Tenant,
    /// The admin API, for an admin: users, refunds, coupons, events, tenants.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::EntitlementsRead,
        Scope::UsageWrite,
        Scope::Billing,
        Scope::Tenant,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EntitlementsRead => "entitlements:read",
            Scope::UsageWrite => "usage:write",
            Scope::Billing => "billing",
            Scope::Tenant => "tenant",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether a user of `role` may hold it.
    pub fn allowed_for(self, role: Role) -> bool {
        match self {
            Scope::Admin => role == Role::Admin,
            Scope::Tenant => role == Role::TenantAdmin,
            Scope::EntitlementsRead | Scope::UsageWrite | Scope::Billing => true,
        }
    }

    /// A key made without naming scopes: its owner's own billing, never admin or tenant rights.
    pub const DEFAULT: [Scope; 3] = [Scope::EntitlementsRead, Scope::UsageWrite, Scope::Billing];
}

/// Scopes as stored: space-separated names; unknown names (from a newer version) are dropped.
pub fn scopes_from_text(text: &str) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = text.split_whitespace().filter_map(Scope::parse).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

pub fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the key, e.g. `tg_test_Ab3x`.
    pub prefix: String,
    /// Sorted, without repeats.
    pub scopes: Vec<Scope>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiKey {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub key_hash: String,
}

/// Whether a bearer token looks like one of our API keys (and not a JWT).
pub fn looks_like_key(bearer: &str) -> bool {
    bearer.starts_with(LIVE_PREFIX) || bearer.starts_with(TEST_PREFIX)
}

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("name must be 1 to 100 characters")]
    InvalidName,
    #[error(
        "unknown scope {0:?}: the scopes are entitlements:read, usage:write, billing, tenant and admin"
    )]
    UnknownScope(String),
    #[error("a key needs at least one scope")]
    NoScopes,
    #[error("scope {0:?} is not yours to give: admin needs an admin, tenant a tenant admin")]
    ScopeNotAllowed(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the scopes asked for (`None`: `Scope::DEFAULT`) against the owner's role.
pub fn requested_scopes(
    requested: Option<&[String]>,
    role: Role,
) -> Result<Vec<Scope>, ApiKeyError> {
    let mut scopes = match requested {
        None => Scope::DEFAULT.to_vec(),
        Some(names) => names
            .iter()
            .map(|n| Scope::parse(n.trim()).ok_or_else(|| ApiKeyError::UnknownScope(n.clone())))
            .collect::<Result<_, _>>()?,
    };
    if let Some(denied) = scopes.iter().find(|s| !s.allowed_for(role)) {
        return Err(ApiKeyError::ScopeNotAllowed(denied.as_str()));
    }
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ApiKeyError::NoScopes);
    }
    Ok(scopes)
}

/// Creates a key for a user and returns it with its full secret value, which is never stored.
pub async fn create(
    store: &dyn ApiKeyStore,
    clock: &dyn Clock,
    user: &crate::account::User,
    name: &str,
    scopes: Option<&[String]>,
    mode: KeyMode,
) -> Result<(ApiKey, Secret), ApiKeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiKeyError::InvalidName);
    }
    let scopes = requested_scopes(scopes, user.role)?;
    let user = user.id;
    let prefix = match mode {
        KeyMode::Live => LIVE_PREFIX,
        KeyMode::Test => TEST_PREFIX,
    };
    let value = format!("{prefix}{}", token::generate().expose());
    let now = clock.now();
    let key = ApiKey {
        id: ApiKeyId::new(),
        user_id: user,
        name: name.to_string(),
        prefix: value.chars().take(DISPLAY_LENGTH).collect(),
        scopes,
        created_at: now,
        last_used_at: None,
    };
    let audit = AuditEntry::new(
        Actor::User(user),
        "api_key.create",
        format!("api_key:{}", key.id),
        serde_json::json!({ "name": key.name, "prefix": key.prefix, "scopes": scopes_to_text(&key.scopes) }),
        now,
    );
    let new = NewApiKey {
        key,
        key_hash: token::hash(&value),
    };
    let stored = store.insert_api_key(&new, &audit).await?;
    Ok((stored, Secret::new(value)))
}

/// Revokes one of the user's own keys; `false` when the user has no such live key.
pub async fn revoke(
    store: &dyn ApiKeyStore,
    clock: &dyn Clock,
    user: UserId,
    id: ApiKeyId,
) -> Result<bool, StoreError> {
    let now = clock.now();
    let audit = AuditEntry::new(
        Actor::User(user),
        "api_key.revoke",
        format!("api_key:{id}"),
        serde_json::Value::Null,
        now,
    );
    store.revoke_api_key(user, id, now, &audit).await
}

/// Finds the live key and its user for a presented bearer key.
pub async fn authenticate(
    store: &dyn ApiKeyStore,
    clock: &dyn Clock,
    presented: &str,
) -> Result<Option<(ApiKey, crate::account::User)>, StoreError> {
    store
        .authenticate_api_key(&token::hash(presented), clock.now())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_told_apart_from_jwts_by_prefix() {
        assert!(looks_like_key("tg_live_abc"));
        assert!(looks_like_key("tg_test_abc"));
        assert!(!looks_like_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }

    #[test]
    fn scopes_are_checked_against_the_role_and_stored_as_sorted_names() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            requested_scopes(None, Role::Admin).expect("default"),
            Scope::DEFAULT.to_vec()
        );
        assert!(matches!(
            requested_scopes(Some(&names(&["admin"])), Role::User),
            Err(ApiKeyError::ScopeNotAllowed("admin"))
        ));
        assert!(matches!(
            requested_scopes(Some(&names(&["tenant"])), Role::Admin),
            Err(ApiKeyError::ScopeNotAllowed("tenant"))
        ));
        assert!(matches!(
            requested_scopes(Some(&names(&["root"])), Role::Admin),
            Err(ApiKeyError::UnknownScope(_))
        ));
        assert!(requested_scopes(Some(&[]), Role::User).is_err());
        let scopes = requested_scopes(
            Some(&names(&["usage:write", "admin", "usage:write"])),
            Role::Admin,
        )
        .expect("scopes");
        assert_eq!(scopes, vec![Scope::UsageWrite, Scope::Admin]);
        assert_eq!(scopes_from_text(&scopes_to_text(&scopes)), scopes);
        assert_eq!(
            scopes_from_text("admin unknown billing"),
            vec![Scope::Billing, Scope::Admin]
        );
    }
}

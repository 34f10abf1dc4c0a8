//! Per-user API keys (seed 002's `Authorization: Bearer <key>`): shown once, stored as a hash,
//! recognisable by their `tg_live_` / `tg_test_` prefix.

use time::OffsetDateTime;

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

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the key, e.g. `tg_test_Ab3x`.
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a key for a user and returns it with its full secret value, which is never stored.
pub async fn create(
    store: &dyn ApiKeyStore,
    clock: &dyn Clock,
    user: UserId,
    name: &str,
    mode: KeyMode,
) -> Result<(ApiKey, Secret), ApiKeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiKeyError::InvalidName);
    }
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
        created_at: now,
        last_used_at: None,
    };
    let audit = AuditEntry::new(
        Actor::User(user),
        "api_key.create",
        format!("api_key:{}", key.id),
        serde_json::json!({ "name": key.name, "prefix": key.prefix }),
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
}

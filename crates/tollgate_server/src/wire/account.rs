//! Users and API keys.

use serde::Serialize;
use time::OffsetDateTime;
use tollgate_core::account::{SessionRecord, User};
use tollgate_core::api_key::ApiKey;
use tollgate_core::{ApiKeyId, TenantId, UserId};

#[derive(Serialize)]
pub struct UserBody<'a> {
    pub id: UserId,
    pub email: Option<&'a str>,
    pub role: &'static str,
    pub tenant_id: Option<TenantId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl<'a> UserBody<'a> {
    pub fn of(user: &'a User) -> Self {
        Self {
            id: user.id,
            email: user.email.as_ref().map(|e| e.as_str()),
            role: user.role.as_str(),
            tenant_id: user.tenant_id,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A key as listed: never its secret.
#[derive(Serialize)]
pub struct ApiKeyBody<'a> {
    pub id: ApiKeyId,
    pub name: &'a str,
    /// The first characters of the key, e.g. `tg_test_Ab3x`.
    pub prefix: &'a str,
    /// What the key may do: `entitlements:read`, `usage:write`, `billing`, `tenant`, `admin`.
    pub scopes: Vec<&'static str>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl<'a> ApiKeyBody<'a> {
    pub fn of(key: &'a ApiKey) -> Self {
        Self {
            id: key.id,
            name: &key.name,
            prefix: &key.prefix,
            scopes: key.scopes.iter().map(|s| s.as_str()).collect(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// One of the caller's sessions: never its token, only a short prefix of the token's hash to
/// tell them apart.
#[derive(Serialize)]
pub struct SessionBody<'a> {
    pub id: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The session this request came with.
    pub current: bool,
}

impl<'a> SessionBody<'a> {
    pub fn of(session: &'a SessionRecord, current_hash: Option<&str>) -> Self {
        let id = session.token_hash.get(..12).unwrap_or(&session.token_hash);
        Self {
            id,
            created_at: session.created_at,
            expires_at: session.expires_at,
            current: current_hash == Some(session.token_hash.as_str()),
        }
    }
}

/// `{ended}`: how many sessions were ended.
#[derive(Serialize)]
pub struct EndedBody {
    pub ended: u64,
}

//! The storage port: coarse commands, each one transaction, implemented by `tollgate_store`
//! on SQLite and PostgreSQL and run through one contract test suite.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::account::{NewUser, Role, SessionRecord, User};
use crate::api_key::{ApiKey, NewApiKey};
use crate::audit::AuditEntry;
use crate::{ApiKeyId, Email, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (e.g. an email already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or answered with an error; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The stored data broke an expectation of the code (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// One page of a listing in creation order, newest first: `before` is the last id of the previous page.
#[derive(Clone, Copy, Debug)]
pub struct Page<C> {
    pub limit: u32,
    pub before: Option<C>,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The database answers and every migration this build knows is applied.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Inserts a user and its audit entry; `Conflict` when the email or external id is taken.
    async fn insert_user(&self, user: &NewUser, audit: &AuditEntry) -> Result<User, StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// The user with this email and their password hash, if they have one.
    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<String>)>, StoreError>;
    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, StoreError>;
    async fn users(&self, role: Option<Role>, page: Page<UserId>) -> Result<Vec<User>, StoreError>;
    async fn count_users(&self, role: Option<Role>) -> Result<i64, StoreError>;

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The live session with this token hash and its user; expired sessions are not returned.
    async fn session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Removes expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        audit: &AuditEntry,
    ) -> Result<ApiKey, StoreError>;
    /// The user's keys that are not revoked, newest first.
    async fn api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key of this user; `false` when there is no such unrevoked key.
    async fn revoke_api_key(
        &self,
        user: UserId,
        id: ApiKeyId,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// The unrevoked key with this hash and its user; records the use (at most once a minute).
    async fn authenticate_api_key(
        &self,
        key_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(ApiKey, User)>, StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Audit entries, newest first.
    async fn audit_log(&self, page: Page<crate::AuditId>) -> Result<Vec<AuditEntry>, StoreError>;
}

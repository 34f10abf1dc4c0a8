//! Accounts and sign-in: users, roles, sessions, and the use-cases that create and authenticate them.
//! Keeps: one account per email (case-insensitive), no user enumeration through login answers,
//! only password hashes and session-token hashes ever stored.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::audit::{Actor, AuditEntry};
use crate::password::{self, PasswordError};
use crate::store::{AccountStore, SessionStore, StoreError};
use crate::{Clock, Email, Secret, TenantId, UserId, token};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
    /// Administers one tenant of the platform (its `tenant_id`), nothing else.
    TenantAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::TenantAdmin => "tenant_admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            "tenant_admin" => Some(Role::TenantAdmin),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Absent only for users provisioned from a JWT that carried no email.
    pub email: Option<Email>,
    pub role: Role,
    pub tenant_id: Option<TenantId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A user about to be inserted; exactly one of `password_hash` and `external_id` is usually set.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub id: UserId,
    pub email: Option<Email>,
    pub password_hash: Option<String>,
    /// `issuer|subject` of a JWT identity, for users whose host application signs them in.
    pub external_id: Option<String>,
    pub role: Role,
    pub tenant_id: Option<TenantId>,
    pub created_at: OffsetDateTime,
    /// What the sign-up brings besides the account, written in the same transaction.
    pub signup: Signup,
}

/// Who referred a new member, and the trial credits they start with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signup {
    pub referred_by: Option<UserId>,
    pub credits: i64,
}

/// A server-side session as stored: the cookie holds the token, the database only its hash.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub token_hash: String,
    pub user_id: UserId,
    /// The per-session CSRF token that cookie-authenticated writes must echo.
    pub csrf_token: Secret,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What a new session gives the caller: the cookie value and the CSRF token, both shown once.
#[derive(Debug)]
pub struct NewSession {
    pub token: Secret,
    pub csrf_token: Secret,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("password {0}")]
    WeakPassword(#[from] PasswordError),
    /// Deliberately the same for an unknown email and a wrong password.
    #[error("email or password is incorrect")]
    InvalidCredentials,
    #[error("this email cannot be used to sign up; log in instead")]
    EmailUnavailable,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => AccountError::EmailUnavailable,
            other => AccountError::Store(other),
        }
    }
}

/// The account rules that come from configuration.
#[derive(Clone, Copy, Debug)]
pub struct AccountPolicy {
    pub password_min_length: usize,
    pub session_ttl: Duration,
}

/// A password account about to be created.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub password: Secret,
    pub role: Role,
    /// Who creates it; `None`: the new user signing themselves up.
    pub actor: Option<Actor>,
    pub signup: Signup,
}

/// Creates a password account with the given role, and its audit entry, in one transaction.
pub async fn register(
    store: &dyn AccountStore,
    clock: &dyn Clock,
    policy: &AccountPolicy,
    hashing: &dyn password::Hashing,
    registration: Registration,
) -> Result<User, AccountError> {
    register_in(store, clock, policy, hashing, registration, None).await
}

/// `register`, for an account that belongs to a tenant (a tenant admin).
pub(crate) async fn register_in(
    store: &dyn AccountStore,
    clock: &dyn Clock,
    policy: &AccountPolicy,
    hashing: &dyn password::Hashing,
    registration: Registration,
    tenant_id: Option<TenantId>,
) -> Result<User, AccountError> {
    let Registration {
        email,
        password,
        role,
        actor,
        signup,
    } = registration;
    password::check_policy(password.expose(), policy.password_min_length)?;
    let password_hash = hashing.hash(password).await;
    let now = clock.now();
    let new = NewUser {
        id: UserId::new(),
        email: Some(email),
        password_hash: Some(password_hash),
        external_id: None,
        role,
        tenant_id,
        created_at: now,
        signup,
    };
    let action = match role {
        Role::Admin => "admin.create",
        Role::TenantAdmin => "tenant_admin.create",
        Role::User => "user.signup",
    };
    let audit = AuditEntry::new(
        actor.unwrap_or(Actor::User(new.id)),
        action,
        format!("user:{}", new.id),
        match tenant_id {
            Some(tenant) => serde_json::json!({ "role": role.as_str(), "tenant_id": tenant }),
            None => serde_json::json!({ "role": role.as_str() }),
        },
        now,
    );
    Ok(store.insert_user(&new, &audit).await?)
}

/// Checks an email and password. An unknown email, or an account without a password, costs the
/// same argon2 work as a wrong password and gives the same error, so answers and timing reveal
/// nothing about accounts.
pub async fn authenticate(
    store: &dyn AccountStore,
    hashing: &dyn password::Hashing,
    email: &Email,
    password: &Secret,
) -> Result<User, AccountError> {
    let (user, stored) = match store.credentials_by_email(email).await? {
        Some((user, stored)) => (Some(user), stored),
        None => (None, None),
    };
    // One argon2 check whatever was found: without a stored hash it runs against a decoy.
    let verified = hashing.verify(password.clone(), stored).await;
    match user {
        Some(user) if verified => Ok(user),
        _ => Err(AccountError::InvalidCredentials),
    }
}

/// Opens a server-side session for a user who has just proven who they are.
pub async fn start_session(
    store: &dyn SessionStore,
    clock: &dyn Clock,
    policy: &AccountPolicy,
    user: &User,
) -> Result<NewSession, StoreError> {
    let now = clock.now();
    let token = token::generate();
    let csrf_token = token::generate();
    let record = SessionRecord {
        token_hash: token::hash(token.expose()),
        user_id: user.id,
        csrf_token: csrf_token.clone(),
        created_at: now,
        expires_at: now + policy.session_ttl,
    };
    store.insert_session(&record).await?;
    Ok(NewSession {
        token,
        csrf_token,
        expires_at: record.expires_at,
    })
}

/// Finds the user behind a session cookie, if the session exists and has not expired.
pub async fn session_user(
    store: &dyn SessionStore,
    clock: &dyn Clock,
    token: &str,
) -> Result<Option<(SessionRecord, User)>, StoreError> {
    store.session(&token::hash(token), clock.now()).await
}

pub async fn end_session(store: &dyn SessionStore, token: &str) -> Result<(), StoreError> {
    store.delete_session(&token::hash(token)).await
}

/// "Sign out everywhere": ends every session of the user at once (audited); their next
/// request with any of those cookies is unauthenticated. Returns how many were ended.
pub async fn end_all_sessions(
    store: &dyn SessionStore,
    clock: &dyn Clock,
    user: UserId,
) -> Result<u64, StoreError> {
    let audit = AuditEntry::new(
        Actor::User(user),
        "session.end_all",
        format!("user:{user}"),
        serde_json::Value::Null,
        clock.now(),
    );
    store.delete_sessions_of(user, &audit).await
}

/// The user's live sessions, newest first.
pub async fn sessions_of(
    store: &dyn SessionStore,
    clock: &dyn Clock,
    user: UserId,
) -> Result<Vec<SessionRecord>, StoreError> {
    store.sessions_of(user, clock.now()).await
}

/// Returns the user behind a JWT identity, creating it on first sight (seed 001/004 style:
/// the host application owns sign-in; tollgate trusts its signed tokens).
pub async fn provision_external(
    store: &dyn AccountStore,
    clock: &dyn Clock,
    external_id: &str,
    email: Option<Email>,
    signup_credits: i64,
) -> Result<User, AccountError> {
    if let Some(user) = store.user_by_external_id(external_id).await? {
        return Ok(user);
    }
    let now = clock.now();
    let new = NewUser {
        id: UserId::new(),
        email,
        password_hash: None,
        external_id: Some(external_id.to_string()),
        role: Role::User,
        tenant_id: None,
        created_at: now,
        signup: Signup {
            referred_by: None,
            credits: signup_credits,
        },
    };
    let audit = AuditEntry::new(
        Actor::System,
        "user.provision",
        format!("user:{}", new.id),
        serde_json::json!({ "external_id": external_id }),
        now,
    );
    match store.insert_user(&new, &audit).await {
        Ok(user) => Ok(user),
        // Two first requests raced: the other one created the user; use it.
        Err(StoreError::Conflict(_)) => store
            .user_by_external_id(external_id)
            .await?
            .ok_or(AccountError::EmailUnavailable),
        Err(other) => Err(AccountError::Store(other)),
    }
}

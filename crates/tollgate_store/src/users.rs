//! Users: insert with audit, lookups by id, email and external identity, listing.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use tollgate_core::account::{NewUser, Role, User};
use tollgate_core::store::AccountStore;
use tollgate_core::store::Page;
use tollgate_core::{Email, StoreError, TenantId, UserId};

use crate::SqlStore;
use crate::audit::insert_audit;
use crate::columns::{db_error, get, get_time, millis, parse};
use crate::ledger::grant;
use tollgate_core::ledger::{EntrySource, Grant};
use tollgate_core::referral;

pub(crate) const USER_COLUMNS: &str =
    "users.id, users.email, users.role, users.tenant_id, users.created_at, users.updated_at";

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let email: Option<String> = get(row, "email")?;
    let tenant: Option<String> = get(row, "tenant_id")?;
    Ok(User {
        id: parse(row, "id", UserId::parse)?,
        email: email
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|_| StoreError::Corrupt("column email: not an email".into()))?,
        role: parse(row, "role", |r| Role::parse(r).ok_or("unknown role"))?,
        tenant_id: tenant
            .map(|t| TenantId::parse(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("column tenant_id: {e}")))?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_user(
        &self,
        user: &NewUser,
        audit: &tollgate_core::audit::AuditEntry,
    ) -> Result<User, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        let inserted = Self::insert_user_tx(&mut tx, user).await?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(inserted)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, users.password_hash FROM users WHERE lower(email) = $1"
        ))
        .bind(email.as_str().to_lowercase())
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?;
        row.map(|row| Ok((user_from_row(&row)?, get(&row, "password_hash")?)))
            .transpose()
    }

    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, StoreError> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE external_id = $1"
        ))
        .bind(external_id)
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn users(&self, role: Option<Role>, page: Page<UserId>) -> Result<Vec<User>, StoreError> {
        // Keyset pagination on (created_at, id), newest first: stays fast however deep the page.
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE ($1 IS NULL OR role = $1) \
               AND ($2 IS NULL OR (created_at, id) < (SELECT created_at, id FROM users WHERE id = $2)) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(role.map(Role::as_str))
        .bind(page.before.map(|id| id.to_string()))
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self, role: Option<Role>) -> Result<i64, StoreError> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE ($1 IS NULL OR role = $1)")
                .bind(role.map(Role::as_str))
                .fetch_one(&self.read)
                .await
                .map_err(db_error)?;
        Ok(count)
    }
}

impl SqlStore {
    pub(crate) async fn insert_user_tx(
        tx: &mut Transaction<'_, Any>,
        user: &NewUser,
    ) -> Result<User, StoreError> {
        let at = millis(user.created_at);
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, external_id, role, tenant_id, created_at, updated_at, referred_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_ref().map(|e| e.as_str().to_string()))
        .bind(user.password_hash.clone())
        .bind(user.external_id.clone())
        .bind(user.role.as_str())
        .bind(user.tenant_id.map(|t| t.to_string()))
        .bind(at)
        .bind(user.signup.referred_by.map(|r| r.to_string()))
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        // Every member has a code to share from the start (seed 002).
        sqlx::query(
            "INSERT INTO referral_codes (code, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(referral::code_for(user.id))
        .bind(user.id.to_string())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        if user.signup.credits > 0 {
            let trial = Grant {
                user: user.id,
                delta: user.signup.credits,
                source: EntrySource::Trial,
                source_id: user.id.to_string(),
                description: "Free trial credits".to_string(),
            };
            grant(tx, &trial, user.created_at).await?;
        }
        Ok(User {
            id: user.id,
            email: user.email.clone(),
            role: user.role,
            tenant_id: user.tenant_id,
            created_at: crate::columns::from_millis(at)?,
            updated_at: crate::columns::from_millis(at)?,
        })
    }
}

//! API keys: stored by hash, revoked by stamping `revoked_at`, last use recorded sparingly.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tollgate_core::api_key::{self, ApiKey, NewApiKey};
use tollgate_core::audit::AuditEntry;
use tollgate_core::store::ApiKeyStore;
use tollgate_core::{ApiKeyId, StoreError, UserId};

use crate::SqlStore;
use crate::audit::insert_audit;
use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse};
use crate::users::{USER_COLUMNS, user_from_row};

/// A key's last use is written at most this often, so a busy key does not turn every
/// authenticated read into a write.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

const KEY_COLUMNS: &str = "k.id AS key_id, k.user_id AS key_user_id, k.name, k.prefix, \
     k.scopes, k.created_at AS key_created_at, k.last_used_at";

fn key_from_row(row: &AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: parse(row, "key_id", ApiKeyId::parse)?,
        user_id: parse(row, "key_user_id", UserId::parse)?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        scopes: api_key::scopes_from_text(&get::<String>(row, "scopes")?),
        created_at: get_time(row, "key_created_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
    })
}

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn insert_api_key(
        &self,
        new: &NewApiKey,
        audit: &AuditEntry,
    ) -> Result<ApiKey, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, scopes, key_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.key.id.to_string())
        .bind(new.key.user_id.to_string())
        .bind(&new.key.name)
        .bind(&new.key.prefix)
        .bind(api_key::scopes_to_text(&new.key.scopes))
        .bind(&new.key_hash)
        .bind(millis(new.key.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(new.key.clone())
    }

    async fn api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k \
             WHERE k.user_id = $1 AND k.revoked_at IS NULL ORDER BY k.created_at DESC, k.id DESC"
        ))
        .bind(user.to_string())
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_api_key(
        &self,
        user: UserId,
        id: ApiKeyId,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        let result = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(millis(now))
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let revoked = result.rows_affected() == 1;
        if revoked {
            insert_audit(&mut *tx, audit).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(revoked)
    }

    async fn authenticate_api_key(
        &self,
        key_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(ApiKey, tollgate_core::account::User)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS}, {USER_COLUMNS} FROM api_keys k JOIN users ON users.id = k.user_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let key = key_from_row(&row)?;
        let user = user_from_row(&row)?;
        let now_ms = millis(now);
        let stale = key
            .last_used_at
            .is_none_or(|at| now_ms - millis(at) >= LAST_USED_RESOLUTION_MS);
        if stale {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(key.id.to_string())
                .execute(&self.write)
                .await
                .map_err(db_error)?;
        }
        Ok(Some((key, user)))
    }
}

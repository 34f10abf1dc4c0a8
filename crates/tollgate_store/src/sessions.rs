//! Server-side sessions, looked up by the hash of the cookie token.

use async_trait::async_trait;
use time::OffsetDateTime;
use tollgate_core::account::{SessionRecord, User};
use tollgate_core::audit::AuditEntry;
use tollgate_core::store::SessionStore;
use tollgate_core::{Secret, StoreError, UserId};

use crate::SqlStore;
use crate::audit::insert_audit;
use crate::columns::{db_error, get, get_time, millis, parse};
use crate::users::{USER_COLUMNS, user_from_row};

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.token_hash)
        .bind(session.user_id.to_string())
        .bind(session.csrf_token.expose())
        .bind(millis(session.created_at))
        .bind(millis(session.expires_at))
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.token_hash, s.user_id, s.csrf_token, \
                    s.created_at AS session_created_at, s.expires_at \
             FROM sessions s JOIN users ON users.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        ))
        .bind(token_hash)
        .bind(millis(now))
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let session = SessionRecord {
            token_hash: get(&row, "token_hash")?,
            user_id: parse(&row, "user_id", UserId::parse)?,
            csrf_token: Secret::new(get(&row, "csrf_token")?),
            created_at: get_time(&row, "session_created_at")?,
            expires_at: get_time(&row, "expires_at")?,
        };
        Ok(Some((session, user_from_row(&row)?)))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn sessions_of(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, token_hash",
        )
        .bind(user.to_string())
        .bind(millis(now))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(SessionRecord {
                    token_hash: get(row, "token_hash")?,
                    user_id: parse(row, "user_id", UserId::parse)?,
                    csrf_token: Secret::new(get(row, "csrf_token")?),
                    created_at: get_time(row, "created_at")?,
                    expires_at: get_time(row, "expires_at")?,
                })
            })
            .collect()
    }

    async fn delete_sessions_of(
        &self,
        user: UserId,
        audit: &AuditEntry,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(ended)
    }

    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&self.write)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}

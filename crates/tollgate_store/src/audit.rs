//! The audit log: appended inside the transaction of the change it records.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor};
use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::store::AuditStore;
use tollgate_core::store::Page;
use tollgate_core::{AuditId, StoreError};

use crate::SqlStore;
use crate::columns::{db_error, get, get_time, millis, parse};

pub(crate) async fn insert_audit<'e, E>(executor: E, entry: &AuditEntry) -> Result<(), StoreError>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (id, actor, action, target, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.id.to_string())
    .bind(entry.actor.as_stored())
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(entry.details.to_string())
    .bind(millis(entry.at))
    .execute(executor)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: parse(row, "id", AuditId::parse)?,
        actor: parse(row, "actor", |a| {
            Actor::from_stored(a).ok_or("unknown actor")
        })?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        details: parse(row, "details", |d| {
            serde_json::from_str::<serde_json::Value>(d)
        })?,
        at: get_time(row, "created_at")?,
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        insert_audit(&self.write, entry).await
    }

    async fn audit_log(&self, page: Page<AuditId>) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, actor, action, target, details, created_at FROM audit_log \
             WHERE ($1 IS NULL OR (created_at, id) < (SELECT created_at, id FROM audit_log WHERE id = $1)) \
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(page.before.map(|id| id.to_string()))
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(entry_from_row).collect()
    }
}

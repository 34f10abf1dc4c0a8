//! The credit ledger's storage: an entry is inserted at most once per `(source, source_id)`
//! and the cached balance moves in the same transaction, so the balance always equals the sum
//! of the entries; spending is one conditional update, so concurrent spends never overdraw.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;
use tollgate_core::ledger::{Balance, Discrepancy, EntrySource, Grant, LedgerEntry};
use tollgate_core::store::LedgerStore;
use tollgate_core::store::Page;
use tollgate_core::usage::{Consumption, Meter, UsageOutcome, UsageRequest};
use tollgate_core::{EntryId, StoreError, UserId};

use crate::SqlStore;
use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse};

/// Appends a grant unless its fact is already in the ledger, and moves the cached balance.
/// Returns whether the entry was new.
pub(crate) async fn grant(
    tx: &mut Transaction<'_, Any>,
    grant: &Grant,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO ledger_entries (id, user_id, delta, source, source_id, description, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (source, source_id) DO NOTHING",
    )
    .bind(EntryId::new().to_string())
    .bind(grant.user.to_string())
    .bind(grant.delta)
    .bind(grant.source.as_str())
    .bind(&grant.source_id)
    .bind(&grant.description)
    .bind(millis(now))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?
    .rows_affected()
        == 1;
    if inserted {
        move_balance(tx, grant.user, grant.delta, now).await?;
    }
    Ok(inserted)
}

/// Adds `delta` to the cached balance, flagging it while it is below zero.
async fn move_balance(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
    delta: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = millis(now);
    sqlx::query(
        "INSERT INTO credit_balances (user_id, balance, negative_since, updated_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET balance = credit_balances.balance + excluded.balance, \
             negative_since = CASE WHEN credit_balances.balance + excluded.balance < 0 \
                                   THEN COALESCE(credit_balances.negative_since, excluded.updated_at) \
                                   ELSE NULL END, \
             updated_at = excluded.updated_at",
    )
    .bind(user.to_string())
    .bind(delta)
    .bind((delta < 0).then_some(at))
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn balance_in(
    executor: impl sqlx::Executor<'_, Database = Any>,
    user: UserId,
) -> Result<Balance, StoreError> {
    let row = sqlx::query(
        "SELECT user_id, balance, negative_since FROM credit_balances WHERE user_id = $1",
    )
    .bind(user.to_string())
    .fetch_optional(executor)
    .await
    .map_err(db_error)?;
    match row {
        Some(row) => balance_from_row(&row),
        None => Ok(Balance {
            user_id: user,
            credits: 0,
            negative_since: None,
        }),
    }
}

fn balance_from_row(row: &AnyRow) -> Result<Balance, StoreError> {
    Ok(Balance {
        user_id: parse(row, "user_id", UserId::parse)?,
        credits: get(row, "balance")?,
        negative_since: get_opt_time(row, "negative_since")?,
    })
}

fn entry_from_row(row: &AnyRow) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        id: parse(row, "id", EntryId::parse)?,
        user_id: parse(row, "user_id", UserId::parse)?,
        delta: get(row, "delta")?,
        source: parse(row, "source", |s| {
            EntrySource::parse(s).ok_or("unknown source")
        })?,
        source_id: get(row, "source_id")?,
        description: get(row, "description")?,
        created_at: get_time(row, "created_at")?,
    })
}

#[async_trait]
impl LedgerStore for SqlStore {
    async fn balance(&self, user: UserId) -> Result<Balance, StoreError> {
        balance_in(&self.read, user).await
    }

    async fn ledger(
        &self,
        user: UserId,
        page: Page<EntryId>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, delta, source, source_id, description, created_at FROM ledger_entries \
             WHERE user_id = $1 \
               AND ($2 IS NULL OR (created_at, id) < (SELECT created_at, id FROM ledger_entries WHERE id = $2)) \
             ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(user.to_string())
        .bind(page.before.map(|id| id.to_string()))
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn negative_balances(&self, limit: u32) -> Result<Vec<Balance>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, balance, negative_since FROM credit_balances \
             WHERE negative_since IS NOT NULL ORDER BY negative_since, user_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(balance_from_row).collect()
    }

    async fn verify_ledger(&self) -> Result<Vec<Discrepancy>, StoreError> {
        // CAST: PostgreSQL sums BIGINT into NUMERIC.
        let rows = sqlx::query(
            "SELECT u.user_id AS user_id, COALESCE(b.balance, 0) AS cached, \
                    COALESCE(e.total, 0) AS total \
             FROM (SELECT user_id FROM credit_balances UNION SELECT user_id FROM ledger_entries) u \
             LEFT JOIN credit_balances b ON b.user_id = u.user_id \
             LEFT JOIN (SELECT user_id, CAST(SUM(delta) AS BIGINT) AS total FROM ledger_entries \
                        GROUP BY user_id) e ON e.user_id = u.user_id \
             WHERE COALESCE(b.balance, 0) <> COALESCE(e.total, 0) ORDER BY u.user_id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(Discrepancy {
                    user_id: parse(row, "user_id", UserId::parse)?,
                    cached: get(row, "cached")?,
                    sum_of_entries: get(row, "total")?,
                })
            })
            .collect()
    }

    /// One consumption in one transaction. The usage row is inserted first: a concurrent
    /// request with the same key waits on it and then replays the recorded answer.
    async fn consume(&self, request: &UsageRequest) -> Result<Consumption, StoreError> {
        let user = request.user.to_string();
        let at = millis(request.at);
        let mut tx = self.write.begin().await.map_err(db_error)?;
        let fresh = sqlx::query(
            "INSERT INTO usage_records (user_id, idempotency_key, feature, quantity, outcome, created_at) \
             VALUES ($1, $2, $3, $4, '', $5) ON CONFLICT (user_id, idempotency_key) DO NOTHING",
        )
        .bind(&user)
        .bind(&request.idempotency_key)
        .bind(&request.feature)
        .bind(request.quantity)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected()
            == 1;
        if !fresh {
            let (outcome,): (String,) = sqlx::query_as(
                "SELECT outcome FROM usage_records WHERE user_id = $1 AND idempotency_key = $2",
            )
            .bind(&user)
            .bind(&request.idempotency_key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            let outcome: UsageOutcome = serde_json::from_str(&outcome)
                .map_err(|e| StoreError::Corrupt(format!("usage_records.outcome: {e}")))?;
            return Ok(Consumption {
                outcome,
                replayed: true,
            });
        }
        let outcome = match &request.meter {
            Meter::Credits { credits } => spend(&mut tx, request, *credits).await?,
            Meter::Quota {
                period_start,
                limit,
            } => count(&mut tx, request, millis(*period_start), *limit).await?,
        };
        if matches!(
            outcome,
            UsageOutcome::Insufficient { .. } | UsageOutcome::OverQuota { .. }
        ) {
            // A refused consumption leaves nothing behind, so the same key may succeed later.
            tx.rollback().await.map_err(db_error)?;
        } else {
            let text = serde_json::to_string(&outcome)
                .map_err(|e| StoreError::Corrupt(format!("usage outcome: {e}")))?;
            sqlx::query(
                "UPDATE usage_records SET outcome = $1 WHERE user_id = $2 AND idempotency_key = $3",
            )
            .bind(text)
            .bind(&user)
            .bind(&request.idempotency_key)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
        }
        Ok(Consumption {
            outcome,
            replayed: false,
        })
    }

    async fn usage_counts(
        &self,
        user: UserId,
        period_start: OffsetDateTime,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT feature, used FROM usage_counters WHERE user_id = $1 AND period_start = $2 ORDER BY feature",
        )
        .bind(user.to_string())
        .bind(millis(period_start))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)
    }
}

/// Takes `credits` from the balance if it holds that many: one conditional update, which a
/// concurrent spend waits on and then re-checks, so the balance never goes below zero here.
async fn spend(
    tx: &mut Transaction<'_, Any>,
    request: &UsageRequest,
    credits: i64,
) -> Result<UsageOutcome, StoreError> {
    let user = request.user.to_string();
    let left: Option<(i64,)> = sqlx::query_as(
        "UPDATE credit_balances SET balance = balance - $1, updated_at = $2 \
         WHERE user_id = $3 AND balance >= $1 RETURNING balance",
    )
    .bind(credits)
    .bind(millis(request.at))
    .bind(&user)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?;
    let Some((balance,)) = left else {
        let balance = balance_in(&mut **tx, request.user).await?.credits;
        return Ok(UsageOutcome::Insufficient {
            needed: credits,
            balance,
        });
    };
    // The balance has moved already; the entry records why (and can exist only once).
    sqlx::query(
        "INSERT INTO ledger_entries (id, user_id, delta, source, source_id, description, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(EntryId::new().to_string())
    .bind(&user)
    .bind(-credits)
    .bind(EntrySource::Usage.as_str())
    .bind(format!("{user}:{}", request.idempotency_key))
    .bind(format!("{} × {}", request.quantity, request.feature))
    .bind(millis(request.at))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(UsageOutcome::Spent { credits, balance })
}

/// Counts against the period's quota with one conditional update.
async fn count(
    tx: &mut Transaction<'_, Any>,
    request: &UsageRequest,
    period_start: i64,
    limit: Option<i64>,
) -> Result<UsageOutcome, StoreError> {
    let user = request.user.to_string();
    sqlx::query(
        "INSERT INTO usage_counters (user_id, feature, period_start, used) VALUES ($1, $2, $3, 0) \
         ON CONFLICT (user_id, feature, period_start) DO NOTHING",
    )
    .bind(&user)
    .bind(&request.feature)
    .bind(period_start)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    let used: Option<(i64,)> = sqlx::query_as(
        "UPDATE usage_counters SET used = used + $1 \
         WHERE user_id = $2 AND feature = $3 AND period_start = $4 AND ($5 IS NULL OR used + $1 <= $5) \
         RETURNING used",
    )
    .bind(request.quantity)
    .bind(&user)
    .bind(&request.feature)
    .bind(period_start)
    .bind(limit)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?;
    match (used, limit) {
        (Some((used,)), limit) => Ok(UsageOutcome::Counted { used, limit }),
        (None, Some(limit)) => {
            let (used,): (i64,) = sqlx::query_as(
                "SELECT used FROM usage_counters WHERE user_id = $1 AND feature = $2 AND period_start = $3",
            )
            .bind(&user)
            .bind(&request.feature)
            .bind(period_start)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok(UsageOutcome::OverQuota { used, limit })
        }
        (None, None) => Err(StoreError::Corrupt(
            "usage counter vanished inside its transaction".into(),
        )),
    }
}

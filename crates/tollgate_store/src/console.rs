//! The admin console's reads: the members table (search, status filter, sort, pages), one
//! member's row, the overview counts, the events and audit entries about a member; and
//! `member_billing`, the derived row those read, rewritten inside `apply_sync`'s transaction.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;
use tollgate_core::audit::AuditEntry;
use tollgate_core::inbox::InboxEvent;
use tollgate_core::member::{
    MemberBilling, MemberPage, MemberQuery, MemberRow, MemberSort, OverviewFacts,
};
use tollgate_core::store::ConsoleStore;
use tollgate_core::store::SyncChanges;
use tollgate_core::subscription::PaymentStatus;
use tollgate_core::{Email, MentorId, StoreError, UserId};

use crate::SqlStore;
use crate::billing::{SUBSCRIPTION_COLUMNS, subscription_from_row};
use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse};

/// The members table's columns; `mb` may be missing (a member who never subscribed).
const MEMBER_SELECT: &str = "SELECT u.id, u.email, u.created_at, mb.payment_status, mb.plan_id, \
     mb.payment_date, mb.current_period_end, mb.cancel_at_period_end, m.id AS mentor_id, \
     m.name AS mentor_name \
     FROM users u \
     LEFT JOIN member_billing mb ON mb.user_id = u.id \
     LEFT JOIN mentor_assignments ma ON ma.user_id = u.id \
     LEFT JOIN mentors m ON m.id = ma.mentor_id";

pub(crate) fn parse_status(text: &str) -> Option<PaymentStatus> {
    [
        PaymentStatus::Preapproved,
        PaymentStatus::Paid,
        PaymentStatus::PaymentFailed,
        PaymentStatus::Cancelled,
    ]
    .into_iter()
    .find(|s| s.as_str() == text)
}

fn member_from_row(row: &AnyRow) -> Result<MemberRow, StoreError> {
    let email: Option<String> = get(row, "email")?;
    let status: Option<String> = get(row, "payment_status")?;
    let billing = match status {
        None => MemberBilling::none(),
        Some(status) => MemberBilling {
            payment_status: parse_status(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("payment_status {status:?}")))?,
            plan: get(row, "plan_id")?,
            payment_date: get_opt_time(row, "payment_date")?,
            current_period_end: get_opt_time(row, "current_period_end")?,
            cancel_at_period_end: get::<Option<i64>>(row, "cancel_at_period_end")?.unwrap_or(0)
                != 0,
        },
    };
    let mentor_id: Option<String> = get(row, "mentor_id")?;
    let mentor = match mentor_id {
        None => None,
        Some(id) => Some((
            MentorId::parse(&id).map_err(|e| StoreError::Corrupt(format!("mentor_id: {e}")))?,
            get::<Option<String>>(row, "mentor_name")?.unwrap_or_default(),
        )),
    };
    Ok(MemberRow {
        id: parse(row, "id", UserId::parse)?,
        email: email
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|_| StoreError::Corrupt("column email: not an email".into()))?,
        created_at: get_time(row, "created_at")?,
        billing,
        mentor,
    })
}

/// `%term%` for a case-insensitive substring match of a lower-cased column.
fn like_pattern(search: &str) -> String {
    contains(&search.trim().to_lowercase())
}

/// `%text%` with LIKE's wildcards escaped.
fn contains(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Rewrites the `member_billing` row of every member this sync touched, from their
/// subscriptions and paid invoices as they are inside the transaction.
pub(crate) async fn refresh_members(
    tx: &mut Transaction<'_, Any>,
    changes: &SyncChanges,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut users: Vec<UserId> = Vec::new();
    users.extend(changes.subscription.as_ref().map(|s| s.user_id));
    users.extend(changes.invoice.as_ref().map(|i| i.user_id));
    users.dedup();
    for user in users {
        refresh_member(tx, user, now).await?;
    }
    Ok(())
}

async fn refresh_member(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE user_id = $1"
    ))
    .bind(user.to_string())
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    let subscriptions = rows
        .iter()
        .map(subscription_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let (last_paid,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(paid_at) FROM invoices WHERE user_id = $1 AND status = 'paid'")
            .bind(user.to_string())
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
    let last_paid = last_paid.map(crate::columns::from_millis).transpose()?;
    let billing = MemberBilling::of(&subscriptions, last_paid);
    sqlx::query(
        "INSERT INTO member_billing (user_id, payment_status, plan_id, payment_date, current_period_end, \
             cancel_at_period_end, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (user_id) DO UPDATE SET payment_status = excluded.payment_status, \
             plan_id = excluded.plan_id, payment_date = excluded.payment_date, \
             current_period_end = excluded.current_period_end, \
             cancel_at_period_end = excluded.cancel_at_period_end, updated_at = excluded.updated_at",
    )
    .bind(user.to_string())
    .bind(billing.payment_status.as_str())
    .bind(billing.plan.clone())
    .bind(billing.payment_date.map(millis))
    .bind(billing.current_period_end.map(millis))
    .bind(i64::from(billing.cancel_at_period_end))
    .bind(millis(now))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn members(&self, query: &MemberQuery) -> Result<MemberPage, StoreError> {
        let order = match query.sort {
            MemberSort::Newest => "u.created_at DESC, u.id DESC",
            MemberSort::Oldest => "u.created_at ASC, u.id ASC",
            MemberSort::Email => "lower(u.email) ASC, u.id ASC",
            MemberSort::PaymentDate => {
                "COALESCE(mb.payment_date, 0) DESC, u.created_at DESC, u.id DESC"
            }
        };
        // Only the clauses a query needs, so each can use its index: `users (role,
        // created_at, id)` for the plain list, `member_billing (payment_status, user_id)` for
        // a status filter (an inner join, except for members who never subscribed).
        let mut binds: Vec<String> = Vec::new();
        let mut conditions = vec!["u.role = 'user'".to_string()];
        if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
            binds.push(like_pattern(search));
            conditions.push(format!("lower(u.email) LIKE ${} ESCAPE '\\'", binds.len()));
        }
        let left_join = "LEFT JOIN member_billing mb ON mb.user_id = u.id";
        let join = match query.status {
            None if query.sort == MemberSort::PaymentDate => left_join,
            None => "",
            Some(PaymentStatus::Preapproved) => {
                conditions.push("(mb.user_id IS NULL OR mb.payment_status = 'preapproved')".into());
                left_join
            }
            Some(status) => {
                binds.push(status.as_str().to_string());
                conditions.push(format!("mb.payment_status = ${}", binds.len()));
                conditions.push("mb.user_id = u.id".into());
                // CROSS JOIN keeps `users` the outer loop on SQLite (its planner would
                // otherwise walk the status index and sort every match); to PostgreSQL it is
                // an inner join like any other.
                "CROSS JOIN member_billing mb"
            }
        };
        let filter = format!("FROM users u {join} WHERE {}", conditions.join(" AND "));
        // The page's ids first (an index-only walk past the offset), then their rows.
        let sql = format!(
            "{MEMBER_SELECT} JOIN (SELECT u.id {filter} ORDER BY {order} LIMIT ${} OFFSET ${}) page \
             ON page.id = u.id ORDER BY {order}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut rows = sqlx::query(&sql);
        for bind in &binds {
            rows = rows.bind(bind.clone());
        }
        let rows = rows
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.read)
            .await
            .map_err(db_error)?;
        let count_sql = format!("SELECT COUNT(*) {filter}");
        let mut count = sqlx::query_as::<_, (i64,)>(&count_sql);
        for bind in &binds {
            count = count.bind(bind.clone());
        }
        let (total,) = count.fetch_one(&self.read).await.map_err(db_error)?;
        Ok(MemberPage {
            rows: rows.iter().map(member_from_row).collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn member(&self, user: UserId) -> Result<Option<MemberRow>, StoreError> {
        sqlx::query(&format!("{MEMBER_SELECT} WHERE u.id = $1"))
            .bind(user.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(member_from_row)
            .transpose()
    }

    async fn overview(
        &self,
        since: OffsetDateTime,
        revenue_since: OffsetDateTime,
    ) -> Result<OverviewFacts, StoreError> {
        let entitled_by_plan: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT plan_id, COUNT(*) FROM subscriptions WHERE status IN ('active', 'trialing') \
             GROUP BY plan_id ORDER BY plan_id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        let (new_subscriptions,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM subscriptions WHERE created_at >= $1 \
             AND status NOT IN ('incomplete', 'incomplete_expired')",
        )
        .bind(millis(since))
        .fetch_one(&self.read)
        .await
        .map_err(db_error)?;
        let (churned_subscriptions,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM subscriptions WHERE status = 'canceled' \
             AND COALESCE(ended_at, canceled_at, synced_at) >= $1",
        )
        .bind(millis(since))
        .fetch_one(&self.read)
        .await
        .map_err(db_error)?;
        // Integer division by a day's milliseconds: the UTC day, the same in both databases.
        let revenue_by_day: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT paid_at / 86400000 AS day, currency, CAST(SUM(amount_paid) AS BIGINT) AS amount \
             FROM invoices WHERE status = 'paid' AND paid_at >= $1 \
             GROUP BY paid_at / 86400000, currency ORDER BY day",
        )
        .bind(millis(revenue_since))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        let by_status: Vec<(String, i64)> = sqlx::query_as(
            "SELECT COALESCE(mb.payment_status, 'preapproved') AS status, COUNT(*) \
             FROM users u LEFT JOIN member_billing mb ON mb.user_id = u.id WHERE u.role = 'user' \
             GROUP BY COALESCE(mb.payment_status, 'preapproved')",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        let members_by_status = by_status
            .into_iter()
            .map(|(status, count)| {
                parse_status(&status)
                    .map(|s| (s, count))
                    .ok_or_else(|| StoreError::Corrupt(format!("payment_status {status:?}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(OverviewFacts {
            entitled_by_plan,
            new_subscriptions,
            churned_subscriptions,
            revenue_by_day,
            members_by_status,
        })
    }

    async fn events_mentioning(
        &self,
        ids: &[String],
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        self.fold_journal().await?;
        let conditions = (0..ids.len())
            .map(|i| format!("payload LIKE ${} ESCAPE '\\'", i + 1))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!(
            "SELECT {} FROM stripe_events WHERE {conditions} \
             ORDER BY received_at DESC, id DESC LIMIT ${}",
            crate::inbox::EVENT_COLUMNS,
            ids.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            // Quoted, so `cus_1` does not match `cus_10`.
            query = query.bind(contains(&format!("\"{id}\"")));
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db_error)?;
        rows.iter().map(crate::inbox::event_from_row).collect()
    }

    async fn audit_about(&self, subject: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, actor, action, target, details, created_at FROM audit_log \
             WHERE target = $1 OR actor = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(subject)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(crate::audit::entry_from_row).collect()
    }
}

impl SqlStore {
    /// Fills `member_billing` for every member with a subscription or an invoice (run once,
    /// when migration 4 is applied to a database that already has billing data).
    pub(crate) async fn backfill_member_billing(&self) -> Result<(), StoreError> {
        let users: Vec<(String,)> =
            sqlx::query_as("SELECT user_id FROM subscriptions UNION SELECT user_id FROM invoices")
                .fetch_all(&self.read)
                .await
                .map_err(db_error)?;
        let now = OffsetDateTime::now_utc();
        for (user,) in users {
            let user = UserId::parse(&user)
                .map_err(|e| StoreError::Corrupt(format!("user_id {user:?}: {e}")))?;
            let mut tx = self.write.begin().await.map_err(db_error)?;
            refresh_member(&mut tx, user, now).await?;
            tx.commit().await.map_err(db_error)?;
        }
        Ok(())
    }
}

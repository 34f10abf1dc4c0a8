//! Mentors and their assignment to members (seed 000); an assignment is written only when the
//! member's derived billing row says Stripe confirmed their payment, in the same transaction.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tollgate_core::audit::AuditEntry;
use tollgate_core::mentor::{AssignOutcome, Mentor};
use tollgate_core::store::MentorStore;
use tollgate_core::{Email, MentorId, StoreError, UserId};

use crate::SqlStore;
use crate::audit::insert_audit;
use crate::columns::{db_error, get, get_time, millis, parse};

fn mentor_from_row(row: &AnyRow) -> Result<Mentor, StoreError> {
    let email: Option<String> = get(row, "email")?;
    Ok(Mentor {
        id: parse(row, "id", MentorId::parse)?,
        name: get(row, "name")?,
        email: email
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|_| StoreError::Corrupt("column email: not an email".into()))?,
        created_at: get_time(row, "created_at")?,
        members: get(row, "members")?,
    })
}

#[async_trait]
impl MentorStore for SqlStore {
    async fn insert_mentor(&self, mentor: &Mentor, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        sqlx::query("INSERT INTO mentors (id, name, email, created_at) VALUES ($1, $2, $3, $4)")
            .bind(mentor.id.to_string())
            .bind(&mentor.name)
            .bind(mentor.email.as_ref().map(|e| e.as_str().to_string()))
            .bind(millis(mentor.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn mentors(&self) -> Result<Vec<Mentor>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.name, m.email, m.created_at, \
                    (SELECT COUNT(*) FROM mentor_assignments a WHERE a.mentor_id = m.id) AS members \
             FROM mentors m ORDER BY lower(m.name), m.id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(mentor_from_row).collect()
    }

    async fn assign_mentor(
        &self,
        member: UserId,
        mentor: MentorId,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<AssignOutcome, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        let known: Option<(String,)> = sqlx::query_as("SELECT id FROM mentors WHERE id = $1")
            .bind(mentor.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        if known.is_none() {
            return Ok(AssignOutcome::UnknownMentor);
        }
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT id FROM users WHERE id = $1 AND role = 'user'")
                .bind(member.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if exists.is_none() {
            return Ok(AssignOutcome::UnknownMember);
        }
        // One statement checks and writes: the member must be paid at the moment of writing.
        let written = sqlx::query(
            "INSERT INTO mentor_assignments (user_id, mentor_id, assigned_at, assigned_by) \
             SELECT $1, $2, $3, $4 WHERE EXISTS \
                 (SELECT 1 FROM member_billing WHERE user_id = $1 AND payment_status = 'paid') \
             ON CONFLICT (user_id) DO UPDATE SET mentor_id = excluded.mentor_id, \
                 assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by",
        )
        .bind(member.to_string())
        .bind(mentor.to_string())
        .bind(millis(now))
        .bind(audit.actor.as_stored())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if written == 0 {
            return Ok(AssignOutcome::NotPaid);
        }
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(AssignOutcome::Assigned)
    }
}

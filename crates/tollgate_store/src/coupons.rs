//! Coupons and referral codes. A redemption checks expiry, the member's one use and the
//! coupon's maximum in one transaction, and grants its credits through the ledger.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tollgate_core::audit::AuditEntry;
use tollgate_core::coupon::{Coupon, Redemption};
use tollgate_core::ledger::{EntrySource, Grant};
use tollgate_core::store::CouponStore;
use tollgate_core::{StoreError, UserId};

use crate::SqlStore;
use crate::audit::insert_audit;
use crate::columns::{db_error, get, get_opt_time, get_time, millis};
use crate::ledger::{balance_in, grant};

fn coupon_from_row(row: &AnyRow) -> Result<Coupon, StoreError> {
    Ok(Coupon {
        code: get(row, "code")?,
        credits: get(row, "credits")?,
        max_redemptions: get(row, "max_redemptions")?,
        redemptions: get(row, "redemptions")?,
        expires_at: get_opt_time(row, "expires_at")?,
        created_at: get_time(row, "created_at")?,
    })
}

#[async_trait]
impl CouponStore for SqlStore {
    async fn insert_coupon(&self, coupon: &Coupon, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO coupons (code, credits, max_redemptions, redemptions, expires_at, created_at) \
             VALUES ($1, $2, $3, 0, $4, $5)",
        )
        .bind(&coupon.code)
        .bind(coupon.credits)
        .bind(coupon.max_redemptions)
        .bind(coupon.expires_at.map(millis))
        .bind(millis(coupon.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn coupons(&self) -> Result<Vec<Coupon>, StoreError> {
        let rows = sqlx::query(
            "SELECT code, credits, max_redemptions, redemptions, expires_at, created_at FROM coupons \
             ORDER BY created_at DESC, code",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(coupon_from_row).collect()
    }

    async fn redeem_coupon(
        &self,
        code: &str,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Redemption, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        let row = sqlx::query(
            "SELECT code, credits, max_redemptions, redemptions, expires_at, created_at FROM coupons WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(coupon) = row.as_ref().map(coupon_from_row).transpose()? else {
            return Ok(Redemption::Unknown);
        };
        if coupon.expires_at.is_some_and(|at| at <= now) {
            return Ok(Redemption::Expired);
        }
        let first_use = sqlx::query(
            "INSERT INTO coupon_redemptions (code, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (code, user_id) DO NOTHING",
        )
        .bind(code)
        .bind(user.to_string())
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected()
            == 1;
        if !first_use {
            return Ok(Redemption::AlreadyRedeemed);
        }
        // One conditional update: concurrent redemptions wait on the row and re-check.
        let counted = sqlx::query(
            "UPDATE coupons SET redemptions = redemptions + 1 \
             WHERE code = $1 AND (max_redemptions IS NULL OR redemptions < max_redemptions)",
        )
        .bind(code)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected()
            == 1;
        if !counted {
            return Ok(Redemption::Exhausted);
        }
        let credits = Grant {
            user,
            delta: coupon.credits,
            source: EntrySource::Coupon,
            source_id: format!("{code}:{user}"),
            description: format!("Coupon {code}"),
        };
        grant(&mut tx, &credits, now).await?;
        let balance = balance_in(&mut *tx, user).await?.credits;
        tx.commit().await.map_err(db_error)?;
        Ok(Redemption::Redeemed {
            credits: coupon.credits,
            balance,
        })
    }

    async fn referral_code(&self, user: UserId, code: &str) -> Result<String, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO referral_codes (code, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(code)
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let (code,): (String,) =
            sqlx::query_as("SELECT code FROM referral_codes WHERE user_id = $1")
                .bind(user.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(code)
    }

    async fn referred_count(&self, user: UserId) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE referred_by = $1")
            .bind(user.to_string())
            .fetch_one(&self.read)
            .await
            .map_err(db_error)?;
        Ok(count)
    }

    async fn user_by_referral_code(&self, code: &str) -> Result<Option<UserId>, StoreError> {
        self.lookup_id(
            "SELECT user_id FROM referral_codes WHERE code = $1",
            code,
            UserId::parse,
        )
        .await
    }
}

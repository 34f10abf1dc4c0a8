//! Coupons that add credits (seed 002): created by admins, redeemed once per member, never
//! past their maximum redemptions or their expiry; the store checks all three in one transaction.

use time::OffsetDateTime;

use crate::UserId;
use crate::audit::{Actor, AuditEntry};
use crate::billing::{Billing, BillingError};

/// The most credits one coupon grants: a balance then cannot be pushed past an i64 by
/// redemptions (it took 9 × 10⁹ of them), where `i64::MAX` credits overflowed it into a 5xx
/// (issue 24, finding 9).
pub const MAX_COUPON_CREDITS: i64 = 1_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coupon {
    /// What members type, upper-case (`WELCOME10`).
    pub code: String,
    pub credits: i64,
    pub max_redemptions: Option<i64>,
    pub redemptions: i64,
    pub expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// Why a redemption was refused, or the balance after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    Redeemed { credits: i64, balance: i64 },
    Unknown,
    Expired,
    Exhausted,
    AlreadyRedeemed,
}

/// Normalises a typed code; `None` when it cannot be a code.
pub fn normalize_code(text: &str) -> Option<String> {
    let code = text.trim().to_ascii_uppercase();
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(code)
}

impl Billing<'_> {
    pub async fn create_coupon(
        &self,
        admin: UserId,
        code: &str,
        credits: i64,
        max_redemptions: Option<i64>,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Coupon, BillingError> {
        let code = normalize_code(code).ok_or(BillingError::InvalidCouponCode)?;
        if !(1..=MAX_COUPON_CREDITS).contains(&credits) || max_redemptions.is_some_and(|m| m < 1) {
            return Err(BillingError::InvalidCoupon);
        }
        let now = self.clock.now();
        let coupon = Coupon {
            code,
            credits,
            max_redemptions,
            redemptions: 0,
            expires_at,
            created_at: now,
        };
        let audit = AuditEntry::new(
            Actor::User(admin),
            "coupon.create",
            format!("coupon:{}", coupon.code),
            serde_json::json!({ "credits": credits, "max_redemptions": max_redemptions }),
            now,
        );
        self.store
            .insert_coupon(&coupon, &audit)
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => BillingError::CouponExists,
                other => other.into(),
            })?;
        Ok(coupon)
    }

    pub async fn coupons(&self) -> Result<Vec<Coupon>, BillingError> {
        Ok(self.store.coupons().await?)
    }

    pub async fn redeem_coupon(
        &self,
        user: UserId,
        code: &str,
    ) -> Result<Redemption, BillingError> {
        let Some(code) = normalize_code(code) else {
            return Ok(Redemption::Unknown);
        };
        Ok(self
            .store
            .redeem_coupon(&code, user, self.clock.now())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_code;

    #[test]
    fn codes_are_case_insensitive_and_plain() {
        assert_eq!(normalize_code(" welcome10 ").as_deref(), Some("WELCOME10"));
        assert_eq!(normalize_code("a b"), None);
        assert_eq!(normalize_code(""), None);
    }
}

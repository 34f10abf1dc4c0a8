//! The credit ledger: append-only entries, each unique by `(source, source_id)` so that no
//! fact is ever credited or debited twice, and the arithmetic of credits (how many a payment
//! buys, how many a refund takes back) in integers only.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{EntryId, UserId};

/// Why credits moved. With `source_id` it names the one fact an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntrySource {
    /// A completed purchase; `source_id` is our payment id.
    Payment,
    /// A refund's reversal; `source_id` is our refund id.
    Refund,
    /// The referred buyer's bonus; `source_id` is the buyer's user id.
    ReferralBonus,
    /// The referrer's reward for a buyer; `source_id` is the buyer's user id.
    ReferralReward,
    /// A coupon redemption; `source_id` is `<code>:<user id>`.
    Coupon,
    /// Credits spent on a feature; `source_id` is `<user id>:<idempotency key>`.
    Usage,
    /// Credits given at signup; `source_id` is the user id.
    Trial,
}

impl EntrySource {
    pub const ALL: [EntrySource; 7] = [
        Self::Payment,
        Self::Refund,
        Self::ReferralBonus,
        Self::ReferralReward,
        Self::Coupon,
        Self::Usage,
        Self::Trial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Refund => "refund",
            Self::ReferralBonus => "referral_bonus",
            Self::ReferralReward => "referral_reward",
            Self::Coupon => "coupon",
            Self::Usage => "usage",
            Self::Trial => "trial",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One movement of credits to be appended; a second grant of the same fact is a no-op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub user: UserId,
    /// Positive adds credits, negative takes them.
    pub delta: i64,
    pub source: EntrySource,
    pub source_id: String,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct LedgerEntry {
    pub id: EntryId,
    pub user_id: UserId,
    pub delta: i64,
    pub source: EntrySource,
    pub source_id: String,
    pub description: String,
    pub created_at: OffsetDateTime,
}

/// A user's cached balance, always the sum of their entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    pub user_id: UserId,
    pub credits: i64,
    /// Set while the balance is below zero (credits refunded after they were spent): flagged
    /// for an admin, never silently written off.
    pub negative_since: Option<OffsetDateTime>,
}

/// A user whose cached balance does not equal the sum of their entries (`tollgate ledger verify`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Discrepancy {
    pub user_id: UserId,
    pub cached: i64,
    pub sum_of_entries: i64,
}

/// Credits bought by `amount_minor` at `credits_per_minor_unit` (seed 002: 1 credit per cent).
pub fn credits_for(amount_minor: i64, credits_per_minor_unit: i64) -> Option<i64> {
    amount_minor.checked_mul(credits_per_minor_unit)
}

/// The credits a refund of `refund` takes back from a payment of `amount` that granted
/// `credits`, when `refunded_before` had already been refunded. Computed from the cumulative
/// position so that the reversals of all partial refunds add up to exactly `credits` when the
/// payment is wholly refunded (no rounding drift), each reversal counted once per refund.
pub fn reversal(credits: i64, amount: i64, refunded_before: i64, refund: i64) -> i64 {
    if amount <= 0 {
        return 0;
    }
    let before = refunded_before.clamp(0, amount);
    let after = refunded_before.saturating_add(refund).clamp(0, amount);
    let taken = |refunded: i64| -> i64 {
        // i128: credits × amount may exceed i64 before the division.
        let value = i128::from(credits) * i128::from(refunded) / i128::from(amount);
        i64::try_from(value).unwrap_or(i64::MAX)
    };
    taken(after) - taken(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ten_dollars_buy_a_thousand_credits() {
        assert_eq!(credits_for(1000, 1), Some(1000));
        assert_eq!(credits_for(i64::MAX, 2), None);
    }

    #[test]
    fn a_partial_refund_takes_back_its_share() {
        assert_eq!(reversal(1000, 1000, 0, 400), 400);
        assert_eq!(reversal(1000, 1000, 400, 600), 600);
        // A discounted payment: 1000 credits for $8.
        assert_eq!(reversal(1000, 800, 0, 400), 500);
        assert_eq!(reversal(1000, 800, 0, 800), 1000);
        // Nothing past the payment's amount.
        assert_eq!(reversal(1000, 1000, 1000, 1), 0);
    }

    proptest! {
        #[test]
        fn partial_refunds_add_up_to_the_whole_grant(
            credits in 0_i64..10_000_000,
            amount in 1_i64..10_000_000,
            cuts in proptest::collection::vec(1_u32..1000, 1..8),
        ) {
            let total: u64 = cuts.iter().map(|c| u64::from(*c)).sum();
            let mut refunded = 0_i64;
            let mut reversed = 0_i64;
            for (i, cut) in cuts.iter().enumerate() {
                let refund = if i + 1 == cuts.len() {
                    amount - refunded
                } else {
                    i64::try_from(u64::try_from(amount).expect("positive") * u64::from(*cut) / total).expect("fits")
                };
                let back = reversal(credits, amount, refunded, refund);
                prop_assert!(back >= 0);
                reversed += back;
                refunded += refund;
            }
            prop_assert_eq!(refunded, amount);
            prop_assert_eq!(reversed, credits);
        }
    }
}

//! The platform's application fee on a tenant's charge: a rate in basis points plus a fixed part,
//! in the charge's own minor units.
//!
//! The rule, once: `fee = round_half_up(gross × bps / 10,000) + fixed`, capped at `gross`.
//! Amounts are minor units of the charge's currency (cents for USD, yen for the zero-decimal
//! JPY), so the rounding is to the currency's smallest unit whatever its exponent; `fixed` is in
//! those units too (Stripe takes `application_fee_amount` in them). Half-up on the rate part is
//! what a platform quotes ("2.5% of $0.50 is 1.25¢, so 1¢"; of 2 cents it is 0.05¢, so 0).

use serde::{Deserialize, Serialize};

/// Basis points above this would take more than the whole charge.
pub const MAX_BPS: u32 = 10_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePolicy {
    /// Hundredths of a percent of the gross (250 = 2.5%).
    pub bps: u32,
    /// Minor units added per charge.
    pub fixed: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeePolicyError {
    #[error("application_fee_bps must be 0 to {MAX_BPS}")]
    Bps,
    #[error("application_fee_fixed must be 0 or more (minor units)")]
    Fixed,
}

impl FeePolicy {
    pub fn new(bps: i64, fixed: i64) -> Result<Self, FeePolicyError> {
        let bps = u32::try_from(bps)
            .ok()
            .filter(|b| *b <= MAX_BPS)
            .ok_or(FeePolicyError::Bps)?;
        if fixed < 0 {
            return Err(FeePolicyError::Fixed);
        }
        Ok(Self { bps, fixed })
    }

    /// The fee on a charge of `gross` minor units (0 for a non-positive gross).
    pub fn fee_on(&self, gross: i64) -> i64 {
        if gross <= 0 {
            return 0;
        }
        let rate = (i128::from(gross) * i128::from(self.bps) + 5_000) / 10_000;
        let fee = rate.saturating_add(i128::from(self.fixed));
        // Fits: capped at gross, an i64.
        fee.min(i128::from(gross)) as i64
    }

    /// Stripe's `application_fee_percent` for subscriptions (a decimal percent), without the
    /// fixed part, which a percentage cannot carry.
    pub fn percent(&self) -> f64 {
        f64::from(self.bps) / 100.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_seeds_example_holds_to_the_cent() {
        // Seed 003: $100.00 at 2.5% is $2.50.
        let policy = FeePolicy::new(250, 0).expect("valid");
        assert_eq!(policy.fee_on(10_000), 250);
    }

    #[test]
    fn the_rate_part_rounds_half_up_to_the_smallest_unit() {
        let policy = FeePolicy::new(250, 0).expect("valid");
        assert_eq!(policy.fee_on(50), 1, "1.25 rounds to 1");
        assert_eq!(policy.fee_on(60), 2, "1.5 rounds up to 2");
        assert_eq!(policy.fee_on(2), 0, "0.05 rounds to 0");
        // JPY has no decimals: 2.5% of ¥1,999 is ¥49.975, so ¥50, in whole yen.
        assert_eq!(policy.fee_on(1_999), 50);
    }

    #[test]
    fn the_fixed_part_is_added_and_the_fee_never_exceeds_the_charge() {
        let policy = FeePolicy::new(290, 30).expect("valid");
        assert_eq!(policy.fee_on(10_000), 320);
        assert_eq!(policy.fee_on(20), 20, "capped at the gross");
        assert_eq!(policy.fee_on(0), 0);
        assert_eq!(policy.fee_on(-5), 0);
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        assert_eq!(FeePolicy::new(10_001, 0), Err(FeePolicyError::Bps));
        assert_eq!(FeePolicy::new(-1, 0), Err(FeePolicyError::Bps));
        assert_eq!(FeePolicy::new(0, -1), Err(FeePolicyError::Fixed));
        assert!(FeePolicy::new(10_000, 0).is_ok());
    }

    proptest! {
        #[test]
        fn fee_and_net_add_up_to_the_gross(gross in 0i64..=i64::MAX / 2, bps in 0u32..=MAX_BPS, fixed in 0i64..1_000_000) {
            let policy = FeePolicy { bps, fixed };
            let fee = policy.fee_on(gross);
            prop_assert!(fee >= 0);
            prop_assert!(fee <= gross);
            let net = gross - fee;
            prop_assert_eq!(fee + net, gross);
        }

        #[test]
        fn a_larger_charge_never_pays_a_smaller_fee(gross in 0i64..1_000_000_000, step in 0i64..1_000_000, bps in 0u32..=MAX_BPS, fixed in 0i64..10_000) {
            let policy = FeePolicy { bps, fixed };
            prop_assert!(policy.fee_on(gross + step) >= policy.fee_on(gross));
        }
    }
}

//! Usage and limits: a consumption either counts against the plan's quota for the billing
//! period (seed 001's `generations_used` / `generations_limit`) or spends credits. Each
//! idempotency key spends at most once, and the store's conditional updates never overdraw.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, OffsetDateTime, Time};

use crate::UserId;
use crate::billing::{Billing, BillingError};
use crate::subscription;

/// The most one consumption may count: a usage counter (`used + quantity`) and a credit cost
/// (`cost × quantity`) then stay far inside an i64, so no request can overflow them into a 5xx
/// (issue 24, finding 9).
pub const MAX_QUANTITY: i64 = 1_000_000;

/// A plan limit of -1 means unlimited.
pub const UNLIMITED: i64 = -1;

/// Usage rules from configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsagePolicy {
    /// Per-calendar-month quotas of members without an entitled plan (seed 001's free tier).
    pub free_limits: BTreeMap<String, i64>,
    /// Credits one unit of a feature costs when it has no quota; 1 when not listed.
    pub credit_costs: BTreeMap<String, i64>,
}

/// One consumption, as the store applies it in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRequest {
    pub user: UserId,
    pub feature: String,
    pub quantity: i64,
    pub idempotency_key: String,
    pub meter: Meter,
    pub at: OffsetDateTime,
}

/// What a consumption is measured against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meter {
    /// Counts against a quota for the period starting at `period_start`; `limit` None = unlimited.
    Quota {
        period_start: OffsetDateTime,
        limit: Option<i64>,
    },
    /// Spends `credits` from the balance.
    Credits { credits: i64 },
}

/// What the store did with a consumption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UsageOutcome {
    /// Counted against the quota; `used` after this consumption.
    Counted { used: i64, limit: Option<i64> },
    /// Credits spent; the balance after.
    Spent { credits: i64, balance: i64 },
    /// Not enough quota left: nothing recorded.
    OverQuota { used: i64, limit: i64 },
    /// Not enough credits: nothing recorded.
    Insufficient { needed: i64, balance: i64 },
}

/// A consumption's answer: what happened, and whether the key had been used already.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumption {
    pub outcome: UsageOutcome,
    /// The same idempotency key was seen before: this is that consumption's result, not a new one.
    pub replayed: bool,
}

#[derive(Clone, Debug)]
pub struct FeatureUsage {
    pub feature: String,
    pub used: i64,
    /// `None`: unlimited.
    pub limit: Option<i64>,
    pub remaining: Option<i64>,
}

/// Seed 001's usage view for the current period.
#[derive(Clone, Debug)]
pub struct UsageSummary {
    pub period_start: OffsetDateTime,
    pub period_end: OffsetDateTime,
    pub features: Vec<FeatureUsage>,
    pub credits: i64,
}

/// Accepts feature names such as `generations` or `api.calls`.
pub fn valid_feature(feature: &str) -> bool {
    !feature.is_empty()
        && feature.len() <= 64
        && feature
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

/// The first instant of the calendar month (UTC) containing `at`: the free tier's period.
pub fn month_start(at: OffsetDateTime) -> OffsetDateTime {
    let at = at.to_offset(time::UtcOffset::UTC);
    Date::from_calendar_date(at.year(), at.month(), 1)
        .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
        .unwrap_or(at)
}

fn next_month_start(at: OffsetDateTime) -> OffsetDateTime {
    let start = month_start(at);
    let (year, month) = match start.month() {
        time::Month::December => (start.year() + 1, time::Month::January),
        m => (start.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1)
        .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
        .unwrap_or(start)
}

impl Billing<'_> {
    /// The member's quotas and their period: the entitled plan's limits for its billing
    /// period, else the free tier's for the calendar month.
    async fn quotas(
        &self,
        user: UserId,
    ) -> Result<(OffsetDateTime, OffsetDateTime, BTreeMap<String, i64>), BillingError> {
        let subscriptions = self.store.subscriptions_of(user).await?;
        let entitled = subscription::current(&subscriptions).filter(|s| s.is_entitled());
        if let Some(sub) = entitled
            && let Some(plan) = sub.plan.as_deref().and_then(|p| self.catalog.plan(p))
        {
            return Ok((
                sub.current_period_start,
                sub.current_period_end,
                plan.limits.clone(),
            ));
        }
        let now = self.clock.now();
        Ok((
            month_start(now),
            next_month_start(now),
            self.usage.free_limits.clone(),
        ))
    }

    /// Spends `quantity` of `feature` once per idempotency key.
    pub async fn consume(
        &self,
        user: UserId,
        feature: &str,
        quantity: i64,
        idempotency_key: &str,
    ) -> Result<Consumption, BillingError> {
        if !valid_feature(feature) {
            return Err(BillingError::InvalidFeature);
        }
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(BillingError::InvalidQuantity);
        }
        if idempotency_key.is_empty()
            || idempotency_key.len() > 255
            || !idempotency_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(BillingError::InvalidIdempotencyKey);
        }
        let (period_start, _, limits) = self.quotas(user).await?;
        let meter = match limits.get(feature) {
            Some(&limit) => Meter::Quota {
                period_start,
                limit: (limit != UNLIMITED).then_some(limit),
            },
            None => {
                let cost = self.usage.credit_costs.get(feature).copied().unwrap_or(1);
                Meter::Credits {
                    credits: cost
                        .checked_mul(quantity)
                        .ok_or(BillingError::InvalidQuantity)?,
                }
            }
        };
        let request = UsageRequest {
            user,
            feature: feature.to_string(),
            quantity,
            idempotency_key: idempotency_key.to_string(),
            meter,
            at: self.clock.now(),
        };
        Ok(self.store.consume(&request).await?)
    }

    /// Used / limit of every quota this period, and the credit balance.
    pub async fn usage(&self, user: UserId) -> Result<UsageSummary, BillingError> {
        let (period_start, period_end, limits) = self.quotas(user).await?;
        let used = self.store.usage_counts(user, period_start).await?;
        let mut features: BTreeMap<String, FeatureUsage> = limits
            .iter()
            .map(|(feature, &limit)| {
                let limit = (limit != UNLIMITED).then_some(limit);
                (
                    feature.clone(),
                    FeatureUsage {
                        feature: feature.clone(),
                        used: 0,
                        limit,
                        remaining: limit,
                    },
                )
            })
            .collect();
        for (feature, count) in used {
            if let Some(entry) = features.get_mut(&feature) {
                entry.used = count;
                entry.remaining = entry.limit.map(|l| (l - count).max(0));
            }
        }
        let credits = self.store.balance(user).await?.credits;
        Ok(UsageSummary {
            period_start,
            period_end,
            features: features.into_values().collect(),
            credits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_free_period_is_the_calendar_month() {
        assert_eq!(
            month_start(datetime!(2026-03-17 10:00 UTC)),
            datetime!(2026-03-01 0:00 UTC)
        );
        assert_eq!(
            next_month_start(datetime!(2026-12-31 23:59 UTC)),
            datetime!(2027-01-01 0:00 UTC)
        );
    }

    #[test]
    fn feature_names_are_plain() {
        assert!(valid_feature("generations"));
        assert!(valid_feature("api.calls"));
        assert!(!valid_feature(""));
        assert!(!valid_feature("Gen Erations"));
        assert!(!valid_feature(&"a".repeat(65)));
    }
}

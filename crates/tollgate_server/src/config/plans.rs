//! `[[plans]]`: the subscription catalog, each plan by price id or lookup key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConfigError, credits};

/// One subscription plan: a Stripe price (by id, or by lookup key resolved at start-up) with
/// what it entitles a member to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Our name for the plan, used in the API (`{"plan": "membership"}`).
    pub id: String,
    pub name: String,
    /// A Stripe price id (`price_…`)…
    pub price: Option<String>,
    /// …or a lookup key; against the emulator a missing price is created.
    pub lookup_key: Option<String>,
    /// Integer minor units (4900 = $49.00).
    pub amount: i64,
    pub currency: String,
    /// `month` or `year`.
    pub interval: tollgate_core::plan::Interval,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub limits: BTreeMap<String, i64>,
    pub trial_period_days: Option<u32>,
}

impl PlanConfig {
    /// Seed 000's plan: one $49/month membership.
    pub(super) fn membership() -> Self {
        Self {
            id: "membership".into(),
            name: "Membership".into(),
            price: None,
            lookup_key: Some("tollgate_membership_monthly".into()),
            amount: 4900,
            currency: "usd".into(),
            interval: tollgate_core::plan::Interval::Month,
            features: vec!["mentor".into()],
            limits: BTreeMap::new(),
            trial_period_days: None,
        }
    }
}

pub(super) fn validate_plans(plans: &[PlanConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for (index, plan) in plans.iter().enumerate() {
        let key = |field: &str| format!("plans[{index}].{field}");
        if plan.id.trim().is_empty() || !seen.insert(plan.id.as_str()) {
            return Err(ConfigError::new(&key("id"), "must be non-empty and unique"));
        }
        match (&plan.price, &plan.lookup_key) {
            (Some(price), None) if price.starts_with("price_") => {}
            (Some(_), None) => {
                return Err(ConfigError::new(
                    &key("price"),
                    "must be a Stripe price id (price_…)",
                ));
            }
            (None, Some(lookup)) if !lookup.trim().is_empty() => {}
            _ => {
                return Err(ConfigError::new(
                    &key("price"),
                    "set exactly one of price and lookup_key",
                ));
            }
        }
        if plan.amount <= 0 {
            return Err(ConfigError::new(
                &key("amount"),
                "must be a positive amount in minor units",
            ));
        }
        credits::validate_features(
            &key("limits"),
            &plan.limits,
            tollgate_core::usage::UNLIMITED,
        )?;
        if plan.currency.len() != 3 || !plan.currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(ConfigError::new(
                &key("currency"),
                "must be a lower-case ISO 4217 code such as usd",
            ));
        }
    }
    Ok(())
}

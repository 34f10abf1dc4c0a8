//! The `[credits]` and `[usage]` sections: credit packs, custom-amount rules per currency,
//! referral bonus, free-trial credits, usage quotas and credit costs; checked at load.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tollgate_core::credits::{CreditPack, CreditPolicy, CurrencyRule, ReferralRule};
use tollgate_core::money::{Currency, Money};
use tollgate_core::usage::{UNLIMITED, UsagePolicy};

use super::ConfigError;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreditsConfig {
    /// Credits every new member starts with (the free trial); 0 for none.
    pub signup_credits: i64,
    /// Whether Checkout shows Stripe's promotion code field for credit purchases.
    pub allow_promotion_codes: bool,
    pub referral: ReferralConfig,
    /// Currencies custom amounts may be paid in, each with its rate and bounds.
    pub currencies: BTreeMap<String, CurrencyConfig>,
    /// The packs on sale (`GET /api/v1/credit-packages`).
    pub packs: Vec<PackConfig>,
}

impl Default for CreditsConfig {
    fn default() -> Self {
        Self {
            signup_credits: 0,
            allow_promotion_codes: false,
            referral: ReferralConfig::default(),
            currencies: BTreeMap::from([("usd".to_string(), CurrencyConfig::default())]),
            packs: vec![
                PackConfig::new("credits_1000", "1,000 credits", 1000, 1000),
                PackConfig::new("credits_5000", "5,000 credits", 5000, 5000),
                PackConfig::new("credits_12000", "12,000 credits", 10000, 12000),
            ],
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CurrencyConfig {
    /// Seed 002: 1 credit = 1 cent.
    pub credits_per_minor_unit: i64,
    /// Bounds of a custom amount, in minor units.
    pub min_amount: i64,
    pub max_amount: i64,
}

impl Default for CurrencyConfig {
    fn default() -> Self {
        Self {
            credits_per_minor_unit: 1,
            min_amount: 100,
            max_amount: 100_000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackConfig {
    pub id: String,
    pub name: String,
    /// Integer minor units.
    pub amount: i64,
    pub currency: String,
    pub credits: i64,
}

impl PackConfig {
    fn new(id: &str, name: &str, amount: i64, credits: i64) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            amount,
            currency: "usd".into(),
            credits,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferralConfig {
    pub enabled: bool,
    /// The referred member's first purchase must be at least this, in minor units…
    pub min_purchase: i64,
    /// …in this currency.
    pub currency: String,
    /// Credits the buyer and the referrer each get.
    pub bonus_credits: i64,
}

impl Default for ReferralConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_purchase: 1000,
            currency: "usd".into(),
            bonus_credits: 1000,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageConfig {
    /// Per-calendar-month quotas of members without a plan, e.g. `{ generations = 10 }`.
    pub free_limits: BTreeMap<String, i64>,
    /// Credits one unit of a feature without a quota costs; 1 when not listed.
    pub credit_costs: BTreeMap<String, i64>,
}

fn currency(key: &str, code: &str) -> Result<Currency, ConfigError> {
    Currency::parse(code)
        .ok()
        .filter(|c| c.as_str() == code)
        .ok_or_else(|| ConfigError::new(key, "must be a lower-case ISO 4217 code such as usd"))
}

impl CreditsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.signup_credits < 0 {
            return Err(ConfigError::new(
                "credits.signup_credits",
                "must not be negative",
            ));
        }
        for (code, rule) in &self.currencies {
            let key = |field: &str| format!("credits.currencies.{code}.{field}");
            currency(&format!("credits.currencies.{code}"), code)?;
            if rule.credits_per_minor_unit < 1 {
                return Err(ConfigError::new(
                    &key("credits_per_minor_unit"),
                    "must be at least 1",
                ));
            }
            if rule.min_amount < 1 || rule.max_amount < rule.min_amount {
                return Err(ConfigError::new(
                    &key("min_amount"),
                    "must be at least 1 and at most max_amount",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (index, pack) in self.packs.iter().enumerate() {
            let key = |field: &str| format!("credits.packs[{index}].{field}");
            if pack.id.trim().is_empty() || !seen.insert(pack.id.as_str()) {
                return Err(ConfigError::new(&key("id"), "must be non-empty and unique"));
            }
            if pack.amount < 1 || pack.credits < 1 {
                return Err(ConfigError::new(
                    &key("amount"),
                    "amount and credits must be positive",
                ));
            }
            currency(&key("currency"), &pack.currency)?;
        }
        if self.referral.enabled {
            currency("credits.referral.currency", &self.referral.currency)?;
            if self.referral.min_purchase < 0 || self.referral.bonus_credits < 1 {
                return Err(ConfigError::new(
                    "credits.referral.bonus_credits",
                    "min_purchase must not be negative and bonus_credits must be positive",
                ));
            }
        }
        Ok(())
    }

    pub fn policy(&self) -> CreditPolicy {
        // Validated at load: every code parses.
        let parse = |code: &str| Currency::parse(code).ok();
        CreditPolicy {
            packs: self
                .packs
                .iter()
                .filter_map(|p| {
                    Some(CreditPack {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        price: Money::new(p.amount, parse(&p.currency)?),
                        credits: p.credits,
                    })
                })
                .collect(),
            currencies: self
                .currencies
                .iter()
                .filter_map(|(code, rule)| {
                    Some((
                        parse(code)?,
                        CurrencyRule {
                            credits_per_minor_unit: rule.credits_per_minor_unit,
                            min_amount: rule.min_amount,
                            max_amount: rule.max_amount,
                        },
                    ))
                })
                .collect(),
            referral: self
                .referral
                .enabled
                .then(|| {
                    Some(ReferralRule {
                        min_purchase: Money::new(
                            self.referral.min_purchase,
                            parse(&self.referral.currency)?,
                        ),
                        bonus_credits: self.referral.bonus_credits,
                    })
                })
                .flatten(),
            signup_credits: self.signup_credits,
            allow_promotion_codes: self.allow_promotion_codes,
        }
    }
}

/// Checks one map of feature → number, as `usage.free_limits` or a plan's `limits`.
pub fn validate_features(
    key: &str,
    features: &BTreeMap<String, i64>,
    minimum: i64,
) -> Result<(), ConfigError> {
    for (feature, value) in features {
        if !tollgate_core::usage::valid_feature(feature) {
            return Err(ConfigError::new(
                &format!("{key}.{feature}"),
                "a feature is lower-case letters, digits, '.', '_' or '-'",
            ));
        }
        if *value < minimum {
            return Err(ConfigError::new(
                &format!("{key}.{feature}"),
                format!("must be at least {minimum}"),
            ));
        }
    }
    Ok(())
}

impl UsageConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_features("usage.free_limits", &self.free_limits, UNLIMITED)?;
        validate_features("usage.credit_costs", &self.credit_costs, 0)
    }

    pub fn policy(&self) -> UsagePolicy {
        UsagePolicy {
            free_limits: self.free_limits.clone(),
            credit_costs: self.credit_costs.clone(),
        }
    }
}

//! The catalog of subscription plans, from configuration: which Stripe price each plan is,
//! and what it entitles a member to (features and limits).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stripe::StripePriceId;

/// How a plan names its Stripe price: a fixed id, or a lookup key resolved at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceRef {
    Id(StripePriceId),
    LookupKey(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Our name for the plan, used in the API (`{"plan": "pro_monthly"}`).
    pub id: String,
    pub name: String,
    pub price: PriceRef,
    /// The price's id once known (configured, or resolved from the lookup key).
    pub price_id: Option<StripePriceId>,
    /// Integer minor units (e.g. 4900 = $49.00).
    pub amount: i64,
    pub currency: String,
    pub interval: Interval,
    pub features: Vec<String>,
    pub limits: BTreeMap<String, i64>,
    pub trial_period_days: Option<u32>,
}

impl Plan {
    pub fn lookup_key(&self) -> Option<&str> {
        match &self.price {
            PriceRef::LookupKey(key) => Some(key),
            PriceRef::Id(_) => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    pub plans: Vec<Plan>,
}

impl Catalog {
    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The plan a Stripe price belongs to, by id or by lookup key.
    pub fn plan_for_price(&self, price: &StripePriceId, lookup_key: Option<&str>) -> Option<&Plan> {
        self.plans.iter().find(|plan| {
            plan.price_id.as_ref() == Some(price)
                || matches!(&plan.price, PriceRef::Id(id) if id == price)
                || (lookup_key.is_some() && plan.lookup_key() == lookup_key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(id: &str, price: PriceRef) -> Plan {
        Plan {
            id: id.into(),
            name: id.into(),
            price,
            price_id: None,
            amount: 1900,
            currency: "usd".into(),
            interval: Interval::Month,
            features: vec![],
            limits: BTreeMap::new(),
            trial_period_days: None,
        }
    }

    #[test]
    fn a_price_finds_its_plan_by_id_or_lookup_key() {
        let by_id = StripePriceId::parse("price_123").expect("id");
        let catalog = Catalog {
            plans: vec![
                plan("a", PriceRef::Id(by_id.clone())),
                plan("b", PriceRef::LookupKey("pro_yearly".into())),
            ],
        };
        assert_eq!(
            catalog.plan_for_price(&by_id, None).map(|p| p.id.as_str()),
            Some("a")
        );
        let other = StripePriceId::parse("price_999").expect("id");
        assert_eq!(
            catalog
                .plan_for_price(&other, Some("pro_yearly"))
                .map(|p| p.id.as_str()),
            Some("b")
        );
        assert_eq!(catalog.plan_for_price(&other, None), None);
    }
}

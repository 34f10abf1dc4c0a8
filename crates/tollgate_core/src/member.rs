//! The admin console's view of members: one row per member with the seed-000 fields (payment
//! status, payment date, plan, mentor), the query that lists them, and the overview figures.
//! The billing row is derived from Stripe-synced subscriptions and invoices only (invariant 1).

use time::OffsetDateTime;

use crate::plan::{Catalog, Interval};
use crate::subscription::{self, PaymentStatus, Subscription};
use crate::{Email, MentorId, UserId};

/// What the console shows of a member's billing, kept beside the user by `BillingStore::apply_sync`
/// so the members table can filter and sort by it at any size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberBilling {
    pub payment_status: PaymentStatus,
    pub plan: Option<String>,
    pub payment_date: Option<OffsetDateTime>,
    pub current_period_end: Option<OffsetDateTime>,
    pub cancel_at_period_end: bool,
}

impl MemberBilling {
    /// The row for a member with these subscriptions and this latest paid invoice.
    pub fn of(subscriptions: &[Subscription], last_payment: Option<OffsetDateTime>) -> Self {
        let current = subscription::current(subscriptions);
        Self {
            payment_status: PaymentStatus::of(current),
            plan: current.and_then(|s| s.plan.clone()),
            payment_date: last_payment,
            current_period_end: current.map(|s| s.current_period_end),
            cancel_at_period_end: current.is_some_and(|s| s.cancel_at_period_end),
        }
    }

    /// A member who never had a subscription.
    pub fn none() -> Self {
        Self::of(&[], None)
    }
}

/// One line of the members table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub id: UserId,
    pub email: Option<Email>,
    pub created_at: OffsetDateTime,
    pub billing: MemberBilling,
    pub mentor: Option<(MentorId, String)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemberSort {
    /// Newest sign-ups first.
    #[default]
    Newest,
    Oldest,
    Email,
    /// Latest payment first; never-paid members last.
    PaymentDate,
}

impl MemberSort {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "newest" => MemberSort::Newest,
            "oldest" => MemberSort::Oldest,
            "email" => MemberSort::Email,
            "payment_date" => MemberSort::PaymentDate,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MemberSort::Newest => "newest",
            MemberSort::Oldest => "oldest",
            MemberSort::Email => "email",
            MemberSort::PaymentDate => "payment_date",
        }
    }
}

/// A page of the members table: a case-insensitive email search, a status filter, a sort.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberQuery {
    pub search: Option<String>,
    pub status: Option<PaymentStatus>,
    pub sort: MemberSort,
    pub offset: u32,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberPage {
    pub rows: Vec<MemberRow>,
    /// How many members match the search and filter, over all pages.
    pub total: i64,
}

/// Raw figures for the overview, counted by the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverviewFacts {
    /// Entitled (active or trialing) subscriptions per plan id.
    pub entitled_by_plan: Vec<(Option<String>, i64)>,
    pub new_subscriptions: i64,
    pub churned_subscriptions: i64,
    /// `(days since the unix epoch, currency, amount paid in minor units)` of paid invoices.
    pub revenue_by_day: Vec<(i64, String, i64)>,
    pub members_by_status: Vec<(PaymentStatus, i64)>,
}

/// Monthly recurring revenue per currency, in minor units: every entitled subscription at
/// its plan's price, yearly plans counted as a twelfth (rounded down).
pub fn monthly_recurring_revenue(facts: &OverviewFacts, catalog: &Catalog) -> Vec<(String, i64)> {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for (plan, count) in &facts.entitled_by_plan {
        let Some(plan) = plan.as_deref().and_then(|id| catalog.plan(id)) else {
            continue;
        };
        let monthly = match plan.interval {
            Interval::Month => plan.amount,
            Interval::Year => plan.amount / 12,
        };
        let amount = monthly.saturating_mul(*count);
        match totals.iter_mut().find(|(c, _)| *c == plan.currency) {
            Some((_, total)) => *total = total.saturating_add(amount),
            None => totals.push((plan.currency.clone(), amount)),
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::{Plan, PriceRef};
    use crate::stripe::StripePriceId;

    fn plan(id: &str, amount: i64, interval: Interval) -> Plan {
        Plan {
            id: id.into(),
            name: id.into(),
            price: PriceRef::Id(StripePriceId::parse("price_1").expect("id")),
            price_id: None,
            amount,
            currency: "usd".into(),
            interval,
            features: vec![],
            limits: BTreeMap::new(),
            trial_period_days: None,
        }
    }

    #[test]
    fn mrr_counts_yearly_plans_as_a_twelfth_and_skips_unknown_plans() {
        let catalog = Catalog {
            plans: vec![
                plan("monthly", 4900, Interval::Month),
                plan("yearly", 12000, Interval::Year),
            ],
        };
        let facts = OverviewFacts {
            entitled_by_plan: vec![
                (Some("monthly".into()), 3),
                (Some("yearly".into()), 2),
                (None, 7),
            ],
            ..OverviewFacts::default()
        };
        assert_eq!(
            monthly_recurring_revenue(&facts, &catalog),
            vec![("usd".to_string(), 3 * 4900 + 2 * 1000)]
        );
    }

    #[test]
    fn a_member_without_subscriptions_is_preapproved_and_unpaid() {
        let billing = MemberBilling::none();
        assert_eq!(billing.payment_status, PaymentStatus::Preapproved);
        assert_eq!(billing.payment_date, None);
    }
}

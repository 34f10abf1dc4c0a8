//! The response bodies of the JSON API, one type per resource. Core types are domain values,
//! not the wire: renaming a core field changes nothing here until a body says so, and
//! `tests/api/contract.rs` snapshots every body.
//!
//! Times are RFC 3339 strings; money is integer minor units beside its currency; ids are
//! their text.

mod account;
mod billing;
mod connect;
mod console;
mod credits;
mod seed;
mod tenant_billing;
mod tenant_contracts;

pub use account::{ApiKeyBody, EndedBody, SessionBody, UserBody};
pub use billing::{
    CheckoutSessionBody, CheckoutStartedBody, EntitlementsBody, InvoiceBody, PlanBody,
    SubscriptionBody, SummaryBody,
};
pub use connect::{RequirementsBody, StatusOfAccountBody, TenantBody};
pub use console::{AuditBody, EventBody, MemberBody, MentorBody};
pub use credits::{
    BalanceBody, BalanceViewBody, CheckoutPurchaseBody, ConsumptionBody, CouponBody,
    IntentPurchaseBody, LedgerEntryBody, PaymentBody, PaymentDetailBody, RefundBody, RefusalBody,
    UsageBody,
};
pub use credits::{
    CustomAmountBody, IntentBody, PackBody, PacksBody, RedemptionBody, ReferralBody,
};
pub use seed::{SeedSessionBody, SeedSubscriptionBody, SessionAnswer, SubscriptionAnswer};
pub use tenant_billing::{
    TenantCustomerBody, TenantInvoiceBody, TenantInvoiceDetailBody, TenantRefundBody,
};
pub use tenant_contracts::TenantContractBody;

use serde::Serialize;

/// `{url}`: where to send the browser (Stripe's portal, a hosted page).
#[derive(Serialize)]
pub struct UrlBody<'a> {
    pub url: Option<&'a str>,
}

/// `{status}`: the liveness and readiness answers.
#[derive(Serialize)]
pub struct StatusBody {
    pub status: &'static str,
}

/// A single-use hosted link (Stripe's onboarding) and when it expires (unix seconds).
#[derive(Serialize)]
pub struct LinkBody<'a> {
    /// Seed 003's `POST /api/stripe/connect/create` names the account beside the link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<Option<&'a str>>,
    pub url: &'a str,
    pub expires_at: Option<i64>,
}

/// A test clock advanced to `frozen_time` (unix seconds).
#[derive(Serialize)]
pub struct TestClockBody<'a> {
    pub test_clock: &'a str,
    pub frozen_time: i64,
    /// How many tenants' test clocks (on their connected accounts) moved with it.
    pub tenant_clocks: usize,
}

/// `{replayed}`: how many events were queued again.
#[derive(Serialize)]
pub struct ReplayedBody {
    pub replayed: u64,
}

/// `{data}`: a whole list.
#[derive(Serialize)]
pub struct ListBody<T> {
    pub data: Vec<T>,
}

impl<T> ListBody<T> {
    pub fn of<'a, C: 'a>(
        items: impl IntoIterator<Item = &'a C>,
        body: impl Fn(&'a C) -> T,
    ) -> Self {
        Self {
            data: items.into_iter().map(body).collect(),
        }
    }
}

/// `{data, next_before}`: one keyset page; `next_before` is the last id when the page is full.
#[derive(Serialize)]
pub struct PageBody<T, I> {
    pub data: Vec<T>,
    pub next_before: Option<I>,
}

//! The response bodies of the JSON API, one type per resource. Core types are domain values,
//! not the wire: renaming a core field changes nothing here until a body says so, and
//! `tests/api/contract.rs` snapshots every body.
//!
//! Times are RFC 3339 strings; money is integer minor units beside its currency; ids are
//! their text.

mod account;
mod billing;
mod console;
mod credits;

pub use account::{ApiKeyBody, UserBody};
pub use billing::{EntitlementsBody, InvoiceBody, PlanBody, SubscriptionBody, SummaryBody};
pub use console::{AuditBody, EventBody, MemberBody, MentorBody};
pub use credits::{
    BalanceBody, BalanceViewBody, CheckoutPurchaseBody, ConsumptionBody, CouponBody,
    IntentPurchaseBody, LedgerEntryBody, PaymentBody, PaymentDetailBody, RefundBody, RefusalBody,
    UsageBody,
};

use serde::Serialize;

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

//! Stripe Connect as a port: a tenant's connected account, its onboarding and login links, the state a
//! platform gates on, and the Stripe API as that account (every call carries its `Stripe-Account`).

use std::sync::Arc;

use async_trait::async_trait;

use time::OffsetDateTime;

use crate::id::{TenantContractId, TenantId, TenantInvoiceId};
use crate::stripe::{
    StripeAccountId, StripeApi, StripeCustomerId, StripeError, StripeInvoiceId,
    StripePaymentIntentId, StripeSubscriptionId, SubscriptionSnapshot,
};

/// Which Stripe dashboard the tenant gets, and so who collects requirements
/// (<https://docs.stripe.com/connect/accounts>).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// Stripe-hosted onboarding and the Express dashboard; the platform pays the fees.
    Express,
    /// The tenant's own full Stripe dashboard.
    Standard,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Express => "express",
            AccountKind::Standard => "standard",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "express" => Some(AccountKind::Express),
            "standard" => Some(AccountKind::Standard),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewConnectedAccount {
    pub tenant: TenantId,
    pub kind: AccountKind,
    pub email: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub business_name: String,
    /// Derived from the tenant, so a retried create makes one account.
    pub idempotency_key: String,
}

/// What Stripe still needs before the account may take payments or be paid out.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Requirements {
    pub currently_due: Vec<String>,
    pub eventually_due: Vec<String>,
    pub past_due: Vec<String>,
    pub pending_verification: Vec<String>,
    pub disabled_reason: Option<String>,
}

/// A connected account as Stripe reports it: the fields platforms gate on, never inferred locally.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccountSnapshot {
    pub id: StripeAccountId,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
    pub requirements: Requirements,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Onboarding,
    Update,
}

#[derive(Clone, Debug)]
pub struct NewAccountLink {
    pub account: StripeAccountId,
    pub kind: LinkKind,
    /// Where Stripe sends the tenant when the link is spent or expired: mint a new one there.
    pub refresh_url: String,
    /// Where Stripe sends the tenant after onboarding; says nothing about whether it finished.
    pub return_url: String,
}

/// A single-use URL into Stripe's hosted onboarding (or the Express dashboard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostedLink {
    pub url: String,
    /// Unix seconds; `None` for login links, which Stripe does not date.
    pub expires_at: Option<i64>,
}

/// A tenant's customer, created on the tenant's connected account.
#[derive(Clone, Debug)]
pub struct NewConnectedCustomer {
    pub email: String,
    pub name: Option<String>,
    /// Derived from the tenant and the email, so a retried create makes one customer.
    pub idempotency_key: String,
    /// Test mode only: the tenant's test clock on its connected account, so its contracts can
    /// be renewed by time travel.
    pub test_clock: Option<String>,
}

/// One line of a tenant's invoice, in the invoice's minor units.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvoiceLine {
    pub description: String,
    pub unit_amount: i64,
    pub quantity: i64,
}

impl InvoiceLine {
    /// `None` when it overflows (the lines are checked before this is asked).
    pub fn amount(&self) -> Option<i64> {
        self.unit_amount.checked_mul(self.quantity)
    }
}

/// A tenant's invoice to create, finalize and send on its connected account.
#[derive(Clone, Debug)]
pub struct NewConnectedInvoice {
    pub customer: StripeCustomerId,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub days_until_due: u32,
    /// The platform's cut, computed by `fee::FeePolicy` on the total.
    pub application_fee_amount: i64,
    pub tenant_invoice: TenantInvoiceId,
    /// The prefix of every step's key (the invoice, each line, finalize, send), from our invoice id.
    pub idempotency_key: String,
}

/// A connected account's invoice as Stripe has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectedInvoice {
    pub id: StripeInvoiceId,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    /// The payment that paid it (`payments.data[].payment.payment_intent`), once paid.
    pub payment_intent: Option<StripePaymentIntentId>,
    /// Our invoice, from the metadata tollgate set.
    pub tenant_invoice: Option<String>,
    /// How many times Stripe tried to collect it (named in a failed attempt's note).
    pub attempt_count: i64,
    /// The subscription that billed it (`parent.subscription_details.subscription`), if any.
    pub subscription: Option<StripeSubscriptionId>,
    pub total: i64,
    /// Its lines as Stripe made them: each line's amount as `unit_amount`, quantity 1, so
    /// prorations (negative amounts) and seat counts in the description add up to `total`.
    pub lines: Vec<InvoiceLine>,
    /// The latest end of its lines' periods: what a paid subscription invoice pays up to.
    pub period_end: Option<OffsetDateTime>,
}

/// A tenant's recurring contract, made on its connected account as a product, a price and a
/// `send_invoice` subscription (each invoice emailed, paid on its hosted page).
#[derive(Clone, Debug)]
pub struct NewContractSubscription {
    pub customer: StripeCustomerId,
    /// The product's name, shown on every invoice line.
    pub description: String,
    pub currency: String,
    pub unit_amount: i64,
    /// `month` or `year`.
    pub interval: &'static str,
    pub quantity: u64,
    /// The tenant's `application_fee_bps`, sent as Stripe's `application_fee_percent` (a
    /// subscription takes a percentage only: the tenant's fixed fee does not apply).
    pub application_fee_bps: u32,
    pub days_until_due: u32,
    /// `cancel_at`: the contract's end; the last period is prorated up to it.
    pub ends_at: Option<OffsetDateTime>,
    pub contract: TenantContractId,
    /// The prefix of each step's key (product, price, subscription), from our contract id.
    pub idempotency_key: String,
}

/// A new seat count or price for a contract's subscription, prorated by Stripe.
#[derive(Clone, Debug)]
pub struct ContractChange {
    pub subscription: StripeSubscriptionId,
    pub currency: String,
    pub interval: &'static str,
    /// A new price on the subscription's product when this differs from the current one.
    pub unit_amount: i64,
    pub quantity: u64,
    /// The price's key comes from the contract and the amount, so a retry makes one price.
    pub idempotency_key: String,
}

/// Where a paid charge's money went, read from its balance transaction on the connected
/// account (never recomputed): `gross = stripe_fee + application_fee + net`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChargeAmounts {
    pub gross: i64,
    pub stripe_fee: i64,
    pub application_fee: i64,
    pub net: i64,
}

#[async_trait]
pub trait ConnectApi: Send + Sync {
    async fn create_connected_account(
        &self,
        request: &NewConnectedAccount,
    ) -> Result<AccountSnapshot, StripeError>;

    async fn connected_account(&self, id: &StripeAccountId)
    -> Result<AccountSnapshot, StripeError>;

    async fn create_account_link(
        &self,
        request: &NewAccountLink,
    ) -> Result<HostedLink, StripeError>;

    /// The Express dashboard of `account`.
    async fn create_login_link(&self, account: &StripeAccountId)
    -> Result<HostedLink, StripeError>;

    /// Creates a customer on the connected account.
    async fn create_connected_customer(
        &self,
        account: &StripeAccountId,
        request: &NewConnectedCustomer,
    ) -> Result<StripeCustomerId, StripeError>;

    /// Creates the invoice and its lines on the connected account, finalizes it and sends it to
    /// the customer (Stripe emails the pay link). Each step has its own idempotency key, so a
    /// retry after a partial failure finishes the same invoice.
    async fn send_connected_invoice(
        &self,
        account: &StripeAccountId,
        request: &NewConnectedInvoice,
    ) -> Result<ConnectedInvoice, StripeError>;

    async fn connected_invoice(
        &self,
        account: &StripeAccountId,
        id: &StripeInvoiceId,
    ) -> Result<ConnectedInvoice, StripeError>;

    async fn void_connected_invoice(
        &self,
        account: &StripeAccountId,
        id: &StripeInvoiceId,
    ) -> Result<ConnectedInvoice, StripeError>;

    /// The fee split of the payment's charge, from its balance transaction; `None` before the
    /// payment has a settled charge.
    async fn charge_amounts(
        &self,
        account: &StripeAccountId,
        payment: &StripePaymentIntentId,
    ) -> Result<Option<ChargeAmounts>, StripeError>;

    /// Creates the contract's product, price and subscription on the connected account. The
    /// subscription carries `tollgate_contract_id` in its metadata, so its events find the
    /// contract even when this call's answer was lost.
    async fn create_contract_subscription(
        &self,
        account: &StripeAccountId,
        request: &NewContractSubscription,
    ) -> Result<SubscriptionSnapshot, StripeError>;

    /// Moves the subscription's item to the new quantity and price, with prorations on the
    /// next invoice (`proration_behavior=create_prorations`).
    async fn change_contract_subscription(
        &self,
        account: &StripeAccountId,
        change: &ContractChange,
    ) -> Result<SubscriptionSnapshot, StripeError>;

    /// The Stripe API acting as `account`: every request, refetches of its events' objects included,
    /// carries `Stripe-Account: <account>` (without it Stripe answers "No such …").
    fn on_account(&self, account: &StripeAccountId) -> Arc<dyn StripeApi>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_kinds_survive_their_text_form() {
        for kind in [AccountKind::Express, AccountKind::Standard] {
            assert_eq!(AccountKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AccountKind::parse("custom"), None);
    }
}

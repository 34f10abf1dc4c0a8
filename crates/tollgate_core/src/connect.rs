//! Stripe Connect as a port: a tenant's connected account, its onboarding and login links, the state a
//! platform gates on, and the Stripe API as that account (every call carries its `Stripe-Account`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::id::TenantId;
use crate::stripe::{StripeAccountId, StripeApi, StripeError};

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

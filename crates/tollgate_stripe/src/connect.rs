//! The `ConnectApi` port over async-stripe: connected accounts, account and login links, and a client that
//! acts as a connected account (its `Stripe-Account` on every request, retries included).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use stripe_connect::account::{
    CreateAccount, CreateAccountBusinessProfile, CreateAccountCapabilities,
    CreateAccountCapabilitiesCardPayments, CreateAccountCapabilitiesTransfers, CreateAccountType,
    RetrieveAccount,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_connect::login_link::CreateAccountLoginLink;
use stripe_shared::Account;
use tollgate_core::connect::{
    AccountKind, AccountSnapshot, ConnectApi, HostedLink, LinkKind, NewAccountLink,
    NewConnectedAccount, Requirements,
};
use tollgate_core::stripe::{StripeAccountId, StripeApi, StripeError};

use crate::client::{Key, StripeClient};
use crate::error::unexpected;

fn snapshot(account: Account) -> Result<AccountSnapshot, StripeError> {
    let id = StripeAccountId::parse(account.id.as_str())
        .map_err(|_| unexpected("a malformed account id"))?;
    let requirements = account
        .requirements
        .map(|r| Requirements {
            currently_due: r.currently_due.unwrap_or_default(),
            eventually_due: r.eventually_due.unwrap_or_default(),
            past_due: r.past_due.unwrap_or_default(),
            pending_verification: r.pending_verification.unwrap_or_default(),
            disabled_reason: r.disabled_reason.map(|d| d.as_str().to_owned()),
        })
        .unwrap_or_default();
    Ok(AccountSnapshot {
        id,
        // Absent means Stripe has not enabled it: a platform must never assume it can charge.
        charges_enabled: account.charges_enabled.unwrap_or(false),
        payouts_enabled: account.payouts_enabled.unwrap_or(false),
        details_submitted: account.details_submitted.unwrap_or(false),
        requirements,
    })
}

#[async_trait]
impl ConnectApi for StripeClient {
    async fn create_connected_account(
        &self,
        request: &NewConnectedAccount,
    ) -> Result<AccountSnapshot, StripeError> {
        let mut capabilities = CreateAccountCapabilities::new();
        let mut card = CreateAccountCapabilitiesCardPayments::new();
        card.requested = Some(true);
        let mut transfers = CreateAccountCapabilitiesTransfers::new();
        transfers.requested = Some(true);
        capabilities.card_payments = Some(card);
        capabilities.transfers = Some(transfers);
        let mut profile = CreateAccountBusinessProfile::new();
        profile.name = Some(request.business_name.clone());
        let mut create = CreateAccount::new()
            .type_(match request.kind {
                AccountKind::Express => CreateAccountType::Express,
                AccountKind::Standard => CreateAccountType::Standard,
            })
            .country(request.country.as_str())
            .capabilities(capabilities)
            .business_profile(profile)
            .metadata(HashMap::from([(
                "tollgate_tenant_id".to_owned(),
                request.tenant.to_string(),
            )]));
        if let Some(email) = &request.email {
            create = create.email(email.as_str());
        }
        let account = self
            .platform()
            .send(
                "account.create",
                &create,
                Key::Given(&request.idempotency_key),
            )
            .await?;
        snapshot(account)
    }

    async fn connected_account(
        &self,
        id: &StripeAccountId,
    ) -> Result<AccountSnapshot, StripeError> {
        let account = self
            .platform()
            .send(
                "account.retrieve",
                &RetrieveAccount::new(id.as_str()),
                Key::None,
            )
            .await?;
        snapshot(account)
    }

    async fn create_account_link(
        &self,
        request: &NewAccountLink,
    ) -> Result<HostedLink, StripeError> {
        let create = CreateAccountLink::new(
            request.account.as_str(),
            match request.kind {
                LinkKind::Onboarding => CreateAccountLinkType::AccountOnboarding,
                LinkKind::Update => CreateAccountLinkType::AccountUpdate,
            },
        )
        .refresh_url(request.refresh_url.as_str())
        .return_url(request.return_url.as_str());
        // Each link is single use and short-lived: a fresh key, never a replay of an old link.
        let link = self
            .platform()
            .send("account_link.create", &create, Key::Fresh)
            .await?;
        Ok(HostedLink {
            url: link.url,
            expires_at: Some(link.expires_at),
        })
    }

    async fn create_login_link(
        &self,
        account: &StripeAccountId,
    ) -> Result<HostedLink, StripeError> {
        let link = self
            .platform()
            .send(
                "login_link.create",
                &CreateAccountLoginLink::new(account.as_str()),
                Key::Fresh,
            )
            .await?;
        Ok(HostedLink {
            url: link.url,
            expires_at: None,
        })
    }

    fn on_account(&self, account: &StripeAccountId) -> Arc<dyn StripeApi> {
        let mut scoped = self.clone();
        scoped.account = Some(account.as_str().into());
        Arc::new(scoped)
    }
}

impl StripeClient {
    /// This client as the platform: account-level calls are the platform's, whatever account it acts as.
    fn platform(&self) -> std::borrow::Cow<'_, StripeClient> {
        match self.account {
            None => std::borrow::Cow::Borrowed(self),
            Some(_) => {
                let mut platform = self.clone();
                platform.account = None;
                std::borrow::Cow::Owned(platform)
            }
        }
    }
}

//! The Connect adapter against the emulator over real HTTP: one connected account per tenant, onboarding
//! state read from Stripe, and a client that acts as the account (its objects invisible to the platform).

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use stripe_emulator::{EmulatorConfig, RunningEmulator};
use tollgate_core::connect::{
    AccountKind, ConnectApi, LinkKind, NewAccountLink, NewConnectedAccount,
};
use tollgate_core::stripe::{
    NewCustomer, StripeAccountId, StripeApi, StripeCustomerId, StripeError,
};
use tollgate_core::{Secret, TenantId, UserId};
use tollgate_stripe::pacing::Pacing;
use tollgate_stripe::{StripeClient, StripeClientConfig};

const KEY: &str = "sk_test_tollgate_connect";

async fn start() -> Result<(RunningEmulator, StripeClient, reqwest::Client)> {
    let emulator = stripe_emulator::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse()?,
        ..Default::default()
    })
    .await?;
    let client = StripeClient::new(StripeClientConfig {
        secret_key: Secret::new(KEY.to_owned()),
        api_base: Some(emulator.base_url().to_owned()),
        timeout: Duration::from_secs(10),
        max_retries: 2,
        first_retry_delay: Duration::from_millis(10),
        pacing: Pacing::OFF,
    })?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok((emulator, client, http))
}

fn new_account(tenant: TenantId) -> NewConnectedAccount {
    NewConnectedAccount {
        tenant,
        kind: AccountKind::Express,
        email: Some("owner@tenant.test".to_owned()),
        country: "US".to_owned(),
        business_name: "Tenant IT".to_owned(),
        idempotency_key: format!("tollgate-connect-account-{tenant}"),
    }
}

fn link(account: &StripeAccountId) -> NewAccountLink {
    NewAccountLink {
        account: account.clone(),
        kind: LinkKind::Onboarding,
        refresh_url: "https://tollgate.test/connect/onboarding/refresh".to_owned(),
        return_url: "https://tollgate.test/connect/onboarding/return".to_owned(),
    }
}

/// Finishes onboarding on the emulator's hosted page, as the tenant would.
async fn onboard(http: &reqwest::Client, url: &str) -> Result<()> {
    ensure!(
        http.get(url).send().await?.status().is_success(),
        "page opens"
    );
    let done = http
        .post(url)
        .form(&[("action", "complete")])
        .send()
        .await?;
    ensure!(done.status().as_u16() == 303, "submit: {}", done.status());
    Ok(())
}

#[tokio::test]
async fn a_tenant_gets_one_connected_account_whose_state_is_read_from_stripe() -> Result<()> {
    let (_emulator, client, http) = start().await?;
    let tenant = TenantId::new();
    let first = client
        .create_connected_account(&new_account(tenant))
        .await?;
    let again = client
        .create_connected_account(&new_account(tenant))
        .await?;
    assert_eq!(first.id, again.id, "the same key makes one account");
    assert!(!first.charges_enabled && !first.payouts_enabled && !first.details_submitted);
    assert!(!first.requirements.currently_due.is_empty());
    assert_eq!(
        first.requirements.disabled_reason.as_deref(),
        Some("requirements.past_due")
    );

    let onboarding = client.create_account_link(&link(&first.id)).await?;
    assert!(onboarding.expires_at.is_some());
    let before = client.connected_account(&first.id).await?;
    assert!(!before.charges_enabled, "returning is not onboarding");
    onboard(&http, &onboarding.url).await?;
    let after = client.connected_account(&first.id).await?;
    assert!(after.charges_enabled && after.payouts_enabled && after.details_submitted);
    assert!(after.requirements.currently_due.is_empty());
    assert_eq!(after.requirements.disabled_reason, None);
    let login = client.create_login_link(&first.id).await?;
    assert!(login.url.contains(first.id.as_str()));
    Ok(())
}

#[tokio::test]
async fn a_client_on_an_account_keeps_its_objects_on_that_account() -> Result<()> {
    let (emulator, client, _http) = start().await?;
    let a = client
        .create_connected_account(&new_account(TenantId::new()))
        .await?
        .id;
    let b = client
        .create_connected_account(&new_account(TenantId::new()))
        .await?
        .id;
    let on_a = client.on_account(&a);
    let user = UserId::new();
    let customer = on_a
        .create_customer(&NewCustomer {
            user_id: user,
            email: Some("client@a.test".to_owned()),
            idempotency_key: format!("tollgate-customer-{user}"),
            test_clock: None,
        })
        .await?;
    assert_eq!(
        on_a.customer(&customer).await?.id,
        customer,
        "refetched as A"
    );
    assert_eq!(
        client.customer(&customer).await.err(),
        Some(StripeError::NotFound),
        "the platform does not see A's customer"
    );
    assert_eq!(
        client.on_account(&b).customer(&customer).await.err(),
        Some(StripeError::NotFound),
        "nor does another tenant's account"
    );
    let events: Value = reqwest::Client::new()
        .get(format!("{}/v1/events", emulator.base_url()))
        .bearer_auth(KEY)
        .header("Stripe-Account", a.as_str())
        .send()
        .await?
        .json()
        .await?;
    let created = events["data"]
        .as_array()
        .context("events")?
        .iter()
        .find(|e| e["type"] == "customer.created")
        .context("customer.created on A")?;
    assert_eq!(created["account"], a.as_str());
    Ok(())
}

#[tokio::test]
async fn an_unknown_account_is_a_clear_error() -> Result<()> {
    let (_emulator, client, _http) = start().await?;
    let nobody = StripeAccountId::parse("acct_doesnotexist").context("id")?;
    assert_eq!(
        client.connected_account(&nobody).await.err(),
        Some(StripeError::NotFound)
    );
    let refused = client.create_account_link(&link(&nobody)).await.err();
    assert!(
        matches!(refused, Some(StripeError::InvalidRequest { ref param, .. }) if param.as_deref() == Some("account")),
        "{refused:?}"
    );
    let someone = StripeCustomerId::parse("cus_anyone").context("id")?;
    let refused = client.on_account(&nobody).customer(&someone).await.err();
    assert!(
        refused.is_some() && refused != Some(StripeError::NotFound),
        "a Stripe-Account naming no account is refused as such, not as a missing customer: {refused:?}"
    );
    Ok(())
}

//! What every handler shares: configuration, the store, Stripe, the clock, the catalog,
//! verifiers and limiters.

use std::sync::Arc;

use tokio::sync::Notify;
use tollgate_core::account::AccountPolicy;
use tollgate_core::api_key::KeyMode;
use tollgate_core::billing::Billing;
use tollgate_core::connect::ConnectApi;
use tollgate_core::credits::CreditPolicy;
use tollgate_core::plan::Catalog;
use tollgate_core::stripe::StripeApi;
use tollgate_core::tenant::Tenants;
use tollgate_core::usage::UsagePolicy;
use tollgate_core::{Clock, Store};
use tollgate_stripe::webhook::WebhookVerifier;

use crate::auth::jwt::JwtVerifier;
use crate::auth::rate_limit::RateLimits;
use crate::config::{Config, ConfigError};
use crate::inbox_writer::InboxWriter;
use crate::metrics::Metrics;
use crate::setup::SetupToken;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub stripe: Arc<dyn StripeApi>,
    /// Stripe Connect: tenants' connected accounts, and the API as one of them.
    pub connect: Arc<dyn ConnectApi>,
    pub catalog: Catalog,
    pub credits: CreditPolicy,
    pub usage: UsagePolicy,
    pub webhooks: WebhookVerifier,
    /// The Connect endpoint's verifier: events of connected accounts.
    pub connect_webhooks: WebhookVerifier,
    /// Whether Stripe is tollgate's own emulator (pages show a test-mode banner).
    pub emulated: bool,
    /// Test mode only: the test clock new customers live on.
    pub test_clock: Option<String>,
    /// Where notifications go: `webhook:<url>` per configured host-app URL.
    pub channels: Vec<String>,
    /// Writes verified webhook deliveries to the inbox, several per commit.
    pub inbox: InboxWriter,
    /// Wakes the inbox worker when a new event is stored.
    pub inbox_wake: Notify,
    pub jwt: Option<JwtVerifier>,
    pub limits: RateLimits,
    pub metrics: Metrics,
    pub setup: SetupToken,
    pub policy: AccountPolicy,
    /// Signs the sign-in and sign-up forms' double-submit tokens.
    pub form_key: crate::pages::form_token::FormKey,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The Stripe side of the state, made at start-up (see `serve::start`).
pub struct StripeSide {
    pub stripe: Arc<dyn StripeApi>,
    pub connect: Arc<dyn ConnectApi>,
    pub catalog: Catalog,
    pub webhooks: WebhookVerifier,
    pub connect_webhooks: WebhookVerifier,
    pub emulated: bool,
    pub test_clock: Option<String>,
}

impl AppState {
    /// Builds the state and starts the inbox writer (so: within a Tokio runtime); fails only on
    /// configuration that cannot be loaded (key files).
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        stripe: StripeSide,
    ) -> Result<Self, ConfigError> {
        let jwt = config.auth.jwt.as_ref().map(JwtVerifier::new).transpose()?;
        let policy = config.account_policy();
        let mut channels: Vec<String> = config
            .notifications
            .webhook_urls
            .iter()
            .map(|url| format!("webhook:{url}"))
            .collect();
        if config.notifications.smtp.enabled() {
            channels.push(crate::notify::ADMIN_EMAIL.to_string());
        }
        Ok(Self(Arc::new(Inner {
            limits: RateLimits::new(&config.auth.rate_limit),
            jwt,
            policy,
            inbox: InboxWriter::spawn(store.clone()),
            store,
            clock,
            stripe: stripe.stripe,
            connect: stripe.connect,
            catalog: stripe.catalog,
            credits: config.credits.policy(),
            usage: config.usage.policy(),
            webhooks: stripe.webhooks,
            connect_webhooks: stripe.connect_webhooks,
            emulated: stripe.emulated,
            test_clock: stripe.test_clock,
            channels,
            inbox_wake: Notify::new(),
            metrics: Metrics::default(),
            setup: SetupToken::default(),
            form_key: crate::pages::form_token::FormKey::new(config.auth.form_secret.as_ref()),
            config,
        })))
    }

    /// The billing use-cases over this state's ports.
    pub fn billing(&self) -> Billing<'_> {
        Billing {
            store: self.store.as_ref(),
            stripe: self.stripe.as_ref(),
            clock: self.clock.as_ref(),
            catalog: &self.catalog,
            credits: &self.credits,
            usage: &self.usage,
            test_clock: self.test_clock.as_deref(),
        }
    }

    /// The tenant use-cases over this state's ports.
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants {
            store: self.store.as_ref(),
            billing: self.store.as_ref(),
            contracts: self.store.as_ref(),
            accounts: self.store.as_ref(),
            connect: self.connect.as_ref(),
            clock: self.clock.as_ref(),
            account_kind: self.config.connect.account_kind(),
            test_clocks: self.test_clock.is_some(),
        }
    }

    /// API keys are live only when Stripe is live, so a test key can never touch real money.
    pub fn key_mode(&self) -> KeyMode {
        if self.config.stripe.is_live() {
            KeyMode::Live
        } else {
            KeyMode::Test
        }
    }

    /// The public URL of a path on this service.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.config.server.base_url.trim_end_matches('/')
        )
    }
}

//! The `StripeApi` port over async-stripe: one configured client, every create under the caller's idempotency key, retries with backoff, per-attempt timeouts (invariants 1 and 5).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::subscription::{CancelSubscription, RetrieveSubscription, UpdateSubscription};
use stripe_billing::test_helpers_test_clock::{
    AdvanceTestHelpersTestClock, CreateTestHelpersTestClock, RetrieveTestHelpersTestClock,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionSubscriptionData, ProductData,
    RetrieveCheckoutSession,
};
use stripe_core::customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned};
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentAutomaticPaymentMethods, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, ListRefund, RetrieveRefund};
use stripe_product::price::{
    CreatePrice, CreatePriceProductData, CreatePriceRecurring, CreatePriceRecurringInterval,
    ListPrice, RetrievePrice,
};
use stripe_shared::CheckoutSessionMode;
use stripe_shared::TestHelpersTestClockStatus;
use tollgate_core::Secret;
use tollgate_core::stripe::{
    CheckoutLine, CheckoutMode, CheckoutSessionId, CheckoutSnapshot, CustomerSnapshot,
    InvoiceSnapshot, NewCheckout, NewCustomer, NewPaymentIntent, NewProductPrice, NewStripeRefund,
    PaymentIntentSnapshot, PriceSnapshot, RefundSnapshot, StripeApi, StripeChargeId,
    StripeCustomerId, StripeError, StripeInvoiceId, StripePaymentIntentId, StripePriceId,
    StripeRefundId, StripeSubscriptionId, SubscriptionSnapshot,
};

use crate::pacing::{Pacer, Pacing};
use crate::transport::Transport;
use crate::{backoff, error, mapping};

/// The Stripe API version every request is made with: the one async-stripe 1.0.0-rc.10 is generated
/// for (its `Stripe-Version` header), so response shapes always match its types.
pub const API_VERSION: &str = "2026-09-30.endive";

/// Stripe's production API.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";

/// How the adapter talks to Stripe.
#[derive(Debug, Clone)]
pub struct StripeClientConfig {
    /// `sk_live_…`, `sk_test_…` or a restricted `rk_…` key.
    pub secret_key: Secret,
    /// Where the API lives (`/v1/…` hangs below it); `None` is Stripe itself. The emulator's `base_url()` goes here.
    pub api_base: Option<String>,
    /// Per attempt, body included; a retry gets a fresh budget.
    pub timeout: Duration,
    /// Retries after the first attempt, on network errors, timeouts, 409, 429 and 5xx.
    pub max_retries: u32,
    /// The wait before the first retry; it doubles each time (with jitter, capped at 8 s).
    pub first_retry_delay: Duration,
    /// How fast requests may be sent; every attempt, retries included, waits for its turn.
    pub pacing: Pacing,
}

impl StripeClientConfig {
    /// Stripe's own libraries' habits: 2 retries starting at 500 ms; a 30 s budget per
    /// attempt. Paced below Stripe's rate limits for the key's mode (`Pacing::stripe`).
    pub fn new(secret_key: Secret) -> Self {
        let live = is_live_key(secret_key.expose());
        Self {
            secret_key,
            api_base: None,
            timeout: Duration::from_secs(30),
            max_retries: 2,
            first_retry_delay: Duration::from_millis(500),
            pacing: Pacing::stripe(live),
        }
    }
}

/// Whether a secret or restricted key is a live-mode one (`sk_live_…`, `rk_live_…`).
pub fn is_live_key(key: &str) -> bool {
    key.starts_with("sk_live_") || key.starts_with("rk_live_")
}

/// Why a client cannot be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    #[error("the Stripe API base must be an http(s) URL, got {0:?}")]
    ApiBase(String),
    /// Says nothing about the key itself.
    #[error("the Stripe secret key must be non-empty visible ASCII")]
    SecretKey,
}

/// tollgate's Stripe client: cheap to clone, safe to share.
#[derive(Clone)]
pub struct StripeClient {
    inner: Transport,
    /// `Stripe-Account` of every request: the connected account this client acts as (`ConnectApi::on_account`).
    pub(crate) account: Option<stripe_shared::AccountId>,
    pacer: Arc<Pacer>,
    max_retries: u32,
    first_retry_delay: Duration,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // async-stripe marks the key header sensitive; this stays short and key-free anyway.
        f.debug_struct("StripeClient")
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl StripeClient {
    pub fn new(config: StripeClientConfig) -> Result<Self, ClientConfigError> {
        let key = config.secret_key.expose();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClientConfigError::SecretKey);
        }
        let base = config.api_base.as_deref().unwrap_or(STRIPE_API_BASE);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientConfigError::ApiBase(base.to_owned()));
        }
        let inner = Transport::new(key, base, API_VERSION, config.timeout)?;
        Ok(Self {
            inner,
            account: None,
            pacer: Arc::new(Pacer::new(config.pacing)),
            max_retries: config.max_retries,
            first_retry_delay: config.first_retry_delay,
        })
    }

    /// Sends one request, retrying what may succeed next time; every attempt carries the same key.
    pub(crate) async fn send<R>(
        &self,
        operation: &'static str,
        request: &R,
        key: Key<'_>,
    ) -> Result<R::Output, StripeError>
    where
        R: StripeRequest + Sync,
        R::Output: miniserde::Deserialize + Send,
    {
        let strategy = match key {
            Key::None => RequestStrategy::Once,
            Key::Given(key) => {
                RequestStrategy::Idempotent(IdempotencyKey::new(key).map_err(|e| {
                    StripeError::InvalidRequest {
                        param: Some("idempotency_key".to_owned()),
                        message: e.to_string(),
                    }
                })?)
            }
            Key::Fresh => RequestStrategy::Idempotent(fresh_key()),
        };
        let mut retry = 0;
        loop {
            self.pacer.wait_turn(operation).await;
            let mut customized = request.customize().request_strategy(strategy.clone());
            if let Some(account) = &self.account {
                customized = customized.account_id(account.clone());
            }
            let attempt = customized.send(&self.inner).await;
            let failure = match attempt {
                Ok(output) => return Ok(output),
                Err(failure) => failure,
            };
            if retry < self.max_retries && error::is_retryable(&failure) {
                let wait = backoff::delay(self.first_retry_delay, retry);
                tracing::warn!(
                    stripe.operation = operation,
                    error.kind = %error::kind(&failure),
                    retry = retry + 1,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "Stripe request failed; retrying with the same idempotency key",
                );
                tokio::time::sleep(wait).await;
                retry += 1;
                continue;
            }
            return Err(error::to_port_error(failure));
        }
    }
}

/// The idempotency key of one logical request.
pub(crate) enum Key<'a> {
    /// Reads: Stripe ignores keys on GET.
    None,
    /// Creates: the caller's key, derived from our own ids.
    Given(&'a str),
    /// Updates and deletes: a random key for this call, so its retries cannot apply twice.
    Fresh,
}

/// Stripe's currency type accepts any code (unknown ones as "other"); ours are lower-case.
pub(crate) fn currency_of(code: &str) -> stripe_types::Currency {
    code.to_ascii_lowercase()
        .parse::<stripe_types::Currency>()
        .unwrap_or_else(|never| match never {})
}

fn fresh_key() -> IdempotencyKey {
    IdempotencyKey::new(format!("tollgate-{:032x}", rand::random::<u128>()))
        .expect("BUG: a 41-character key is a valid idempotency key")
}

#[async_trait]
impl StripeApi for StripeClient {
    async fn create_customer(
        &self,
        request: &NewCustomer,
    ) -> Result<StripeCustomerId, StripeError> {
        let mut create = CreateCustomer::new().metadata(HashMap::from([(
            "tollgate_user_id".to_owned(),
            request.user_id.to_string(),
        )]));
        if let Some(email) = &request.email {
            create = create.email(email.as_str());
        }
        if let Some(clock) = &request.test_clock {
            create = create.test_clock(clock.as_str());
        }
        let customer = self
            .send(
                "customer.create",
                &create,
                Key::Given(&request.idempotency_key),
            )
            .await?;
        Ok(mapping::customer(customer)?.id)
    }

    async fn customer(&self, id: &StripeCustomerId) -> Result<CustomerSnapshot, StripeError> {
        let answer = self
            .send(
                "customer.retrieve",
                &RetrieveCustomer::new(id.as_str()),
                Key::None,
            )
            .await?;
        match answer {
            RetrieveCustomerReturned::Customer(customer) => mapping::customer(customer),
            RetrieveCustomerReturned::DeletedCustomer(deleted) => {
                mapping::deleted_customer(deleted)
            }
        }
    }

    async fn create_checkout_session(
        &self,
        request: &NewCheckout,
    ) -> Result<CheckoutSnapshot, StripeError> {
        let mut line = CreateCheckoutSessionLineItems::new();
        match &request.line {
            CheckoutLine::Price { price, quantity } => {
                line.price = Some(price.as_str().to_owned());
                line.quantity = Some(*quantity);
            }
            CheckoutLine::Amount {
                amount,
                currency,
                name,
            } => {
                let mut data = CreateCheckoutSessionLineItemsPriceData::new(currency_of(currency));
                data.product_data = Some(ProductData::new(name.as_str()));
                data.unit_amount = Some(*amount);
                line.price_data = Some(data);
                line.quantity = Some(1);
            }
        }
        let metadata: HashMap<String, String> = request.metadata.clone().into_iter().collect();
        let mut create = CreateCheckoutSession::new()
            .mode(match request.mode {
                CheckoutMode::Payment => CheckoutSessionMode::Payment,
                CheckoutMode::Subscription => CheckoutSessionMode::Subscription,
                CheckoutMode::Setup => CheckoutSessionMode::Setup,
            })
            .customer(request.customer.as_str())
            .line_items(vec![line])
            .success_url(request.success_url.as_str())
            .cancel_url(request.cancel_url.as_str())
            .client_reference_id(request.client_reference_id.as_str());
        if !metadata.is_empty() {
            create = create.metadata(metadata.clone());
        }
        if request.allow_promotion_codes {
            create = create.allow_promotion_codes(true);
        }
        if request.mode == CheckoutMode::Payment && !request.payment_intent_metadata.is_empty() {
            let mut data = CreateCheckoutSessionPaymentIntentData::new();
            data.metadata = Some(
                request
                    .payment_intent_metadata
                    .clone()
                    .into_iter()
                    .collect(),
            );
            create = create.payment_intent_data(data);
        }
        if request.mode == CheckoutMode::Subscription {
            let mut data = CreateCheckoutSessionSubscriptionData::new();
            // The subscription outlives the session: its own metadata is what later events carry.
            data.metadata = (!metadata.is_empty()).then_some(metadata);
            data.trial_period_days = request.trial_period_days;
            if data.metadata.is_some() || data.trial_period_days.is_some() {
                create = create.subscription_data(data);
            }
        }
        let session = self
            .send(
                "checkout_session.create",
                &create,
                Key::Given(&request.idempotency_key),
            )
            .await?;
        mapping::checkout_session(session)
    }

    async fn checkout_session(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<CheckoutSnapshot, StripeError> {
        let session = self
            .send(
                "checkout_session.retrieve",
                &RetrieveCheckoutSession::new(id.as_str()),
                Key::None,
            )
            .await?;
        mapping::checkout_session(session)
    }

    async fn subscription(
        &self,
        id: &StripeSubscriptionId,
    ) -> Result<SubscriptionSnapshot, StripeError> {
        let sub = self
            .send(
                "subscription.retrieve",
                &RetrieveSubscription::new(id.as_str()),
                Key::None,
            )
            .await?;
        mapping::subscription(sub)
    }

    async fn cancel_subscription(
        &self,
        id: &StripeSubscriptionId,
        at_period_end: bool,
    ) -> Result<SubscriptionSnapshot, StripeError> {
        let sub = if at_period_end {
            let update = UpdateSubscription::new(id.as_str()).cancel_at_period_end(true);
            self.send("subscription.cancel_at_period_end", &update, Key::Fresh)
                .await?
        } else {
            let cancel = CancelSubscription::new(id.as_str());
            self.send("subscription.cancel", &cancel, Key::Fresh)
                .await?
        };
        mapping::subscription(sub)
    }

    async fn resume_subscription(
        &self,
        id: &StripeSubscriptionId,
    ) -> Result<SubscriptionSnapshot, StripeError> {
        let update = UpdateSubscription::new(id.as_str()).cancel_at_period_end(false);
        let sub = self
            .send("subscription.resume", &update, Key::Fresh)
            .await?;
        mapping::subscription(sub)
    }

    async fn invoice(&self, id: &StripeInvoiceId) -> Result<InvoiceSnapshot, StripeError> {
        let invoice = self
            .send(
                "invoice.retrieve",
                &RetrieveInvoice::new(id.as_str()),
                Key::None,
            )
            .await?;
        mapping::invoice(invoice)
    }

    async fn create_payment_intent(
        &self,
        request: &NewPaymentIntent,
    ) -> Result<PaymentIntentSnapshot, StripeError> {
        let mut create = CreatePaymentIntent::new(request.amount, currency_of(&request.currency))
            .customer(request.customer.as_str())
            .metadata(
                request
                    .metadata
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            )
            .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true));
        if let Some(description) = &request.description {
            create = create.description(description.as_str());
        }
        let intent = self
            .send(
                "payment_intent.create",
                &create,
                Key::Given(&request.idempotency_key),
            )
            .await?;
        mapping::payment_intent(intent)
    }

    async fn payment_intent(
        &self,
        id: &StripePaymentIntentId,
    ) -> Result<PaymentIntentSnapshot, StripeError> {
        let intent = self
            .send(
                "payment_intent.retrieve",
                &RetrievePaymentIntent::new(id.as_str()),
                Key::None,
            )
            .await?;
        mapping::payment_intent(intent)
    }

    async fn create_refund(
        &self,
        request: &NewStripeRefund,
    ) -> Result<RefundSnapshot, StripeError> {
        let create = CreateRefund::new()
            .payment_intent(request.payment_intent.as_str())
            .amount(request.amount)
            .metadata(
                request
                    .metadata
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            );
        let create = match request.refund_application_fee {
            Some(flag) => create.refund_application_fee(flag),
            None => create,
        };
        let refund = self
            .send(
                "refund.create",
                &create,
                Key::Given(&request.idempotency_key),
            )
            .await?;
        mapping::refund(refund)
    }

    async fn refund(&self, id: &StripeRefundId) -> Result<RefundSnapshot, StripeError> {
        let refund = self
            .send(
                "refund.retrieve",
                &RetrieveRefund::new(id.as_str()),
                Key::None,
            )
            .await?;
        mapping::refund(refund)
    }

    async fn refunds_of_charge(
        &self,
        charge: &StripeChargeId,
    ) -> Result<Vec<RefundSnapshot>, StripeError> {
        // One page of 100: a charge with more refunds than that is not a credit purchase.
        let list = self
            .send(
                "refund.list",
                &ListRefund::new().charge(charge.as_str()).limit(100),
                Key::None,
            )
            .await?;
        list.data.into_iter().map(mapping::refund).collect()
    }

    async fn create_portal_session(
        &self,
        customer: &StripeCustomerId,
        return_url: &str,
    ) -> Result<String, StripeError> {
        let create = CreateBillingPortalSession::new()
            .customer(customer.as_str())
            .return_url(return_url);
        let session = self
            .send("billing_portal_session.create", &create, Key::Fresh)
            .await?;
        Ok(session.url)
    }

    async fn price_by_lookup_key(
        &self,
        lookup_key: &str,
    ) -> Result<Option<PriceSnapshot>, StripeError> {
        let list = ListPrice::new()
            .lookup_keys(vec![lookup_key.to_owned()])
            .active(true)
            .limit(1);
        let prices = self.send("price.list", &list, Key::None).await?;
        prices
            .data
            .into_iter()
            .next()
            .map(mapping::price)
            .transpose()
    }

    async fn price(&self, id: &StripePriceId) -> Result<PriceSnapshot, StripeError> {
        let price = self
            .send(
                "price.retrieve",
                &RetrievePrice::new(id.as_str()),
                Key::None,
            )
            .await?;
        mapping::price(price)
    }

    async fn create_product_and_price(
        &self,
        request: &NewProductPrice,
    ) -> Result<PriceSnapshot, StripeError> {
        // One request (`product_data`) so the pair is created together or not at all, under one key.
        let mut create = CreatePrice::new(currency_of(&request.currency))
            .product_data(CreatePriceProductData::new(request.product_name.as_str()))
            .unit_amount(request.unit_amount)
            .lookup_key(request.lookup_key.as_str());
        if let Some(interval) = &request.interval {
            let interval = match interval.as_str() {
                "day" => CreatePriceRecurringInterval::Day,
                "week" => CreatePriceRecurringInterval::Week,
                "month" => CreatePriceRecurringInterval::Month,
                "year" => CreatePriceRecurringInterval::Year,
                _ => {
                    return Err(StripeError::InvalidRequest {
                        param: Some("recurring[interval]".to_owned()),
                        message: "the interval must be day, week, month or year".to_owned(),
                    });
                }
            };
            create = create.recurring(CreatePriceRecurring::new(interval));
        }
        let price = self
            .send(
                "price.create",
                &create,
                Key::Given(&request.idempotency_key),
            )
            .await?;
        mapping::price(price)
    }

    async fn create_test_clock(
        &self,
        frozen_time: time::OffsetDateTime,
        name: &str,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let create = CreateTestHelpersTestClock::new(frozen_time.unix_timestamp()).name(name);
        let clock = self
            .send("test_clock.create", &create, Key::Given(idempotency_key))
            .await?;
        Ok(clock.id.to_string())
    }

    async fn advance_test_clock(
        &self,
        id: &str,
        frozen_time: time::OffsetDateTime,
    ) -> Result<(), StripeError> {
        let advance = AdvanceTestHelpersTestClock::new(id, frozen_time.unix_timestamp());
        let mut clock = self
            .send("test_clock.advance", &advance, Key::Fresh)
            .await?;
        // Stripe advances in the background ("advancing"); wait, bounded, until it is ready.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
        while clock.status != TestHelpersTestClockStatus::Ready {
            if clock.status == TestHelpersTestClockStatus::InternalFailure {
                return Err(StripeError::Unavailable(
                    "the test clock failed to advance".into(),
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StripeError::Unavailable(
                    "the test clock is still advancing".into(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            clock = self
                .send(
                    "test_clock.retrieve",
                    &RetrieveTestHelpersTestClock::new(id),
                    Key::None,
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_api_version_is_the_one_async_stripe_sends() {
        assert_eq!(stripe_shared::version::VERSION.as_str(), API_VERSION);
    }

    #[test]
    fn an_api_base_without_a_scheme_is_refused() {
        let mut config = StripeClientConfig::new(Secret::new("sk_test_x".to_owned()));
        config.api_base = Some("localhost:12111".to_owned());
        assert_eq!(
            StripeClient::new(config).err(),
            Some(ClientConfigError::ApiBase("localhost:12111".to_owned()))
        );
    }

    #[test]
    fn a_key_with_spaces_is_refused_without_being_echoed() {
        let config = StripeClientConfig::new(Secret::new("sk_test_ab cd".to_owned()));
        let error = StripeClient::new(config).expect_err("refused");
        assert_eq!(error, ClientConfigError::SecretKey);
        assert!(!error.to_string().contains("ab cd"));
    }

    #[test]
    fn debug_output_of_config_and_client_never_shows_the_key() {
        let config = StripeClientConfig::new(Secret::new("sk_test_supersecret".to_owned()));
        let client = StripeClient::new(config.clone()).expect("client");
        let shown = format!("{config:?} {client:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
    }

    #[test]
    fn fresh_idempotency_keys_differ() {
        assert_ne!(fresh_key(), fresh_key());
    }
}

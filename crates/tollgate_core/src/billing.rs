//! The member's billing use-cases: one Stripe customer per user, subscription checkout,
//! cancel, resume, portal, and the summary the seeds ask for. Nothing here marks anyone
//! paid: state comes only from Stripe (invariant 1), applied through `BillingStore::apply_sync`.

use std::collections::BTreeMap;

use crate::account::User;
use crate::credits::CreditPolicy;
use crate::invoice::Invoice;
use crate::money::Money;
use crate::plan::Catalog;
use crate::store::{Store, StoreError, SyncChanges};
use crate::stripe::{
    CheckoutLine, CheckoutMode, CheckoutSessionId, CheckoutSnapshot, NewCheckout, NewCustomer,
    StripeApi, StripeCustomerId, StripeError, StripeEventId, SubscriptionSnapshot,
};
use crate::subscription::{self, BillingSummary, Entitlements, Subscription};
use crate::usage::UsagePolicy;
use crate::{Clock, UserId};

/// What the billing use-cases work with.
pub struct Billing<'a> {
    pub store: &'a dyn Store,
    pub stripe: &'a dyn StripeApi,
    pub clock: &'a dyn Clock,
    pub catalog: &'a Catalog,
    pub credits: &'a CreditPolicy,
    pub usage: &'a UsagePolicy,
    /// Test mode only: the test clock new customers are created on.
    pub test_clock: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("there is no plan {0:?}")]
    UnknownPlan(String),
    #[error("plan {0:?} has no Stripe price yet")]
    PlanUnavailable(String),
    #[error("you already have a live subscription; manage it in the billing portal")]
    AlreadySubscribed,
    #[error("you have no subscription")]
    NoSubscription,
    #[error("you have no billing account yet")]
    NoCustomer,
    #[error("no such checkout session")]
    UnknownCheckoutSession,
    #[error("there is no credit package {0:?}")]
    UnknownPackage(String),
    #[error("credits cannot be bought in {0:?}")]
    CurrencyNotAllowed(String),
    #[error("the amount must be between {min} and {max}")]
    AmountOutOfRange { min: Money, max: Money },
    #[error("no such payment")]
    UnknownPayment,
    #[error("this payment has nothing that can be refunded")]
    NotRefundable,
    #[error("the refund is larger than what remains of the payment ({remaining} in minor units)")]
    RefundExceedsRemaining { remaining: i64 },
    #[error("a feature is lower-case letters, digits, '.', '_' or '-', at most 64")]
    InvalidFeature,
    #[error(
        "the quantity must be a whole number from 1 to {}",
        crate::usage::MAX_QUANTITY
    )]
    InvalidQuantity,
    #[error("the idempotency key must be 1 to 255 printable characters")]
    InvalidIdempotencyKey,
    #[error("a coupon code is letters, digits, '-' or '_', at most 64")]
    InvalidCouponCode,
    #[error(
        "a coupon grants 1 to {} credits, and allows at least one redemption",
        crate::coupon::MAX_COUPON_CREDITS
    )]
    InvalidCoupon,
    #[error("a coupon with this code exists")]
    CouponExists,
    #[error("there is no such referral code")]
    UnknownReferralCode,
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often `apply_fetched` fetches a subscription again before it keeps what it has: each
/// time only if another fetch of it overlapped in time, which takes concurrent writers.
const REFETCHES: usize = 3;

/// Return URLs for a checkout, already built from the configured base URL.
pub struct CheckoutUrls {
    pub success: String,
    pub cancel: String,
}

impl Billing<'_> {
    /// The user's Stripe customer, created on first need. The idempotency key is the user id,
    /// so concurrent first requests all get the same customer from Stripe, and the store's
    /// unique link keeps exactly one.
    pub async fn ensure_customer(&self, user: &User) -> Result<StripeCustomerId, BillingError> {
        if let Some(customer) = self.store.stripe_customer_of(user.id).await? {
            return Ok(customer);
        }
        let customer = self
            .stripe
            .create_customer(&NewCustomer {
                user_id: user.id,
                email: user.email.as_ref().map(|e| e.as_str().to_string()),
                idempotency_key: format!("tollgate-customer-{}", user.id),
                test_clock: self.test_clock.map(str::to_string),
            })
            .await?;
        Ok(self
            .store
            .link_stripe_customer(user.id, &customer, self.clock.now())
            .await?)
    }

    pub async fn start_subscription_checkout(
        &self,
        user: &User,
        plan_id: &str,
        urls: &CheckoutUrls,
    ) -> Result<CheckoutSnapshot, BillingError> {
        let plan = self
            .catalog
            .plan(plan_id)
            .ok_or_else(|| BillingError::UnknownPlan(plan_id.to_string()))?;
        let price = plan
            .price_id
            .clone()
            .ok_or_else(|| BillingError::PlanUnavailable(plan_id.to_string()))?;
        let subscriptions = self.store.subscriptions_of(user.id).await?;
        if subscriptions.iter().any(Subscription::is_live) {
            return Err(BillingError::AlreadySubscribed);
        }
        let customer = self.ensure_customer(user).await?;
        let metadata = BTreeMap::from([
            ("userId".to_string(), user.id.to_string()),
            ("plan".to_string(), plan.id.clone()),
        ]);
        let session = self
            .stripe
            .create_checkout_session(&NewCheckout {
                mode: CheckoutMode::Subscription,
                customer,
                line: CheckoutLine::Price { price, quantity: 1 },
                success_url: urls.success.clone(),
                cancel_url: urls.cancel.clone(),
                client_reference_id: user.id.to_string(),
                metadata,
                trial_period_days: plan.trial_period_days.filter(|d| *d > 0),
                allow_promotion_codes: true,
                payment_intent_metadata: BTreeMap::new(),
                // A fresh key per attempt (our own id); the adapter reuses it on retries.
                idempotency_key: format!("tollgate-checkout-{}-{}", user.id, uuid::Uuid::new_v4()),
            })
            .await?;
        self.store
            .record_checkout_session(
                &session.id,
                user.id,
                "subscription",
                Some(&plan.id),
                self.clock.now(),
            )
            .await?;
        Ok(session)
    }

    /// A checkout session of the user's (admins: anyone's), fetched from Stripe and synced,
    /// so a success page can show the true state without trusting the browser.
    pub async fn checkout_session(
        &self,
        caller: &User,
        is_admin: bool,
        id: &CheckoutSessionId,
    ) -> Result<CheckoutSnapshot, BillingError> {
        let owner = self
            .store
            .checkout_session_owner(id)
            .await?
            .ok_or(BillingError::UnknownCheckoutSession)?;
        if owner != caller.id && !is_admin {
            return Err(BillingError::UnknownCheckoutSession);
        }
        let fetched_at = self.clock.now();
        let session = self.stripe.checkout_session(id).await?;
        let mut changes = SyncChanges {
            fetched_at: Some(fetched_at),
            checkout_status: Some((session.id.clone(), session.status.clone())),
            ..SyncChanges::default()
        };
        if let Some(subscription_id) = &session.subscription {
            let snapshot = self.stripe.subscription(subscription_id).await?;
            changes.subscription = Some(self.to_subscription(owner, &snapshot));
        }
        changes.fetched_until = Some(self.clock.now());
        self.apply_fetched::<BillingError>(None, &changes).await?;
        Ok(session)
    }

    pub async fn summary(&self, user: UserId) -> Result<BillingSummary, BillingError> {
        let subscriptions = self.store.subscriptions_of(user).await?;
        let last_payment = self.store.last_payment_at(user).await?;
        Ok(BillingSummary::of(
            subscription::current(&subscriptions),
            last_payment,
        ))
    }

    pub async fn entitlements(&self, user: UserId) -> Result<Entitlements, BillingError> {
        let subscriptions = self.store.subscriptions_of(user).await?;
        Ok(Entitlements::of(
            subscription::current(&subscriptions),
            self.catalog,
        ))
    }

    pub async fn invoices(&self, user: UserId) -> Result<Vec<Invoice>, BillingError> {
        Ok(self.store.invoices_of(user, 100).await?)
    }

    /// Cancels the user's live subscription now or at the period end, and records what
    /// Stripe answered.
    pub async fn cancel(
        &self,
        user: UserId,
        at_period_end: bool,
    ) -> Result<Subscription, BillingError> {
        let live = self.live_subscription(user).await?;
        let fetched_at = self.clock.now();
        let snapshot = self
            .stripe
            .cancel_subscription(&live.id, at_period_end)
            .await?;
        self.record(user, snapshot, fetched_at).await
    }

    /// Undoes a cancel-at-period-end.
    pub async fn resume(&self, user: UserId) -> Result<Subscription, BillingError> {
        let live = self.live_subscription(user).await?;
        let fetched_at = self.clock.now();
        let snapshot = self.stripe.resume_subscription(&live.id).await?;
        self.record(user, snapshot, fetched_at).await
    }

    pub async fn portal(&self, user: UserId, return_url: &str) -> Result<String, BillingError> {
        let customer = self
            .store
            .stripe_customer_of(user)
            .await?
            .ok_or(BillingError::NoCustomer)?;
        Ok(self
            .stripe
            .create_portal_session(&customer, return_url)
            .await?)
    }

    async fn live_subscription(&self, user: UserId) -> Result<Subscription, BillingError> {
        let subscriptions = self.store.subscriptions_of(user).await?;
        subscription::current(&subscriptions)
            .filter(|s| s.is_live())
            .cloned()
            .ok_or(BillingError::NoSubscription)
    }

    async fn record(
        &self,
        user: UserId,
        snapshot: SubscriptionSnapshot,
        fetched_at: time::OffsetDateTime,
    ) -> Result<Subscription, BillingError> {
        let subscription = self.to_subscription(user, &snapshot);
        let changes = SyncChanges {
            fetched_at: Some(fetched_at),
            fetched_until: Some(self.clock.now()),
            subscription: Some(subscription.clone()),
            ..SyncChanges::default()
        };
        Ok(self
            .apply_fetched::<BillingError>(None, &changes)
            .await?
            .unwrap_or(subscription))
    }

    /// Applies changes fetched from Stripe (`BillingStore::apply_sync`). While the subscription's
    /// snapshot could not be ordered against the stored one (their fetches overlapped in
    /// time), fetches it again: a fetch that starts after both ended is the newer, so a
    /// member's own cancel or resume is never undone by a worker's fetch that reached Stripe
    /// just before it. Returns the subscription as last fetched again, if it was.
    pub async fn apply_fetched<E>(
        &self,
        event: Option<&StripeEventId>,
        changes: &SyncChanges,
    ) -> Result<Option<Subscription>, E>
    where
        E: From<StripeError> + From<StoreError>,
    {
        let mut applied = self.store.apply_sync(event, changes).await?;
        let mut refetched = None;
        for _ in 0..REFETCHES {
            let (true, Some(subscription)) =
                (applied.subscription_overlapped, &changes.subscription)
            else {
                break;
            };
            let fetched_at = self.clock.now();
            let snapshot = self.stripe.subscription(&subscription.id).await?;
            let again = self.to_subscription(subscription.user_id, &snapshot);
            applied = self
                .store
                .apply_sync(
                    None,
                    &SyncChanges {
                        fetched_at: Some(fetched_at),
                        fetched_until: Some(self.clock.now()),
                        subscription: Some(again.clone()),
                        ..SyncChanges::default()
                    },
                )
                .await?;
            refetched = Some(again);
        }
        Ok(refetched)
    }

    /// Our record of a Stripe subscription, with the plan it belongs to.
    pub fn to_subscription(&self, user: UserId, snapshot: &SubscriptionSnapshot) -> Subscription {
        let plan = self
            .catalog
            .plan_for_price(&snapshot.price, snapshot.price_lookup_key.as_deref())
            .map(|p| p.id.clone());
        Subscription {
            id: snapshot.id.clone(),
            user_id: user,
            customer: snapshot.customer.clone(),
            status: snapshot.status,
            price: snapshot.price.clone(),
            plan,
            quantity: snapshot.quantity,
            current_period_start: snapshot.current_period_start,
            current_period_end: snapshot.current_period_end,
            cancel_at_period_end: snapshot.cancel_at_period_end,
            canceled_at: snapshot.canceled_at,
            ended_at: snapshot.ended_at,
            trial_end: snapshot.trial_end,
            created_at: snapshot.created,
        }
    }
}

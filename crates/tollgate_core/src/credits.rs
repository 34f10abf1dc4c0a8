//! Buying prepaid credits: the packs and rules from configuration, and the purchase use-cases
//! (Checkout or PaymentIntent). A purchase is a `pending` payment row before Stripe is asked,
//! and only Stripe's events complete it and grant its credits (invariant 1).

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::account::User;
use crate::billing::{Billing, BillingError, CheckoutUrls};
use crate::ledger::{self, Balance, LedgerEntry};
use crate::money::{Currency, Money};
use crate::payment::{NewPayment, Payment, PaymentKind, PaymentStatus};
use crate::store::{LedgerStore, Page, PaymentFilter, StoreError};
use crate::stripe::{
    CheckoutLine, CheckoutMode, CheckoutSessionId, NewCheckout, NewPaymentIntent,
    StripePaymentIntentId,
};
use crate::{EntryId, PaymentId, UserId};

/// A pack of credits sold at a fixed price (seed 002's credit packages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreditPack {
    pub id: String,
    pub name: String,
    pub price: Money,
    pub credits: i64,
}

/// How custom amounts in one currency buy credits, and the bounds of such an amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CurrencyRule {
    pub credits_per_minor_unit: i64,
    pub min_amount: i64,
    pub max_amount: i64,
}

/// Seed 002's referral bonus: on a referred member's first completed purchase of at least
/// `min_purchase`, the buyer and the referrer each get `bonus_credits`, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReferralRule {
    pub min_purchase: Money,
    pub bonus_credits: i64,
}

/// The credit rules from configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CreditPolicy {
    pub packs: Vec<CreditPack>,
    /// The currencies custom amounts may be paid in, and how each buys credits.
    pub currencies: BTreeMap<Currency, CurrencyRule>,
    pub referral: Option<ReferralRule>,
    /// Credits every new member starts with (the free trial).
    pub signup_credits: i64,
    /// Whether Checkout offers the Stripe promotion code field.
    pub allow_promotion_codes: bool,
}

impl CreditPolicy {
    pub fn pack(&self, id: &str) -> Option<&CreditPack> {
        self.packs.iter().find(|p| p.id == id)
    }
}

/// What a member asks to buy.
#[derive(Clone, Debug)]
pub enum Purchase {
    Pack(String),
    Amount {
        amount: i64,
        currency: String,
        description: Option<String>,
    },
}

/// A purchase started through Checkout (seed 002's response shape).
#[derive(Clone, Debug)]
pub struct CheckoutPurchase {
    pub session_id: CheckoutSessionId,
    pub url: Option<String>,
    pub payment_id: PaymentId,
    pub status: PaymentStatus,
    pub amount: i64,
    pub currency: Currency,
    pub credits: i64,
    pub expires_at: OffsetDateTime,
}

/// A purchase started as a PaymentIntent the app confirms with Stripe.js.
#[derive(Clone, Debug)]
pub struct IntentPurchase {
    pub id: StripePaymentIntentId,
    pub client_secret: Option<String>,
    pub payment_id: PaymentId,
    pub status: String,
    pub amount: i64,
    pub currency: Currency,
    pub credits: i64,
}

/// A member's balance with their latest entries.
#[derive(Clone, Debug)]
pub struct BalanceView {
    pub balance: Balance,
    pub negative: bool,
    pub recent: Vec<LedgerEntry>,
}

impl Billing<'_> {
    /// Works out what a purchase costs and grants, refusing what configuration does not allow.
    pub fn price_purchase(
        &self,
        purchase: &Purchase,
    ) -> Result<(Option<String>, Money, i64, Option<String>), BillingError> {
        match purchase {
            Purchase::Pack(id) => {
                let pack = self
                    .credits
                    .pack(id)
                    .ok_or_else(|| BillingError::UnknownPackage(id.clone()))?;
                Ok((
                    Some(pack.id.clone()),
                    pack.price.clone(),
                    pack.credits,
                    Some(pack.name.clone()),
                ))
            }
            Purchase::Amount {
                amount,
                currency,
                description,
            } => {
                let currency = Currency::parse(currency)
                    .map_err(|_| BillingError::CurrencyNotAllowed(currency.clone()))?;
                let rule = self
                    .credits
                    .currencies
                    .get(&currency)
                    .ok_or_else(|| BillingError::CurrencyNotAllowed(currency.to_string()))?;
                if *amount < rule.min_amount || *amount > rule.max_amount {
                    return Err(BillingError::AmountOutOfRange {
                        min: Money::new(rule.min_amount, currency.clone()),
                        max: Money::new(rule.max_amount, currency),
                    });
                }
                let credits = ledger::credits_for(*amount, rule.credits_per_minor_unit).ok_or(
                    BillingError::AmountOutOfRange {
                        min: Money::new(rule.min_amount, currency.clone()),
                        max: Money::new(rule.max_amount, currency.clone()),
                    },
                )?;
                Ok((
                    None,
                    Money::new(*amount, currency),
                    credits,
                    description.clone(),
                ))
            }
        }
    }

    /// Starts a credit purchase through Checkout: the payment row first (so every event finds
    /// it), then the session, whose id is then linked to the row.
    pub async fn start_credit_checkout(
        &self,
        user: &User,
        purchase: &Purchase,
        urls: &CheckoutUrls,
    ) -> Result<CheckoutPurchase, BillingError> {
        let (package, amount, credits, description) = self.price_purchase(purchase)?;
        let customer = self.ensure_customer(user).await?;
        let payment = self
            .new_payment(
                user.id,
                PaymentKind::Checkout,
                package,
                &amount,
                credits,
                description,
            )
            .await?;
        let metadata = payment_metadata(user.id, payment.id);
        let session = self
            .stripe
            .create_checkout_session(&NewCheckout {
                mode: CheckoutMode::Payment,
                customer,
                line: CheckoutLine::Amount {
                    amount: amount.minor,
                    currency: amount.currency.to_string(),
                    name: payment
                        .description
                        .clone()
                        .unwrap_or_else(|| format!("{credits} credits")),
                },
                success_url: urls.success.clone(),
                cancel_url: urls.cancel.clone(),
                client_reference_id: user.id.to_string(),
                metadata: metadata.clone(),
                trial_period_days: None,
                allow_promotion_codes: self.credits.allow_promotion_codes,
                payment_intent_metadata: metadata,
                idempotency_key: format!("tollgate-payment-{}", payment.id),
            })
            .await;
        let session = self.started_or_canceled(payment.id, session).await?;
        self.store
            .link_payment(payment.id, Some(&session.id), None, self.clock.now())
            .await?;
        self.store
            .record_checkout_session(&session.id, user.id, "payment", None, self.clock.now())
            .await?;
        Ok(CheckoutPurchase {
            session_id: session.id,
            url: session.url,
            payment_id: payment.id,
            status: PaymentStatus::Pending,
            amount: amount.minor,
            currency: amount.currency,
            credits,
            expires_at: session.expires_at,
        })
    }

    /// Starts a credit purchase as a PaymentIntent (the alternative to Checkout).
    pub async fn start_credit_intent(
        &self,
        user: &User,
        purchase: &Purchase,
    ) -> Result<IntentPurchase, BillingError> {
        let (package, amount, credits, description) = self.price_purchase(purchase)?;
        let customer = self.ensure_customer(user).await?;
        let payment = self
            .new_payment(
                user.id,
                PaymentKind::PaymentIntent,
                package,
                &amount,
                credits,
                description,
            )
            .await?;
        let intent = self
            .stripe
            .create_payment_intent(&NewPaymentIntent {
                customer,
                amount: amount.minor,
                currency: amount.currency.to_string(),
                description: payment.description.clone(),
                metadata: payment_metadata(user.id, payment.id),
                idempotency_key: format!("tollgate-payment-{}", payment.id),
            })
            .await;
        let intent = self.started_or_canceled(payment.id, intent).await?;
        self.store
            .link_payment(payment.id, None, Some(&intent.id), self.clock.now())
            .await?;
        Ok(IntentPurchase {
            id: intent.id,
            client_secret: intent.client_secret,
            payment_id: payment.id,
            status: intent.status,
            amount: amount.minor,
            currency: amount.currency,
            credits,
        })
    }

    /// A PaymentIntent of the caller's (admins: anyone's), as Stripe has it now.
    pub async fn credit_intent(
        &self,
        caller: &User,
        is_admin: bool,
        id: &StripePaymentIntentId,
    ) -> Result<(crate::stripe::PaymentIntentSnapshot, Payment), BillingError> {
        let payment = self
            .store
            .payment_by_intent(id)
            .await?
            .filter(|p| is_admin || p.user_id == caller.id)
            .ok_or(BillingError::UnknownPayment)?;
        let intent = self.stripe.payment_intent(id).await?;
        Ok((intent, payment))
    }

    /// The purchase did not start when Stripe's answer is an error: the member has no URL or
    /// client secret to pay with, so the row must not stay a pending payment that nothing will
    /// ever settle. It is canceled (and listed so); had Stripe made the session before the
    /// answer was lost, nobody can pay it, and it expires at Stripe.
    async fn started_or_canceled<T>(
        &self,
        payment: PaymentId,
        answer: Result<T, crate::stripe::StripeError>,
    ) -> Result<T, BillingError> {
        match answer {
            Ok(started) => Ok(started),
            Err(error) => {
                self.store
                    .cancel_unstarted_payment(payment, self.clock.now())
                    .await?;
                Err(error.into())
            }
        }
    }

    async fn new_payment(
        &self,
        user: UserId,
        kind: PaymentKind,
        package: Option<String>,
        amount: &Money,
        credits: i64,
        description: Option<String>,
    ) -> Result<NewPayment, BillingError> {
        let payment = NewPayment {
            id: PaymentId::new(),
            user_id: user,
            kind,
            package,
            amount: amount.clone(),
            credits,
            description,
            created_at: self.clock.now(),
        };
        self.store.insert_payment(&payment).await?;
        Ok(payment)
    }

    /// One payment of the caller's (admins: anyone's).
    pub async fn payment(
        &self,
        caller: &User,
        is_admin: bool,
        id: PaymentId,
    ) -> Result<Payment, BillingError> {
        self.store
            .payment(id)
            .await?
            .filter(|p| is_admin || p.user_id == caller.id)
            .ok_or(BillingError::UnknownPayment)
    }

    pub async fn payments(
        &self,
        filter: &PaymentFilter,
        page: Page<PaymentId>,
    ) -> Result<Vec<Payment>, BillingError> {
        Ok(self.store.payments(filter, page).await?)
    }

    /// A user's latest payments, newest first.
    pub async fn payments_of(
        &self,
        user: UserId,
        limit: u32,
    ) -> Result<Vec<Payment>, BillingError> {
        let filter = PaymentFilter {
            user: Some(user),
            status: None,
        };
        self.payments(
            &filter,
            Page {
                limit,
                before: None,
            },
        )
        .await
    }

    pub async fn ledger(
        &self,
        user: UserId,
        page: Page<EntryId>,
    ) -> Result<Vec<LedgerEntry>, BillingError> {
        Ok(self.store.ledger(user, page).await?)
    }
}

/// A user's balance with their latest entries. Asks only for the ledger port.
pub async fn balance(ledger: &dyn LedgerStore, user: UserId) -> Result<BalanceView, StoreError> {
    let balance = ledger.balance(user).await?;
    let recent = ledger
        .ledger(
            user,
            Page {
                limit: 10,
                before: None,
            },
        )
        .await?;
    Ok(BalanceView {
        negative: balance.credits < 0,
        balance,
        recent,
    })
}

/// Put on the session, its PaymentIntent and the PaymentIntent API's intents, so that every
/// event about the payment names our payment and user.
fn payment_metadata(user: UserId, payment: PaymentId) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("userId".to_string(), user.to_string()),
        ("payment_id".to_string(), payment.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use async_trait::async_trait;

    use super::*;
    use crate::ledger::Discrepancy;
    use crate::usage::{Consumption, UsageRequest};

    /// The ledger port of a database that answers the balance with `balance` and then fails.
    struct LedgerAfterBalance {
        balance: Result<i64, ()>,
    }

    fn unavailable() -> StoreError {
        StoreError::Unavailable("connection refused".into())
    }

    #[async_trait]
    impl LedgerStore for LedgerAfterBalance {
        async fn balance(&self, user: UserId) -> Result<Balance, StoreError> {
            let credits = self.balance.map_err(|()| unavailable())?;
            Ok(Balance {
                user_id: user,
                credits,
                negative_since: None,
            })
        }
        async fn ledger(
            &self,
            _user: UserId,
            _page: Page<EntryId>,
        ) -> Result<Vec<LedgerEntry>, StoreError> {
            Err(unavailable())
        }
        async fn negative_balances(&self, _limit: u32) -> Result<Vec<Balance>, StoreError> {
            unreachable!("not a balance read")
        }
        async fn verify_ledger(&self) -> Result<Vec<Discrepancy>, StoreError> {
            unreachable!("not a balance read")
        }
        async fn consume(&self, _request: &UsageRequest) -> Result<Consumption, StoreError> {
            unreachable!("not a balance read")
        }
        async fn usage_counts(
            &self,
            _user: UserId,
            _period_start: OffsetDateTime,
        ) -> Result<Vec<(String, i64)>, StoreError> {
            unreachable!("not a balance read")
        }
    }

    /// Runs a future that never waits (the fake answers at once).
    fn now<F: Future>(future: F) -> F::Output {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the fake store never waits"),
        }
    }

    #[test]
    fn a_balance_whose_entries_cannot_be_read_is_an_error_not_a_balance_without_history() {
        let store = LedgerAfterBalance { balance: Ok(-5) };
        let outcome = now(balance(&store, UserId::new()));
        assert!(
            matches!(outcome, Err(StoreError::Unavailable(_))),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_balance_that_cannot_be_read_is_an_error_not_zero() {
        let store = LedgerAfterBalance { balance: Err(()) };
        let outcome = now(balance(&store, UserId::new()));
        assert!(
            matches!(outcome, Err(StoreError::Unavailable(_))),
            "{outcome:?}"
        );
    }
}

//! Stripe objects (async-stripe types, API version 2026-09-30.endive) to tollgate's snapshots; keeps the post-basil shapes in one place.
//!
//! Since 2025-03-31.basil a subscription's period lives on its items and an invoice names its
//! subscription under `parent.subscription_details` (<https://docs.stripe.com/changelog/basil>).
//! Expandable fields become ids whether or not they arrived expanded.

use std::collections::{BTreeMap, HashMap};

use stripe_shared::{
    CheckoutSession, CheckoutSessionMode, Customer, DeletedCustomer, Invoice, PaymentIntent, Price,
    Refund, Subscription,
};
use time::OffsetDateTime;
use tollgate_core::stripe::{
    CheckoutMode, CheckoutSessionId, CheckoutSnapshot, CustomerSnapshot, InvoiceSnapshot,
    PaymentIntentSnapshot, PriceSnapshot, RefundSnapshot, StripeChargeId, StripeCustomerId,
    StripeError, StripeInvoiceId, StripePaymentIntentId, StripePriceId, StripeProductId,
    StripeRefundId, StripeSubscriptionId, SubscriptionStatus,
};

use crate::error::unexpected;

pub fn customer(customer: Customer) -> Result<CustomerSnapshot, StripeError> {
    Ok(CustomerSnapshot {
        id: id(customer.id.as_str(), StripeCustomerId::parse, "customer id")?,
        email: customer.email,
        metadata: metadata(customer.metadata.unwrap_or_default()),
        deleted: false,
    })
}

pub fn deleted_customer(customer: DeletedCustomer) -> Result<CustomerSnapshot, StripeError> {
    Ok(CustomerSnapshot {
        id: id(customer.id.as_str(), StripeCustomerId::parse, "customer id")?,
        email: None,
        metadata: BTreeMap::new(),
        deleted: true,
    })
}

pub fn subscription(
    sub: Subscription,
) -> Result<tollgate_core::stripe::SubscriptionSnapshot, StripeError> {
    let item = sub
        .items
        .data
        .into_iter()
        .next()
        .ok_or_else(|| unexpected("a subscription without items"))?;
    let status = SubscriptionStatus::parse(sub.status.as_str())
        .ok_or_else(|| unexpected("an unknown subscription status"))?;
    Ok(tollgate_core::stripe::SubscriptionSnapshot {
        id: id(
            sub.id.as_str(),
            StripeSubscriptionId::parse,
            "subscription id",
        )?,
        customer: id(
            sub.customer.id().as_str(),
            StripeCustomerId::parse,
            "customer id",
        )?,
        status,
        price: id(item.price.id.as_str(), StripePriceId::parse, "price id")?,
        price_lookup_key: item.price.lookup_key,
        // Stripe omits the quantity only for metered prices, which bill usage rather than seats.
        quantity: item.quantity.unwrap_or(1),
        current_period_start: timestamp(item.current_period_start)?,
        current_period_end: timestamp(item.current_period_end)?,
        cancel_at_period_end: sub.cancel_at_period_end,
        canceled_at: sub.canceled_at.map(timestamp).transpose()?,
        ended_at: sub.ended_at.map(timestamp).transpose()?,
        trial_end: sub.trial_end.map(timestamp).transpose()?,
        created: timestamp(sub.created)?,
        metadata: metadata(sub.metadata),
        latest_invoice: sub
            .latest_invoice
            .as_ref()
            // An invoice id is optional in Stripe's schema (previews have none).
            .and_then(|invoice| invoice.id().as_ref().map(|i| i.as_str().to_owned()))
            .map(|text| id(&text, StripeInvoiceId::parse, "invoice id"))
            .transpose()?,
    })
}

pub fn checkout_session(session: CheckoutSession) -> Result<CheckoutSnapshot, StripeError> {
    let mode = match session.mode {
        CheckoutSessionMode::Payment => CheckoutMode::Payment,
        CheckoutSessionMode::Subscription => CheckoutMode::Subscription,
        CheckoutSessionMode::Setup => CheckoutMode::Setup,
        _ => return Err(unexpected("an unknown checkout mode")),
    };
    let status = session
        .status
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .ok_or_else(|| unexpected("a checkout session without status"))?;
    Ok(CheckoutSnapshot {
        id: id(
            session.id.as_str(),
            CheckoutSessionId::parse,
            "checkout session id",
        )?,
        mode,
        status,
        payment_status: session.payment_status.as_str().to_owned(),
        customer: session
            .customer
            .as_ref()
            .map(|c| id(c.id().as_str(), StripeCustomerId::parse, "customer id"))
            .transpose()?,
        subscription: session
            .subscription
            .as_ref()
            .map(|s| {
                id(
                    s.id().as_str(),
                    StripeSubscriptionId::parse,
                    "subscription id",
                )
            })
            .transpose()?,
        client_reference_id: session.client_reference_id,
        metadata: metadata(session.metadata.unwrap_or_default()),
        url: session.url,
        amount_total: session.amount_total,
        currency: session.currency.map(|c| c.to_string()),
        payment_intent: intent_id(session.payment_intent.as_ref())?,
        expires_at: timestamp(session.expires_at)?,
    })
}

/// The id of an expandable PaymentIntent reference, if there is one.
fn intent_id(
    intent: Option<&stripe_types::Expandable<PaymentIntent>>,
) -> Result<Option<StripePaymentIntentId>, StripeError> {
    intent
        .map(|p| {
            id(
                p.id().as_str(),
                StripePaymentIntentId::parse,
                "payment intent id",
            )
        })
        .transpose()
}

pub fn payment_intent(intent: PaymentIntent) -> Result<PaymentIntentSnapshot, StripeError> {
    Ok(PaymentIntentSnapshot {
        id: id(
            intent.id.as_str(),
            StripePaymentIntentId::parse,
            "payment intent id",
        )?,
        status: intent.status.as_str().to_owned(),
        amount: intent.amount,
        currency: intent.currency.to_string(),
        customer: intent
            .customer
            .as_ref()
            .map(|c| id(c.id().as_str(), StripeCustomerId::parse, "customer id"))
            .transpose()?,
        client_secret: intent.client_secret,
        latest_charge: intent
            .latest_charge
            .as_ref()
            .map(|c| id(c.id().as_str(), StripeChargeId::parse, "charge id"))
            .transpose()?,
        last_error_code: intent.last_payment_error.as_ref().map(|e| {
            e.code
                .as_ref()
                .map_or_else(|| "payment_failed".to_owned(), |c| c.as_str().to_owned())
        }),
        metadata: metadata(intent.metadata),
    })
}

pub fn refund(refund: Refund) -> Result<RefundSnapshot, StripeError> {
    Ok(RefundSnapshot {
        id: id(refund.id.as_str(), StripeRefundId::parse, "refund id")?,
        amount: refund.amount,
        currency: refund.currency.to_string(),
        status: refund
            .status
            .ok_or_else(|| unexpected("a refund without status"))?,
        charge: refund
            .charge
            .as_ref()
            .map(|c| id(c.id().as_str(), StripeChargeId::parse, "charge id"))
            .transpose()?,
        payment_intent: intent_id(refund.payment_intent.as_ref())?,
        reason: refund.reason.map(|r| r.as_str().to_owned()),
        metadata: metadata(refund.metadata.unwrap_or_default()),
    })
}

pub fn invoice(invoice: Invoice) -> Result<InvoiceSnapshot, StripeError> {
    let invoice_id = invoice
        .id
        .as_ref()
        .ok_or_else(|| unexpected("an invoice without id"))?;
    let customer = invoice
        .customer
        .as_ref()
        .ok_or_else(|| unexpected("an invoice without customer"))?;
    let subscription = invoice
        .parent
        .as_ref()
        .and_then(|parent| parent.subscription_details.as_ref())
        .map(|details| {
            id(
                details.subscription.id().as_str(),
                StripeSubscriptionId::parse,
                "subscription id",
            )
        })
        .transpose()?;
    Ok(InvoiceSnapshot {
        id: id(invoice_id.as_str(), StripeInvoiceId::parse, "invoice id")?,
        customer: id(
            customer.id().as_str(),
            StripeCustomerId::parse,
            "customer id",
        )?,
        subscription,
        status: invoice
            .status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .ok_or_else(|| unexpected("an invoice without status"))?,
        amount_due: invoice.amount_due,
        amount_paid: invoice.amount_paid,
        currency: invoice.currency.to_string(),
        paid_at: invoice
            .status_transitions
            .paid_at
            .map(timestamp)
            .transpose()?,
        hosted_invoice_url: invoice.hosted_invoice_url,
        created: timestamp(invoice.created)?,
    })
}

pub fn price(price: Price) -> Result<PriceSnapshot, StripeError> {
    Ok(PriceSnapshot {
        id: id(price.id.as_str(), StripePriceId::parse, "price id")?,
        product: id(
            price.product.id().as_str(),
            StripeProductId::parse,
            "product id",
        )?,
        lookup_key: price.lookup_key,
        // tollgate sells fixed per-unit prices; tiered or customer-chosen amounts have none.
        unit_amount: price
            .unit_amount
            .ok_or_else(|| unexpected("a price without unit_amount"))?,
        currency: price.currency.to_string(),
        interval: price.recurring.map(|r| r.interval.as_str().to_owned()),
        active: price.active,
    })
}

fn id<T, E>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
    what: &str,
) -> Result<T, StripeError> {
    parse(text).map_err(|_| unexpected(&format!("a malformed {what}")))
}

pub(crate) fn timestamp(unix: i64) -> Result<OffsetDateTime, StripeError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| unexpected("a timestamp out of range"))
}

fn metadata(map: HashMap<String, String>) -> BTreeMap<String, String> {
    map.into_iter().collect()
}

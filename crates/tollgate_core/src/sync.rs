//! The event path's rules: for a stored event, fetch the current object from Stripe and work
//! out what changes (invariant 3: state follows the latest object, not the order of events),
//! and which notifications a fact deserves (one per fact and channel).

use serde::Deserialize;

use crate::UserId;
use crate::billing::Billing;
use crate::inbox::InboxEvent;
use crate::invoice::Invoice;
use crate::notification::{OutboxMessage, Topic};
use crate::store::{StoreError, SyncChanges};
use crate::stripe::{
    CheckoutMode, CheckoutSessionId, StripeChargeId, StripeCustomerId, StripeError,
    StripeInvoiceId, StripePaymentIntentId, StripeRefundId, StripeSubscriptionId,
};
use crate::subscription::Subscription;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Nothing to apply, and retrying will not change that (e.g. an object of no user of ours).
    #[error("{0}")]
    Skip(String),
    /// Worth retrying: Stripe or the database failed.
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    related_object: Option<ObjectRef>,
}

#[derive(Deserialize)]
struct Data {
    object: ObjectRef,
}

#[derive(Deserialize)]
struct ObjectRef {
    id: String,
}

/// The id of the object an event is about (snapshot events: `data.object.id`; thin events:
/// `related_object.id`).
pub fn object_id(payload: &str) -> Option<String> {
    let parsed: Payload = serde_json::from_str(payload).ok()?;
    parsed
        .data
        .map(|d| d.object.id)
        .or(parsed.related_object.map(|r| r.id))
}

impl Billing<'_> {
    /// Works out what a stored event changes. `channels` are where notifications go.
    pub async fn changes_for(
        &self,
        event: &InboxEvent,
        channels: &[String],
    ) -> Result<SyncChanges, SyncError> {
        match self.fetch_changes(event, channels).await {
            Ok(mut changes) => {
                changes.fetched_until = Some(self.clock.now());
                Ok(changes)
            }
            // The object is gone (deleted, or of another account): retrying cannot help.
            Err(SyncError::Stripe(StripeError::NotFound)) => Err(SyncError::Skip(
                "the event's object does not exist in Stripe".into(),
            )),
            other => other,
        }
    }

    async fn fetch_changes(
        &self,
        event: &InboxEvent,
        channels: &[String],
    ) -> Result<SyncChanges, SyncError> {
        let object = object_id(&event.payload)
            .ok_or_else(|| SyncError::Skip("event names no object".into()))?;
        let fetched_at = self.clock.now();
        let mut changes = SyncChanges {
            fetched_at: Some(fetched_at),
            ..SyncChanges::default()
        };
        let kind = event.event_type.as_str();
        if kind.starts_with("customer.subscription.") {
            let id = parse(StripeSubscriptionId::parse(&object), &object)?;
            self.sync_subscription(&id, &mut changes, channels).await?;
        } else if kind.starts_with("checkout.session.") {
            let id = parse(CheckoutSessionId::parse(&object), &object)?;
            let session = self.stripe.checkout_session(&id).await?;
            let user = match session
                .client_reference_id
                .as_deref()
                .and_then(|r| UserId::parse(r).ok())
            {
                Some(user) => self.existing_user(user).await?,
                None => None,
            };
            let user = match (user, &session.customer) {
                (Some(user), _) => user,
                (None, Some(customer)) => self.user_for(customer, None).await?,
                (None, None) => {
                    return Err(SyncError::Skip(
                        "checkout session of no user of ours".into(),
                    ));
                }
            };
            if let Some(customer) = &session.customer {
                changes.customer_link = Some((user, customer.clone()));
            }
            changes.checkout_status = Some((session.id.clone(), session.status.clone()));
            if let Some(subscription) = &session.subscription {
                self.sync_subscription(subscription, &mut changes, channels)
                    .await?;
            }
            if session.mode == CheckoutMode::Payment {
                self.sync_checkout_payment(&session, &mut changes).await?;
            }
        } else if kind.starts_with("invoice.") {
            let id = parse(StripeInvoiceId::parse(&object), &object)?;
            let failed = (kind == "invoice.payment_failed").then_some(&event.id);
            let subscription = self
                .sync_invoice(&id, failed, &mut changes, channels)
                .await?;
            if let Some(subscription) = subscription {
                self.sync_subscription(&subscription, &mut changes, channels)
                    .await?;
            }
        } else if kind.starts_with("payment_intent.") {
            let id = parse(StripePaymentIntentId::parse(&object), &object)?;
            self.sync_intent_payment(&id, &mut changes).await?;
        } else if kind.starts_with("refund.") {
            let id = parse(StripeRefundId::parse(&object), &object)?;
            self.sync_refund(&id, &mut changes).await?;
        } else if kind == "charge.refunded" {
            let id = parse(StripeChargeId::parse(&object), &object)?;
            self.sync_charge_refunds(&id, &mut changes).await?;
        } else if kind.starts_with("customer.") {
            let id = parse(StripeCustomerId::parse(&object), &object)?;
            let customer = self.stripe.customer(&id).await?;
            let user = self
                .user_for(
                    &customer.id,
                    customer.metadata.get("userId").map(String::as_str),
                )
                .await?;
            changes.customer_link = Some((user, customer.id));
        } else {
            return Err(SyncError::Skip(format!("tollgate does not sync {kind}")));
        }
        Ok(changes)
    }

    /// Adds an invoice (and the notice of its payment or failure) to the changes; returns its
    /// subscription, if any. `failed_event` is the payment-failed event that brought it.
    async fn sync_invoice(
        &self,
        id: &StripeInvoiceId,
        failed_event: Option<&crate::stripe::StripeEventId>,
        changes: &mut SyncChanges,
        channels: &[String],
    ) -> Result<Option<StripeSubscriptionId>, SyncError> {
        let invoice = self.stripe.invoice(id).await?;
        let fetched_at = changes.fetched_at.unwrap_or_else(|| self.clock.now());
        let user = self.user_for(&invoice.customer, None).await?;
        if invoice.status == "paid" {
            changes.messages.extend(OutboxMessage::fan_out(
                Topic::PaymentSucceeded,
                invoice.id.as_str(),
                user,
                serde_json::json!({ "user_id": user, "invoice": invoice.id, "amount_paid": invoice.amount_paid, "currency": invoice.currency }),
                channels,
                fetched_at,
            ));
        }
        if let Some(event) = failed_event {
            // Each failed attempt is its own fact: keyed by the event.
            changes.messages.extend(OutboxMessage::fan_out(
                Topic::PaymentFailed,
                event.as_str(),
                user,
                serde_json::json!({ "user_id": user, "invoice": invoice.id, "amount_due": invoice.amount_due, "currency": invoice.currency }),
                channels,
                fetched_at,
            ));
        }
        changes.invoice = Some(Invoice {
            id: invoice.id.clone(),
            user_id: user,
            subscription: invoice.subscription.clone(),
            status: invoice.status.clone(),
            amount_due: invoice.amount_due,
            amount_paid: invoice.amount_paid,
            currency: invoice.currency.clone(),
            paid_at: invoice.paid_at,
            hosted_invoice_url: invoice.hosted_invoice_url.clone(),
            created_at: invoice.created,
        });
        Ok(invoice.subscription)
    }

    async fn sync_subscription(
        &self,
        id: &StripeSubscriptionId,
        changes: &mut SyncChanges,
        channels: &[String],
    ) -> Result<(), SyncError> {
        let snapshot = self.stripe.subscription(id).await?;
        let user = self
            .user_for(
                &snapshot.customer,
                snapshot.metadata.get("userId").map(String::as_str),
            )
            .await?;
        let subscription: Subscription = self.to_subscription(user, &snapshot);
        let at = changes.fetched_at.unwrap_or_else(|| self.clock.now());
        let payload = serde_json::json!({ "user_id": user, "subscription": subscription.id, "status": subscription.status, "plan": subscription.plan });
        if subscription.is_entitled() {
            changes.messages.extend(OutboxMessage::fan_out(
                Topic::SubscriptionActivated,
                id.as_str(),
                user,
                payload.clone(),
                channels,
                at,
            ));
        }
        if subscription.status.is_terminal() {
            changes.messages.extend(OutboxMessage::fan_out(
                Topic::SubscriptionCanceled,
                id.as_str(),
                user,
                payload,
                channels,
                at,
            ));
        }
        if changes.customer_link.is_none() {
            changes.customer_link = Some((user, snapshot.customer.clone()));
        }
        changes.subscription = Some(subscription);
        // The payment that made the status lands in the same transaction as the status.
        if changes.invoice.is_none()
            && let Some(invoice) = &snapshot.latest_invoice
        {
            self.sync_invoice(invoice, None, changes, channels).await?;
        }
        Ok(())
    }

    /// Our user behind a Stripe customer: our link first, then the `userId` we put in metadata.
    async fn user_for(
        &self,
        customer: &StripeCustomerId,
        metadata_user: Option<&str>,
    ) -> Result<UserId, SyncError> {
        if let Some(user) = self.store.user_of_stripe_customer(customer).await? {
            return Ok(user);
        }
        if let Some(user) = metadata_user.and_then(|u| UserId::parse(u).ok())
            && let Some(user) = self.existing_user(user).await?
        {
            return Ok(user);
        }
        Err(SyncError::Skip(format!(
            "customer {customer} belongs to no user of ours"
        )))
    }

    async fn existing_user(&self, user: UserId) -> Result<Option<UserId>, SyncError> {
        Ok(self.store.user(user).await?.map(|u| u.id))
    }
}

fn parse<T, E>(parsed: Result<T, E>, object: &str) -> Result<T, SyncError> {
    parsed.map_err(|_| SyncError::Skip(format!("unexpected object id {object:?}")))
}

#[cfg(test)]
mod tests {
    use super::object_id;

    #[test]
    fn the_object_id_comes_from_snapshot_and_thin_events() {
        assert_eq!(
            object_id(r#"{"id":"evt_1","data":{"object":{"id":"sub_1","object":"subscription"}}}"#)
                .as_deref(),
            Some("sub_1")
        );
        assert_eq!(object_id(r#"{"id":"evt_2","object":"v2.core.event","related_object":{"id":"cus_1","type":"customer"}}"#).as_deref(), Some("cus_1"));
        assert_eq!(object_id(r#"{"id":"evt_3"}"#), None);
    }
}

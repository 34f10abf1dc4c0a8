//! The event path for connected accounts: an event is routed by its `account` to the tenant
//! that has it, and its object is re-fetched as that account (with `Stripe-Account`). An event
//! of an account no tenant has is settled as unrouted and never applied to anyone.

use crate::TenantId;
use crate::TenantInvoiceId;
use crate::audit::{Actor, AuditEntry};
use crate::connect::ConnectedInvoice;
use crate::inbox::InboxEvent;
use crate::stripe::{
    StripeAccountId, StripeError, StripeInvoiceId, StripeRefundId, StripeSubscriptionId,
};
use crate::sync::{SyncError, object_id};
use crate::tenant::{Tenant, TenantScope, Tenants};
use crate::tenant_billing::{InvoiceStatus, InvoiceUpdate, TenantInvoice};
use crate::tenant_contracts::{ContractState, TenantContract};

/// Where a connected account's event went; either way it is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    Tenant(TenantId),
    /// No tenant has the account: stored, listed as unrouted, applied to no one.
    Unrouted,
}

impl Tenants<'_> {
    /// Applies a connected account's event to its tenant, settling it in the same transaction;
    /// `Skip` for what tollgate does not sync for tenants.
    pub async fn sync_event(&self, event: &InboxEvent, account: &str) -> Result<Routed, SyncError> {
        let now = self.clock.now();
        let tenant = match StripeAccountId::parse(account) {
            Ok(id) => self.store.tenant_by_account(&id).await?,
            Err(_) => None,
        };
        let Some(tenant) = tenant else {
            self.store.record_unrouted(&event.id, account, now).await?;
            return Ok(Routed::Unrouted);
        };
        let scope = TenantScope::of_tenant(&tenant);
        match event.event_type.as_str() {
            // What the platform gates on lives on the account: fetch it, as the platform.
            "account.updated"
            | "capability.updated"
            | "account.external_account.created"
            | "account.external_account.updated"
            | "account.external_account.deleted" => {
                let id = tenant
                    .account_id
                    .clone()
                    .ok_or_else(|| SyncError::Skip("the tenant has no account".into()))?;
                let snapshot = self.connect.connected_account(&id).await?;
                self.store
                    .record_account_state(&scope, &snapshot, now, Some(&event.id))
                    .await?;
                Ok(Routed::Tenant(tenant.id))
            }
            // The platform can no longer reach the account, so there is nothing to fetch: the
            // verified event is the fact.
            "account.application.deauthorized" => {
                let audit = AuditEntry::new(
                    Actor::System,
                    "tenant.deauthorized",
                    format!("tenant:{}", tenant.id),
                    serde_json::json!({ "account": account, "event": event.id }),
                    now,
                );
                self.store
                    .deauthorize_tenant(&scope, now, &audit, Some(&event.id))
                    .await?;
                Ok(Routed::Tenant(tenant.id))
            }
            kind if kind.starts_with("refund.") => {
                let account = tenant
                    .account_id
                    .clone()
                    .ok_or_else(|| SyncError::Skip("the tenant has no account".into()))?;
                let object = object_id(&event.payload)
                    .ok_or_else(|| SyncError::Skip("event names no object".into()))?;
                let id = StripeRefundId::parse(&object)
                    .map_err(|_| SyncError::Skip(format!("{object:?} is not a refund id")))?;
                let refund = self.connect.on_account(&account).refund(&id).await?;
                self.billing
                    .apply_tenant_refund(&scope, &refund.id, &refund.status, now, Some(&event.id))
                    .await?;
                Ok(Routed::Tenant(tenant.id))
            }
            kind if kind.starts_with("invoice.") => {
                self.sync_invoice(event, &scope, &tenant).await?;
                Ok(Routed::Tenant(tenant.id))
            }
            kind if kind.starts_with("customer.subscription.") => {
                let account = tenant
                    .account_id
                    .clone()
                    .ok_or_else(|| SyncError::Skip("the tenant has no account".into()))?;
                let object = object_id(&event.payload)
                    .ok_or_else(|| SyncError::Skip("event names no object".into()))?;
                let id = StripeSubscriptionId::parse(&object)
                    .map_err(|_| SyncError::Skip(format!("{object:?} is not a subscription id")))?;
                let fetched_at = now;
                let snapshot = self.connect.on_account(&account).subscription(&id).await?;
                let state = ContractState::of(&snapshot, fetched_at);
                let ours = state.contract.is_some()
                    || self
                        .contracts
                        .contract_by_subscription(&scope, &id)
                        .await?
                        .is_some();
                if !ours {
                    return Err(SyncError::Skip(
                        "the subscription is no contract of the tenant's".into(),
                    ));
                }
                self.contracts
                    .apply_contract_state(&scope, &state, Some(&event.id))
                    .await?;
                Ok(Routed::Tenant(tenant.id))
            }
            other => Err(SyncError::Skip(format!(
                "tollgate does not sync {other} for tenants yet"
            ))),
        }
    }

    /// Re-fetches the connected account's invoice and applies it to ours, with the fee split of
    /// its payment once paid; an invoice tollgate did not make is settled and left alone.
    async fn sync_invoice(
        &self,
        event: &InboxEvent,
        scope: &TenantScope,
        tenant: &Tenant,
    ) -> Result<(), SyncError> {
        let account = tenant
            .account_id
            .clone()
            .ok_or_else(|| SyncError::Skip("the tenant has no account".into()))?;
        let object = object_id(&event.payload)
            .ok_or_else(|| SyncError::Skip("event names no object".into()))?;
        let id = StripeInvoiceId::parse(&object)
            .map_err(|_| SyncError::Skip(format!("{object:?} is not an invoice id")))?;
        let fetched_at = self.clock.now();
        let invoice = self.connect.connected_invoice(&account, &id).await?;
        let status = InvoiceStatus::parse(&invoice.status).ok_or_else(|| {
            SyncError::Skip(format!("unknown invoice status {:?}", invoice.status))
        })?;
        // Paid is final: store it only with its fee split, or retry until the charge settles.
        let amounts = match (&invoice.payment_intent, status) {
            (Some(payment), InvoiceStatus::Paid) => Some(
                self.connect
                    .charge_amounts(&account, payment)
                    .await?
                    .ok_or_else(|| {
                        StripeError::Unavailable(
                            "the paid invoice's charge has no balance transaction yet".into(),
                        )
                    })?,
            ),
            _ => None,
        };
        let failure = (event.event_type == "invoice.payment_failed").then(|| {
            format!(
                "payment attempt {} failed; the customer can pay again on the invoice page",
                invoice.attempt_count
            )
        });
        let contract = match &invoice.subscription {
            Some(subscription) => self.contract_of(scope, &account, subscription).await?,
            None => None,
        };
        let update = InvoiceUpdate {
            stripe_invoice_id: invoice.id.clone(),
            status,
            pay_url: invoice.hosted_invoice_url.clone(),
            amounts,
            payment_intent: invoice.payment_intent.clone(),
            failure,
            fetched_at,
        };
        match contract {
            Some(contract) => {
                let record = contract_invoice(&contract, &invoice, status, fetched_at);
                let paid_through = invoice.period_end.filter(|_| status == InvoiceStatus::Paid);
                self.contracts
                    .apply_contract_invoice(
                        scope,
                        contract.id,
                        record.as_ref(),
                        &update,
                        paid_through,
                        Some(&event.id),
                    )
                    .await?;
            }
            None => {
                self.billing
                    .apply_tenant_invoice(scope, &update, Some(&event.id))
                    .await?;
            }
        }
        Ok(())
    }

    /// The contract that a connected account's subscription bills, linking it first when its
    /// create answer was lost (its metadata names the contract); `None` when it is not ours.
    async fn contract_of(
        &self,
        scope: &TenantScope,
        account: &StripeAccountId,
        subscription: &StripeSubscriptionId,
    ) -> Result<Option<TenantContract>, SyncError> {
        if let Some(contract) = self
            .contracts
            .contract_by_subscription(scope, subscription)
            .await?
        {
            return Ok(Some(contract));
        }
        let fetched_at = self.clock.now();
        let snapshot = self
            .connect
            .on_account(account)
            .subscription(subscription)
            .await?;
        let state = ContractState::of(&snapshot, fetched_at);
        if state.contract.is_none() {
            return Ok(None);
        }
        self.contracts
            .apply_contract_state(scope, &state, None)
            .await?;
        Ok(self
            .contracts
            .contract_by_subscription(scope, subscription)
            .await?)
    }
}

/// The fee Stripe takes of a subscription invoice under `application_fee_percent` (bps / 100),
/// rounded to the nearest minor unit, half away from zero.
fn percent_fee(total: i64, bps: u32) -> i64 {
    let scaled = i128::from(total) * i128::from(bps);
    ((scaled + 5_000 * scaled.signum()) / 10_000) as i64
}

/// The tenant invoice record of a contract's invoice, as Stripe made it; `None` for an invoice
/// of nothing to pay (a record's total is positive).
fn contract_invoice(
    contract: &TenantContract,
    invoice: &ConnectedInvoice,
    status: InvoiceStatus,
    now: time::OffsetDateTime,
) -> Option<TenantInvoice> {
    (invoice.total > 0).then(|| TenantInvoice {
        id: TenantInvoiceId::new(),
        tenant_id: contract.tenant_id,
        customer_id: contract.customer_id,
        currency: invoice.currency.clone(),
        lines: invoice.lines.clone(),
        total: invoice.total,
        days_until_due: contract.days_until_due,
        status,
        application_fee: Some(percent_fee(invoice.total, contract.application_fee_bps)),
        stripe_invoice_id: Some(invoice.id.clone()),
        pay_url: invoice.hosted_invoice_url.clone(),
        amounts: None,
        failure: None,
        payment_intent: None,
        contract_id: Some(contract.id),
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::percent_fee;

    #[test]
    fn a_percent_fee_rounds_to_the_nearest_minor_unit() {
        assert_eq!(percent_fee(10_000, 250), 250);
        assert_eq!(percent_fee(20_000, 250), 500);
        assert_eq!(percent_fee(1_020, 250), 26, "25.5 rounds up");
        assert_eq!(percent_fee(1_019, 250), 25);
        assert_eq!(percent_fee(0, 250), 0);
    }
}

//! The event path for connected accounts: an event is routed by its `account` to the tenant
//! that has it, and its object is re-fetched as that account (with `Stripe-Account`). An event
//! of an account no tenant has is settled as unrouted and never applied to anyone.

use crate::TenantId;
use crate::audit::{Actor, AuditEntry};
use crate::inbox::InboxEvent;
use crate::stripe::StripeAccountId;
use crate::sync::SyncError;
use crate::tenant::{TenantScope, Tenants};

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
            other => Err(SyncError::Skip(format!(
                "tollgate does not sync {other} for tenants yet"
            ))),
        }
    }
}

//! Tenants of a platform (seed 003): businesses that bill their own customers through a Stripe
//! connected account while the platform takes an application fee.
//!
//! Isolation is kept by `TenantScope`: every tenant-scoped store method takes one, and one can
//! only be made from a caller the store returned (a tenant admin, or a platform admin naming a
//! tenant) or from a tenant the store returned (the worker, from an event's account). No code
//! path can scope itself to a tenant id it read from a request.

use serde::Serialize;
use time::OffsetDateTime;

use crate::account::{self, AccountError, AccountPolicy, Registration, Role, Signup, User};
use crate::audit::{Actor, AuditEntry};
use crate::connect::{
    AccountKind, AccountSnapshot, ConnectApi, HostedLink, LinkKind, NewAccountLink,
    NewConnectedAccount, Requirements,
};
use crate::fee::{FeePolicy, FeePolicyError};
use crate::store::{Page, StoreError, TenantBillingStore, TenantContractStore, TenantStore};
use crate::stripe::{StripeAccountId, StripeError};
use crate::{AccountStore, Clock, Email, Secret, TenantId, password};

/// Whether the platform may bill for the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    /// The tenant disconnected its account from the platform (`account.application.deauthorized`).
    Deauthorized,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Deauthorized => "deauthorized",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(TenantStatus::Active),
            "deauthorized" => Some(TenantStatus::Deauthorized),
            _ => None,
        }
    }
}

/// The connected account as last fetched from Stripe (never inferred from a redirect).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectState {
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
    pub requirements: Requirements,
    #[serde(with = "time::serde::rfc3339")]
    pub synced_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub email: Email,
    /// ISO 3166-1 alpha-2, upper case: the connected account's country.
    pub country: String,
    pub fees: FeePolicy,
    pub status: TenantStatus,
    pub account_id: Option<StripeAccountId>,
    pub account_kind: Option<&'static str>,
    /// `None` until the account's state was first fetched.
    pub connect: Option<ConnectState>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The proof that a read or write may touch one tenant's rows. Its field is private: the only
/// ways to make one are the constructors below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantScope {
    tenant: TenantId,
}

impl TenantScope {
    /// A tenant admin's own tenant; `None` for anyone else.
    pub fn of_tenant_admin(user: &User) -> Option<Self> {
        match (user.role, user.tenant_id) {
            (Role::TenantAdmin, Some(tenant)) => Some(Self { tenant }),
            _ => None,
        }
    }

    /// Any tenant, for a platform admin; `None` for anyone else.
    pub fn for_platform_admin(user: &User, tenant: TenantId) -> Option<Self> {
        (user.role == Role::Admin).then_some(Self { tenant })
    }

    /// The tenant the store found, e.g. by an event's connected account (the worker).
    pub fn of_tenant(tenant: &Tenant) -> Self {
        Self { tenant: tenant.id }
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }
}

/// A tenant about to be created, as the platform admin typed it.
#[derive(Clone, Debug)]
pub struct NewTenantRequest {
    pub name: String,
    pub email: String,
    pub country: String,
    pub application_fee_bps: i64,
    pub application_fee_fixed: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("name must be 1 to 200 characters")]
    InvalidName,
    #[error("email is not a valid address")]
    InvalidEmail,
    #[error("country must be an ISO 3166-1 alpha-2 code, e.g. US")]
    InvalidCountry,
    #[error(transparent)]
    Fee(#[from] FeePolicyError),
    #[error("no such tenant")]
    UnknownTenant,
    #[error("the tenant has no Stripe account yet: create it first")]
    NoAccount,
    #[error("the tenant disconnected its Stripe account from the platform")]
    Deauthorized,
    #[error("the tenant's Stripe account cannot take charges yet")]
    AccountNotReady { missing: Vec<String> },
    #[error("no such invoice")]
    UnknownInvoice,
    #[error(transparent)]
    Invoice(crate::tenant_billing::InvoiceRequestError),
    #[error("no such contract")]
    UnknownContract,
    #[error(transparent)]
    Contract(crate::tenant_contracts::ContractRequestError),
    #[error("password is required: invitations by email are not built yet")]
    PasswordRequired,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NewTenantRequest {
    fn validate(self) -> Result<(String, Email, String, FeePolicy), TenantError> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(TenantError::InvalidName);
        }
        let email = Email::parse(&self.email).map_err(|_| TenantError::InvalidEmail)?;
        let country = self.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(TenantError::InvalidCountry);
        }
        let fees = FeePolicy::new(self.application_fee_bps, self.application_fee_fixed)?;
        Ok((name, email, country, fees))
    }
}

/// The platform's tenant use-cases over the tenant store, Stripe Connect and the clock.
pub struct Tenants<'a> {
    pub store: &'a dyn TenantStore,
    /// The tenants' customers and invoices.
    pub billing: &'a dyn TenantBillingStore,
    /// The tenants' recurring contracts.
    pub contracts: &'a dyn TenantContractStore,
    pub accounts: &'a dyn AccountStore,
    pub connect: &'a dyn ConnectApi,
    pub clock: &'a dyn Clock,
    /// Express unless the platform configured Standard accounts.
    pub account_kind: AccountKind,
    /// Test mode with a platform test clock: each tenant's customers live on a test clock of
    /// its connected account (Stripe's clocks are per account), advanced with the platform's.
    pub test_clocks: bool,
}

impl Tenants<'_> {
    /// Creates a tenant and its audit entry in one transaction; `admin` is the platform admin.
    pub async fn create(
        &self,
        admin: &User,
        request: NewTenantRequest,
    ) -> Result<Tenant, TenantError> {
        let (name, email, country, fees) = request.validate()?;
        let now = self.clock.now();
        let tenant = Tenant {
            id: TenantId::new(),
            name,
            email,
            country,
            fees,
            status: TenantStatus::Active,
            account_id: None,
            account_kind: None,
            connect: None,
            created_at: now,
            updated_at: now,
        };
        let audit = AuditEntry::new(
            Actor::User(admin.id),
            "tenant.create",
            format!("tenant:{}", tenant.id),
            serde_json::json!({ "name": tenant.name, "application_fee_bps": fees.bps, "application_fee_fixed": fees.fixed }),
            now,
        );
        self.store.insert_tenant(&tenant, &audit).await?;
        Ok(tenant)
    }

    pub async fn tenant(&self, scope: &TenantScope) -> Result<Tenant, TenantError> {
        self.store
            .tenant(scope)
            .await?
            .ok_or(TenantError::UnknownTenant)
    }

    pub async fn list(&self, page: Page<TenantId>) -> Result<Vec<Tenant>, TenantError> {
        Ok(self.store.tenants(page).await?)
    }

    pub async fn update_fees(
        &self,
        admin: &User,
        scope: &TenantScope,
        bps: i64,
        fixed: i64,
    ) -> Result<Tenant, TenantError> {
        let fees = FeePolicy::new(bps, fixed)?;
        let now = self.clock.now();
        let audit = AuditEntry::new(
            Actor::User(admin.id),
            "tenant.fees",
            format!("tenant:{}", scope.tenant_id()),
            serde_json::json!({ "application_fee_bps": fees.bps, "application_fee_fixed": fees.fixed }),
            now,
        );
        self.store
            .update_tenant_fees(scope, fees, now, &audit)
            .await?
            .ok_or(TenantError::UnknownTenant)
    }

    /// Creates a tenant admin with a password (invitations by email are not built yet).
    pub async fn add_admin(
        &self,
        admin: &User,
        scope: &TenantScope,
        email: Email,
        password: Option<Secret>,
        policy: &AccountPolicy,
        hashing: &dyn password::Hashing,
    ) -> Result<User, TenantError> {
        self.tenant(scope).await?;
        let password = password.ok_or(TenantError::PasswordRequired)?;
        let registration = Registration {
            email,
            password,
            role: Role::TenantAdmin,
            actor: Some(Actor::User(admin.id)),
            signup: Signup::default(),
        };
        Ok(account::register_in(
            self.accounts,
            self.clock,
            policy,
            hashing,
            registration,
            Some(scope.tenant_id()),
        )
        .await?)
    }

    /// The tenant's connected account, created on first call (one per tenant, whatever the
    /// retries: the idempotency key and the store's first-link-wins both come from the tenant).
    pub async fn ensure_account(&self, scope: &TenantScope) -> Result<Tenant, TenantError> {
        let tenant = self.usable(scope).await?;
        if tenant.account_id.is_some() {
            return self.refresh(scope).await;
        }
        let fetched_at = self.clock.now();
        let created = self
            .connect
            .create_connected_account(&NewConnectedAccount {
                tenant: tenant.id,
                kind: self.account_kind,
                email: Some(tenant.email.as_str().to_string()),
                country: tenant.country.clone(),
                business_name: tenant.name.clone(),
                idempotency_key: format!("tollgate-account-{}", tenant.id),
            })
            .await?;
        self.store
            .link_tenant_account(scope, &created.id, self.account_kind.as_str(), fetched_at)
            .await?;
        self.store
            .record_account_state(scope, &created, fetched_at, None)
            .await?;
        self.tenant(scope).await
    }

    /// A fresh single-use onboarding link for the tenant's account.
    pub async fn onboarding_link(
        &self,
        scope: &TenantScope,
        return_url: String,
        refresh_url: String,
    ) -> Result<HostedLink, TenantError> {
        let tenant = self.usable(scope).await?;
        let account = tenant.account_id.ok_or(TenantError::NoAccount)?;
        Ok(self
            .connect
            .create_account_link(&NewAccountLink {
                account,
                kind: LinkKind::Onboarding,
                refresh_url,
                return_url,
            })
            .await?)
    }

    /// Re-fetches the account from Stripe and stores what it says.
    pub async fn refresh(&self, scope: &TenantScope) -> Result<Tenant, TenantError> {
        let tenant = self.tenant(scope).await?;
        let account = tenant.account_id.ok_or(TenantError::NoAccount)?;
        let fetched_at = self.clock.now();
        let snapshot = self.connect.connected_account(&account).await?;
        self.store
            .record_account_state(scope, &snapshot, fetched_at, None)
            .await?;
        self.tenant(scope).await
    }

    /// The tenant, refused when it can no longer bill through the platform.
    async fn usable(&self, scope: &TenantScope) -> Result<Tenant, TenantError> {
        let tenant = self.tenant(scope).await?;
        if tenant.status == TenantStatus::Deauthorized {
            return Err(TenantError::Deauthorized);
        }
        Ok(tenant)
    }
}

/// Whether the tenant may take a payment now, and if not, what Stripe still needs.
pub fn ready_to_charge(tenant: &Tenant) -> Result<StripeAccountId, TenantError> {
    if tenant.status == TenantStatus::Deauthorized {
        return Err(TenantError::Deauthorized);
    }
    let account = tenant.account_id.clone().ok_or(TenantError::NoAccount)?;
    match &tenant.connect {
        Some(state) if state.charges_enabled => Ok(account),
        Some(state) => {
            let mut missing = state.requirements.past_due.clone();
            missing.extend(state.requirements.currently_due.iter().cloned());
            missing.extend(state.requirements.pending_verification.iter().cloned());
            missing.dedup();
            Err(TenantError::AccountNotReady { missing })
        }
        None => Err(TenantError::AccountNotReady {
            missing: Vec::new(),
        }),
    }
}

/// What a connected account's state becomes, stored with when it was fetched.
pub fn connect_state(snapshot: &AccountSnapshot, fetched_at: OffsetDateTime) -> ConnectState {
    ConnectState {
        charges_enabled: snapshot.charges_enabled,
        payouts_enabled: snapshot.payouts_enabled,
        details_submitted: snapshot.details_submitted,
        requirements: snapshot.requirements.clone(),
        synced_at: fetched_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, tenant_id: Option<TenantId>) -> User {
        let now = OffsetDateTime::UNIX_EPOCH;
        User {
            id: crate::UserId::new(),
            email: None,
            role,
            tenant_id,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn only_a_tenant_admin_of_a_tenant_gets_its_scope() {
        let tenant = TenantId::new();
        let scope = TenantScope::of_tenant_admin(&user(Role::TenantAdmin, Some(tenant)));
        assert_eq!(scope.map(|s| s.tenant_id()), Some(tenant));
        assert_eq!(
            TenantScope::of_tenant_admin(&user(Role::TenantAdmin, None)),
            None
        );
        assert_eq!(
            TenantScope::of_tenant_admin(&user(Role::User, Some(tenant))),
            None
        );
        assert_eq!(
            TenantScope::of_tenant_admin(&user(Role::Admin, Some(tenant))),
            None
        );
    }

    #[test]
    fn only_a_platform_admin_may_scope_to_any_tenant() {
        let tenant = TenantId::new();
        assert!(TenantScope::for_platform_admin(&user(Role::Admin, None), tenant).is_some());
        assert!(
            TenantScope::for_platform_admin(&user(Role::TenantAdmin, Some(tenant)), tenant)
                .is_none()
        );
        assert!(TenantScope::for_platform_admin(&user(Role::User, None), tenant).is_none());
    }

    #[test]
    fn a_tenant_request_is_checked_field_by_field() {
        let request = |name: &str, email: &str, country: &str, bps: i64| NewTenantRequest {
            name: name.into(),
            email: email.into(),
            country: country.into(),
            application_fee_bps: bps,
            application_fee_fixed: 0,
        };
        assert!(matches!(
            request(" ", "a@b.co", "US", 250).validate(),
            Err(TenantError::InvalidName)
        ));
        assert!(matches!(
            request("Acme", "nope", "US", 250).validate(),
            Err(TenantError::InvalidEmail)
        ));
        assert!(matches!(
            request("Acme", "a@b.co", "USA", 250).validate(),
            Err(TenantError::InvalidCountry)
        ));
        assert!(matches!(
            request("Acme", "a@b.co", "US", 10_001).validate(),
            Err(TenantError::Fee(_))
        ));
        let (_, _, country, fees) = request("Acme", "a@b.co", "us", 250)
            .validate()
            .expect("valid");
        assert_eq!(country, "US");
        assert_eq!(fees.bps, 250);
    }

    #[test]
    fn a_tenant_that_cannot_charge_says_what_is_missing() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut tenant = Tenant {
            id: TenantId::new(),
            name: "Acme".into(),
            email: Email::parse("a@b.co").expect("email"),
            country: "US".into(),
            fees: FeePolicy::default(),
            status: TenantStatus::Active,
            account_id: None,
            account_kind: None,
            connect: None,
            created_at: now,
            updated_at: now,
        };
        assert!(matches!(
            ready_to_charge(&tenant),
            Err(TenantError::NoAccount)
        ));
        tenant.account_id = Some(StripeAccountId::parse("acct_1").expect("id"));
        tenant.connect = Some(ConnectState {
            charges_enabled: false,
            payouts_enabled: false,
            details_submitted: false,
            requirements: Requirements {
                currently_due: vec!["external_account".into()],
                past_due: vec!["tos_acceptance.date".into()],
                ..Requirements::default()
            },
            synced_at: now,
        });
        match ready_to_charge(&tenant) {
            Err(TenantError::AccountNotReady { missing }) => {
                assert_eq!(missing, ["tos_acceptance.date", "external_account"]);
            }
            other => panic!("expected not ready, got {other:?}"),
        }
        tenant.connect.as_mut().expect("state").charges_enabled = true;
        assert!(ready_to_charge(&tenant).is_ok());
        tenant.status = TenantStatus::Deauthorized;
        assert!(matches!(
            ready_to_charge(&tenant),
            Err(TenantError::Deauthorized)
        ));
    }
}

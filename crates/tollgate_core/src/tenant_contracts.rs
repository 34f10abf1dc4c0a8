//! A tenant's recurring contracts (seed 003, phase 4): a subscription on the tenant's connected
//! account with the platform's application fee as a percentage, each invoice emailed to the
//! customer and paid on its hosted page. Seats and price change with proration; a contract ends
//! at its `ends_at`, at the end of a period, or now. Each paid invoice becomes a tenant invoice
//! record and moves the contract's paid-through date.

use serde::Serialize;
use time::OffsetDateTime;

use crate::connect::{ContractChange, NewContractSubscription};
use crate::money::Currency;
use crate::store::Page;
use crate::stripe::{StripeError, StripeSubscriptionId, SubscriptionSnapshot};
use crate::tenant::{TenantError, TenantScope, Tenants, ready_to_charge};
use crate::tenant_billing::{MAX_AMOUNT, MAX_QUANTITY};
use crate::{TenantContractId, TenantCustomerId, TenantId};

/// The metadata key that links a connected account's subscription to our contract.
pub const CONTRACT_METADATA: &str = "tollgate_contract_id";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractInterval {
    Month,
    Year,
}

impl ContractInterval {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractInterval::Month => "month",
            ContractInterval::Year => "year",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "month" => Some(ContractInterval::Month),
            "year" => Some(ContractInterval::Year),
            _ => None,
        }
    }
}

/// `pending` until Stripe has the subscription; then the subscription's status as Stripe
/// reports it (`active`, `past_due`, `unpaid`, `canceled`, …). Canceled is final.
pub const PENDING: &str = "pending";
pub const CANCELED: &str = "canceled";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantContract {
    pub id: TenantContractId,
    pub tenant_id: TenantId,
    pub customer_id: TenantCustomerId,
    pub description: String,
    pub currency: String,
    /// Per seat and period, minor units.
    pub unit_amount: i64,
    pub interval: ContractInterval,
    /// Seats.
    pub quantity: i64,
    pub days_until_due: u32,
    /// When the contract ends (Stripe's `cancel_at`), if it was agreed for a term.
    pub ends_at: Option<OffsetDateTime>,
    pub status: String,
    /// The tenant's fee when the contract was made (Stripe's `application_fee_percent` × 100).
    pub application_fee_bps: u32,
    pub stripe_subscription_id: Option<StripeSubscriptionId>,
    pub current_period_end: Option<OffsetDateTime>,
    pub cancel_at_period_end: bool,
    /// The end of the latest paid invoice's period.
    pub paid_through: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What Stripe says of a contract's subscription, applied by `TenantContractStore::apply_contract_state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractState {
    pub subscription: StripeSubscriptionId,
    /// Our contract, from the subscription's metadata: how a subscription whose create answer
    /// was lost is linked by its first event.
    pub contract: Option<TenantContractId>,
    pub status: String,
    pub quantity: i64,
    pub current_period_end: OffsetDateTime,
    pub cancel_at_period_end: bool,
    /// Set when tollgate itself changed the price; Stripe's snapshot names only the price id.
    pub unit_amount: Option<i64>,
    pub fetched_at: OffsetDateTime,
}

impl ContractState {
    pub fn of(snapshot: &SubscriptionSnapshot, fetched_at: OffsetDateTime) -> Self {
        ContractState {
            subscription: snapshot.id.clone(),
            contract: snapshot
                .metadata
                .get(CONTRACT_METADATA)
                .and_then(|id| TenantContractId::parse(id).ok()),
            status: snapshot.status.as_str().to_string(),
            quantity: i64::try_from(snapshot.quantity).unwrap_or(i64::MAX),
            current_period_end: snapshot.current_period_end,
            cancel_at_period_end: snapshot.cancel_at_period_end,
            unit_amount: None,
            fetched_at,
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewContractRequest {
    pub customer_id: String,
    pub description: String,
    pub currency: Option<String>,
    pub unit_amount: i64,
    pub interval: String,
    pub quantity: Option<i64>,
    pub days_until_due: Option<i64>,
    pub ends_at: Option<OffsetDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContractRequestError {
    #[error("customer_id names no customer of this tenant")]
    UnknownCustomer,
    #[error("description must be 1 to 250 characters")]
    Description,
    #[error("currency must be an ISO 4217 code, e.g. usd")]
    Currency,
    #[error("unit_amount must be 1 to {MAX_AMOUNT} (minor units)")]
    UnitAmount,
    #[error("interval must be month or year")]
    Interval,
    #[error("quantity must be 1 to {MAX_QUANTITY}")]
    Quantity,
    #[error("a period's amount (unit_amount × quantity) must be at most {MAX_AMOUNT}")]
    Total,
    #[error("days_until_due must be 1 to 365")]
    DaysUntilDue,
    #[error("ends_at must be in the future")]
    EndsAt,
    #[error("name a new quantity or unit_amount")]
    NothingToChange,
    #[error("the contract is {0} and cannot be {1}")]
    WrongStatus(String, &'static str),
}

impl From<ContractRequestError> for TenantError {
    fn from(error: ContractRequestError) -> Self {
        TenantError::Contract(error)
    }
}

/// A period's amount must stay under Stripe's ceiling; both parts are bounded, so no overflow.
fn check_amounts(unit_amount: i64, quantity: i64) -> Result<(), ContractRequestError> {
    if !(1..=MAX_AMOUNT).contains(&unit_amount) {
        return Err(ContractRequestError::UnitAmount);
    }
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(ContractRequestError::Quantity);
    }
    if unit_amount * quantity > MAX_AMOUNT {
        return Err(ContractRequestError::Total);
    }
    Ok(())
}

/// A refusal means Stripe made nothing; anything else (a timeout, a 5xx) may have made the
/// subscription, which its event will then link.
fn refused(error: &StripeError) -> bool {
    matches!(
        error,
        StripeError::InvalidRequest { .. } | StripeError::Card { .. }
    )
}

impl Tenants<'_> {
    /// Stores the contract as pending, then creates its subscription on the connected account
    /// (keys from the contract id) and links it. A refused create removes the pending row; a
    /// lost answer leaves it pending until the subscription's event links it.
    pub async fn create_contract(
        &self,
        scope: &TenantScope,
        request: NewContractRequest,
    ) -> Result<TenantContract, TenantError> {
        let customer_id = TenantCustomerId::parse(&request.customer_id)
            .map_err(|_| ContractRequestError::UnknownCustomer)?;
        let customer = self
            .billing
            .tenant_customer(scope, customer_id)
            .await?
            .ok_or(ContractRequestError::UnknownCustomer)?;
        let description = request.description.trim().to_string();
        if description.is_empty() || description.chars().count() > 250 {
            return Err(ContractRequestError::Description.into());
        }
        let currency = Currency::parse(request.currency.as_deref().unwrap_or("usd"))
            .map_err(|_| ContractRequestError::Currency)?;
        let interval =
            ContractInterval::parse(&request.interval).ok_or(ContractRequestError::Interval)?;
        let quantity = request.quantity.unwrap_or(1);
        check_amounts(request.unit_amount, quantity)?;
        let days_until_due = u32::try_from(request.days_until_due.unwrap_or(30))
            .ok()
            .filter(|d| (1..=365).contains(d))
            .ok_or(ContractRequestError::DaysUntilDue)?;
        let now = self.clock.now();
        if request.ends_at.is_some_and(|at| at <= now) {
            return Err(ContractRequestError::EndsAt.into());
        }
        let tenant = self.tenant(scope).await?;
        let account = ready_to_charge(&tenant)?;
        let contract = TenantContract {
            id: TenantContractId::new(),
            tenant_id: tenant.id,
            customer_id,
            description: description.clone(),
            currency: currency.as_str().to_string(),
            unit_amount: request.unit_amount,
            interval,
            quantity,
            days_until_due,
            ends_at: request.ends_at,
            status: PENDING.to_string(),
            application_fee_bps: tenant.fees.bps,
            stripe_subscription_id: None,
            current_period_end: None,
            cancel_at_period_end: false,
            paid_through: None,
            created_at: now,
            updated_at: now,
        };
        self.contracts.insert_contract(scope, &contract).await?;
        let created = self
            .connect
            .create_contract_subscription(
                &account,
                &NewContractSubscription {
                    customer: customer.stripe_customer_id,
                    description,
                    currency: contract.currency.clone(),
                    unit_amount: contract.unit_amount,
                    interval: interval.as_str(),
                    quantity: quantity.unsigned_abs(),
                    application_fee_bps: contract.application_fee_bps,
                    days_until_due,
                    ends_at: contract.ends_at,
                    contract: contract.id,
                    idempotency_key: format!("tollgate-contract-{}", contract.id),
                },
            )
            .await;
        let snapshot = match created {
            Ok(snapshot) => snapshot,
            Err(error) => {
                if refused(&error) {
                    self.contracts
                        .delete_pending_contract(scope, contract.id)
                        .await?;
                }
                return Err(error.into());
            }
        };
        let mut state = ContractState::of(&snapshot, self.clock.now());
        state.contract = Some(contract.id);
        self.contracts
            .apply_contract_state(scope, &state, None)
            .await?;
        self.contract(scope, contract.id).await
    }

    pub async fn contract(
        &self,
        scope: &TenantScope,
        id: TenantContractId,
    ) -> Result<TenantContract, TenantError> {
        self.contracts
            .contract(scope, id)
            .await?
            .ok_or(TenantError::UnknownContract)
    }

    pub async fn contracts(
        &self,
        scope: &TenantScope,
        page: Page<TenantContractId>,
    ) -> Result<Vec<TenantContract>, TenantError> {
        Ok(self.contracts.contracts(scope, page).await?)
    }

    /// The contract with its subscription, unless it has ended (or never reached Stripe).
    async fn live_contract(
        &self,
        scope: &TenantScope,
        id: TenantContractId,
        action: &'static str,
    ) -> Result<(TenantContract, StripeSubscriptionId), TenantError> {
        let contract = self.contract(scope, id).await?;
        match &contract.stripe_subscription_id {
            Some(subscription) if contract.status != CANCELED => {
                let subscription = subscription.clone();
                Ok((contract, subscription))
            }
            _ => Err(ContractRequestError::WrongStatus(contract.status, action).into()),
        }
    }

    /// New seats or a new price from now on; Stripe prorates the rest of the period onto the
    /// next invoice.
    pub async fn change_contract(
        &self,
        scope: &TenantScope,
        id: TenantContractId,
        quantity: Option<i64>,
        unit_amount: Option<i64>,
    ) -> Result<TenantContract, TenantError> {
        if quantity.is_none() && unit_amount.is_none() {
            return Err(ContractRequestError::NothingToChange.into());
        }
        let (contract, subscription) = self.live_contract(scope, id, "changed").await?;
        let quantity = quantity.unwrap_or(contract.quantity);
        let unit_amount = unit_amount.unwrap_or(contract.unit_amount);
        check_amounts(unit_amount, quantity)?;
        let tenant = self.tenant(scope).await?;
        let account = ready_to_charge(&tenant)?;
        let snapshot = self
            .connect
            .change_contract_subscription(
                &account,
                &ContractChange {
                    subscription,
                    currency: contract.currency.clone(),
                    interval: contract.interval.as_str(),
                    unit_amount,
                    quantity: quantity.unsigned_abs(),
                    idempotency_key: format!(
                        "tollgate-contract-{}-price-{unit_amount}",
                        contract.id
                    ),
                },
            )
            .await?;
        let mut state = ContractState::of(&snapshot, self.clock.now());
        state.contract = Some(contract.id);
        state.unit_amount = Some(unit_amount);
        self.contracts
            .apply_contract_state(scope, &state, None)
            .await?;
        self.contract(scope, id).await
    }

    /// Ends the contract at the end of the current period, or now.
    pub async fn cancel_contract(
        &self,
        scope: &TenantScope,
        id: TenantContractId,
        at_period_end: bool,
    ) -> Result<TenantContract, TenantError> {
        let (contract, subscription) = self.live_contract(scope, id, "canceled").await?;
        let tenant = self.tenant(scope).await?;
        let account = tenant.account_id.ok_or(TenantError::NoAccount)?;
        let snapshot = self
            .connect
            .on_account(&account)
            .cancel_subscription(&subscription, at_period_end)
            .await?;
        let mut state = ContractState::of(&snapshot, self.clock.now());
        state.contract = Some(contract.id);
        self.contracts
            .apply_contract_state(scope, &state, None)
            .await?;
        self.contract(scope, id).await
    }
}

impl Tenants<'_> {
    /// Test mode: moves every tenant's test clock to `to`, so their contracts renew with the
    /// platform's clock; returns how many clocks moved.
    pub async fn advance_test_clocks(&self, to: OffsetDateTime) -> Result<usize, TenantError> {
        let clocks = self.store.tenant_test_clocks().await?;
        for (account, clock) in &clocks {
            self.connect
                .on_account(account)
                .advance_test_clock(clock, to)
                .await?;
        }
        Ok(clocks.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_survive_their_text_form() {
        for interval in [ContractInterval::Month, ContractInterval::Year] {
            assert_eq!(ContractInterval::parse(interval.as_str()), Some(interval));
        }
        assert_eq!(ContractInterval::parse("week"), None);
    }

    #[test]
    fn a_period_must_stay_under_stripes_ceiling() {
        assert!(check_amounts(5_000, 2).is_ok());
        assert!(matches!(
            check_amounts(0, 1),
            Err(ContractRequestError::UnitAmount)
        ));
        assert!(matches!(
            check_amounts(1, MAX_QUANTITY + 1),
            Err(ContractRequestError::Quantity)
        ));
        assert!(matches!(
            check_amounts(MAX_AMOUNT, 2),
            Err(ContractRequestError::Total)
        ));
    }

    #[test]
    fn only_a_refusal_means_stripe_made_nothing() {
        assert!(refused(&StripeError::InvalidRequest {
            param: None,
            message: "no".into()
        }));
        assert!(!refused(&StripeError::Unavailable("timeout".into())));
    }
}

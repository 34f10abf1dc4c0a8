//! Connect: a tenant's recurring contracts on its connected account.

use serde::Serialize;
use time::OffsetDateTime;
use tollgate_core::tenant_contracts::TenantContract;

#[derive(Serialize)]
pub struct TenantContractBody<'a> {
    id: String,
    customer_id: String,
    description: &'a str,
    currency: &'a str,
    unit_amount: i64,
    /// `month` or `year`.
    interval: &'static str,
    quantity: i64,
    days_until_due: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    ends_at: Option<OffsetDateTime>,
    /// `pending` until Stripe has the subscription, then its status (`active`, `past_due`,
    /// `unpaid`, `canceled`, …).
    status: &'a str,
    application_fee_bps: u32,
    stripe_subscription_id: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339::option")]
    current_period_end: Option<OffsetDateTime>,
    cancel_at_period_end: bool,
    /// The end of the latest paid invoice's period.
    #[serde(with = "time::serde::rfc3339::option")]
    paid_through: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl<'a> TenantContractBody<'a> {
    pub fn of(contract: &'a TenantContract) -> Self {
        TenantContractBody {
            id: contract.id.to_string(),
            customer_id: contract.customer_id.to_string(),
            description: &contract.description,
            currency: &contract.currency,
            unit_amount: contract.unit_amount,
            interval: contract.interval.as_str(),
            quantity: contract.quantity,
            days_until_due: contract.days_until_due,
            ends_at: contract.ends_at,
            status: &contract.status,
            application_fee_bps: contract.application_fee_bps,
            stripe_subscription_id: contract.stripe_subscription_id.as_ref().map(|s| s.as_str()),
            current_period_end: contract.current_period_end,
            cancel_at_period_end: contract.cancel_at_period_end,
            paid_through: contract.paid_through,
            created_at: contract.created_at,
        }
    }
}

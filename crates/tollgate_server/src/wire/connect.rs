//! Connect: a tenant as the platform sees it, and its connected account's state.

use serde::Serialize;
use tollgate_core::tenant::{ConnectState, Tenant};

#[derive(Serialize)]
pub struct RequirementsBody<'a> {
    currently_due: &'a [String],
    eventually_due: &'a [String],
    past_due: &'a [String],
    pending_verification: &'a [String],
    disabled_reason: Option<&'a str>,
}

/// `GET /api/v1/connect/status`: the account as Stripe last reported it.
#[derive(Serialize)]
pub struct StatusOfAccountBody<'a> {
    account_id: Option<&'a str>,
    charges_enabled: bool,
    payouts_enabled: bool,
    details_submitted: bool,
    requirements: RequirementsBody<'a>,
    /// `active`, or `deauthorized` once the tenant disconnected the platform.
    tenant_status: &'static str,
}

const NOTHING: &[String] = &[];

impl<'a> StatusOfAccountBody<'a> {
    pub fn of(tenant: &'a Tenant) -> Self {
        let state: Option<&ConnectState> = tenant.connect.as_ref();
        let requirements = state.map(|s| &s.requirements);
        let list = |pick: fn(&'a tollgate_core::connect::Requirements) -> &'a [String]| {
            requirements.map(pick).unwrap_or(NOTHING)
        };
        StatusOfAccountBody {
            account_id: tenant.account_id.as_ref().map(|a| a.as_str()),
            charges_enabled: state.is_some_and(|s| s.charges_enabled),
            payouts_enabled: state.is_some_and(|s| s.payouts_enabled),
            details_submitted: state.is_some_and(|s| s.details_submitted),
            requirements: RequirementsBody {
                currently_due: list(|r| &r.currently_due),
                eventually_due: list(|r| &r.eventually_due),
                past_due: list(|r| &r.past_due),
                pending_verification: list(|r| &r.pending_verification),
                disabled_reason: requirements.and_then(|r| r.disabled_reason.as_deref()),
            },
            tenant_status: tenant.status.as_str(),
        }
    }
}

/// A tenant as the platform admin sees it.
#[derive(Serialize)]
pub struct TenantBody<'a> {
    id: String,
    name: &'a str,
    email: &'a str,
    country: &'a str,
    application_fee_bps: u32,
    application_fee_fixed: i64,
    status: &'static str,
    account_kind: Option<&'static str>,
    connect: StatusOfAccountBody<'a>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

impl<'a> TenantBody<'a> {
    pub fn of(tenant: &'a Tenant) -> Self {
        TenantBody {
            id: tenant.id.to_string(),
            name: &tenant.name,
            email: tenant.email.as_str(),
            country: &tenant.country,
            application_fee_bps: tenant.fees.bps,
            application_fee_fixed: tenant.fees.fixed,
            status: tenant.status.as_str(),
            account_kind: tenant.account_kind,
            connect: StatusOfAccountBody::of(tenant),
            created_at: tenant.created_at,
        }
    }
}

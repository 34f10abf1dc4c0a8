//! A tenant admin's Stripe Connect onboarding (seed 003): create the tenant's connected account
//! once, mint onboarding links, and read the account's state as Stripe reports it. The seed's
//! own routes (`/api/stripe/connect/create`, `/api/stripe/connect/status`) are the same handlers.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_core::tenant::{ConnectState, Tenant};

use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::state::AppState;

/// Where Stripe sends the tenant back; pages that re-fetch the state or mint a new link.
pub const RETURN_PATH: &str = "/connect/onboarding/return";
pub const REFRESH_PATH: &str = "/connect/onboarding/refresh";

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
pub struct StatusBody<'a> {
    account_id: Option<&'a str>,
    charges_enabled: bool,
    payouts_enabled: bool,
    details_submitted: bool,
    requirements: RequirementsBody<'a>,
    /// `active`, or `deauthorized` once the tenant disconnected the platform.
    tenant_status: &'static str,
}

const NOTHING: &[String] = &[];

impl<'a> StatusBody<'a> {
    pub fn of(tenant: &'a Tenant) -> Self {
        let state: Option<&ConnectState> = tenant.connect.as_ref();
        let requirements = state.map(|s| &s.requirements);
        let list = |pick: fn(&'a tollgate_core::connect::Requirements) -> &'a [String]| {
            requirements.map(pick).unwrap_or(NOTHING)
        };
        StatusBody {
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
    connect: StatusBody<'a>,
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
            connect: StatusBody::of(tenant),
            created_at: tenant.created_at,
        }
    }
}

/// `POST /api/v1/connect/account`: the tenant's connected account, created on the first call.
pub async fn create_account(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<Response, ApiError> {
    let tenant = state.tenants().ensure_account(&admin.scope).await?;
    Ok(Json(StatusBody::of(&tenant)).into_response())
}

/// `POST /api/v1/connect/account-link`: a fresh single-use onboarding URL.
pub async fn account_link(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<Response, ApiError> {
    let link = state
        .tenants()
        .onboarding_link(
            &admin.scope,
            state.url(RETURN_PATH),
            state.url(REFRESH_PATH),
        )
        .await?;
    Ok(Json(serde_json::json!({ "url": link.url, "expires_at": link.expires_at })).into_response())
}

/// `GET /api/v1/connect/status`: re-fetched from Stripe, stored, returned.
pub async fn status(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<Response, ApiError> {
    let tenant = state.tenants().refresh(&admin.scope).await?;
    Ok(Json(StatusBody::of(&tenant)).into_response())
}

/// Seed 003's `POST /api/stripe/connect/create`: creates the account (once) and answers with
/// the onboarding URL to send the tenant to.
pub async fn seed_create(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<Response, ApiError> {
    let tenants = state.tenants();
    let tenant = tenants.ensure_account(&admin.scope).await?;
    let link = tenants
        .onboarding_link(
            &admin.scope,
            state.url(RETURN_PATH),
            state.url(REFRESH_PATH),
        )
        .await?;
    Ok(Json(serde_json::json!({
        "account_id": tenant.account_id,
        "url": link.url,
        "expires_at": link.expires_at,
    }))
    .into_response())
}

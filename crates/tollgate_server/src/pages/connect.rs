//! Where Stripe's hosted onboarding sends a tenant admin back (seed 003). The return page shows
//! the account as Stripe reports it when the page is asked for: returning says nothing about
//! whether onboarding finished. The refresh page mints a new single-use link and redirects.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use tollgate_core::tenant::{TenantScope, TenantStatus};

use super::session::Visitor;
use super::{Layout, PageError, html};
use crate::error::ApiError;
use crate::routes::connect::{REFRESH_PATH, RETURN_PATH};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "tenant/onboarding.html")]
struct OnboardingPage {
    layout: Layout,
    tenant_name: String,
    account_id: String,
    charges_enabled: bool,
    payouts_enabled: bool,
    details_submitted: bool,
    deauthorized: bool,
    missing: Vec<String>,
    refresh_path: &'static str,
}

fn scope(visitor: &Visitor) -> Result<TenantScope, PageError> {
    TenantScope::of_tenant_admin(&visitor.user).ok_or(PageError::Api(ApiError::Forbidden))
}

pub async fn onboarding_return(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let tenant = state.tenants().refresh(&scope(&visitor)?).await?;
    let connect = tenant.connect.clone();
    let requirements = connect
        .as_ref()
        .map(|c| c.requirements.clone())
        .unwrap_or_default();
    let mut missing = requirements.past_due;
    missing.extend(requirements.currently_due);
    missing.extend(requirements.pending_verification);
    missing.dedup();
    let page = OnboardingPage {
        layout: Layout::new(&state, Some(&visitor), "Stripe account", "tenant"),
        tenant_name: tenant.name.clone(),
        account_id: tenant
            .account_id
            .as_ref()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        charges_enabled: connect.as_ref().is_some_and(|c| c.charges_enabled),
        payouts_enabled: connect.as_ref().is_some_and(|c| c.payouts_enabled),
        details_submitted: connect.as_ref().is_some_and(|c| c.details_submitted),
        deauthorized: tenant.status == TenantStatus::Deauthorized,
        missing,
        refresh_path: REFRESH_PATH,
    };
    Ok(html(&page))
}

/// A spent or expired link lands here: a new one, straight back to Stripe.
pub async fn onboarding_refresh(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let link = state
        .tenants()
        .onboarding_link(
            &scope(&visitor)?,
            state.url(RETURN_PATH),
            state.url(REFRESH_PATH),
        )
        .await?;
    Ok(Redirect::to(&link.url).into_response())
}

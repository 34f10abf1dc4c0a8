//! A tenant admin's Stripe Connect onboarding (seed 003): create the tenant's connected account
//! once, mint onboarding links, and read the account's state as Stripe reports it. The seed's
//! own routes (`/api/stripe/connect/create`, `/api/stripe/connect/status`) are the same handlers.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire;

/// Where Stripe sends the tenant back; pages that re-fetch the state or mint a new link.
pub const RETURN_PATH: &str = "/connect/onboarding/return";
pub const REFRESH_PATH: &str = "/connect/onboarding/refresh";

/// `POST /api/v1/connect/account`: the tenant's connected account, created on the first call.
pub async fn create_account(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<Response, ApiError> {
    let tenant = state.tenants().ensure_account(&admin.scope).await?;
    Ok(Json(wire::StatusOfAccountBody::of(&tenant)).into_response())
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
    Ok(Json(wire::LinkBody {
        account_id: None,
        url: &link.url,
        expires_at: link.expires_at,
    })
    .into_response())
}

/// `GET /api/v1/connect/status`: re-fetched from Stripe, stored, returned.
pub async fn status(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<Response, ApiError> {
    let tenant = state.tenants().refresh(&admin.scope).await?;
    Ok(Json(wire::StatusOfAccountBody::of(&tenant)).into_response())
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
    Ok(Json(wire::LinkBody {
        account_id: Some(tenant.account_id.as_ref().map(|id| id.as_str())),
        url: &link.url,
        expires_at: link.expires_at,
    })
    .into_response())
}

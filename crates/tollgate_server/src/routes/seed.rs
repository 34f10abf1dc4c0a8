//! The seeds' own API contracts (000: mentoring platform; 001: AI studio), served by the same
//! use-cases. A `userId`, email or Stripe id in a body is never trusted: the authenticated
//! user is used, and a body that names someone else is refused with 403.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_core::subscription;

use super::billing::{checkout_urls, local_path, target_user};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::{ApiJson, MaybeJson};
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire;

/// Refuses a body that claims to act for another user.
fn same_user(
    caller: &Authenticated,
    user_id: Option<&str>,
    email: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(claimed) = user_id
        && claimed != caller.user.id.to_string()
    {
        return Err(ApiError::Forbidden);
    }
    if let Some(claimed) = email {
        let mine = caller.user.email.as_ref().map(|e| e.as_str());
        if mine != Some(claimed.trim().to_lowercase().as_str()) {
            return Err(ApiError::Forbidden);
        }
    }
    Ok(())
}

/// A seed's URL may be absolute on this service, or a path; anything else would be an open redirect.
fn seed_path(state: &AppState, field: &str, url: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(url) = url else { return Ok(None) };
    let base = state.config.server.base_url.trim_end_matches('/');
    let path = url.strip_prefix(base).unwrap_or(url);
    let path = if path.is_empty() { "/" } else { path };
    local_path(field, path).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Seed000Checkout {
    user_id: Option<String>,
    plan: Option<String>,
}

/// Seed 000: `POST /api/stripe/create-checkout-session` → `{url}`.
pub async fn create_checkout_000(
    State(state): State<AppState>,
    caller: Authenticated,
    MaybeJson(body): MaybeJson<Seed000Checkout>,
) -> Result<Response, ApiError> {
    let body = body.unwrap_or_default();
    same_user(&caller, body.user_id.as_deref(), None)?;
    let plan = match body.plan {
        Some(plan) => plan,
        None => state
            .catalog
            .plans
            .first()
            .map(|p| p.id.clone())
            .ok_or_else(|| ApiError::invalid_field("plan", "no plan is configured"))?,
    };
    let urls = checkout_urls(
        &state,
        Some("/?payment=success"),
        Some("/?payment=cancelled"),
    )?;
    let session = state
        .billing()
        .start_subscription_checkout(&caller.user, &plan, &urls)
        .await?;
    Ok(Json(wire::UrlBody {
        url: session.url.as_deref(),
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seed001Checkout {
    price_id: String,
    user_id: Option<String>,
    user_email: Option<String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    mode: Option<String>,
    #[allow(dead_code)]
    metadata: Option<serde_json::Value>,
}

/// Seed 001: `POST /api/create-checkout-session` → `{session: {id, url, status}}`.
pub async fn create_checkout_001(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<Seed001Checkout>,
) -> Result<Response, ApiError> {
    same_user(&caller, body.user_id.as_deref(), body.user_email.as_deref())?;
    if body.mode.as_deref().is_some_and(|m| m != "subscription") {
        return Err(ApiError::invalid_field(
            "mode",
            "only subscription mode is served here",
        ));
    }
    let plan = state
        .catalog
        .plans
        .iter()
        .find(|p| {
            p.price_id
                .as_ref()
                .is_some_and(|id| id.as_str() == body.price_id)
                || p.id == body.price_id
        })
        .ok_or_else(|| ApiError::invalid_field("priceId", "priceId is not a configured plan"))?
        .id
        .clone();
    let success = seed_path(&state, "successUrl", body.success_url.as_deref())?;
    let cancel = seed_path(&state, "cancelUrl", body.cancel_url.as_deref())?;
    let urls = checkout_urls(&state, success.as_deref(), cancel.as_deref())?;
    let session = state
        .billing()
        .start_subscription_checkout(&caller.user, &plan, &urls)
        .await?;
    Ok(Json(wire::SessionAnswer {
        session: wire::SeedSessionBody::created(&session),
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRequest {
    session_id: String,
}

/// Seed 001: `POST /api/retrieve-checkout-session` → `{session: {id, status, customerId, subscriptionId}}`.
pub async fn retrieve_checkout_001(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<SessionRequest>,
) -> Result<Response, ApiError> {
    let id = tollgate_core::stripe::CheckoutSessionId::parse(&body.session_id)
        .map_err(|_| ApiError::NotFound)?;
    let is_admin = caller.user.role == tollgate_core::account::Role::Admin;
    let session = state
        .billing()
        .checkout_session(&caller.user, is_admin, &id)
        .await?;
    Ok(Json(wire::SessionAnswer {
        session: wire::SeedSessionBody::retrieved(&session),
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    subscription_id: Option<String>,
    #[serde(default)]
    immediately: bool,
}

/// Seed 001: `POST /api/cancel-subscription` → `{subscription: {id, status, cancelAtPeriodEnd, currentPeriodEnd}}`.
pub async fn cancel_001(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<CancelRequest>,
) -> Result<Response, ApiError> {
    if let Some(claimed) = &body.subscription_id {
        let mine = state.store.subscriptions_of(caller.user.id).await?;
        if !mine.iter().any(|s| s.id.as_str() == claimed) {
            return Err(ApiError::Forbidden);
        }
    }
    let s = state
        .billing()
        .cancel(caller.user.id, !body.immediately)
        .await?;
    Ok(Json(wire::SubscriptionAnswer {
        subscription: wire::SeedSubscriptionBody::cancelled(&s),
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalRequest {
    customer_id: Option<String>,
    return_url: Option<String>,
}

/// Seed 001: `POST /api/create-portal-session` → `{url}`.
pub async fn portal_001(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<PortalRequest>,
) -> Result<Response, ApiError> {
    if let Some(claimed) = &body.customer_id {
        let mine = state.store.stripe_customer_of(caller.user.id).await?;
        if mine.as_ref().map(|c| c.as_str()) != Some(claimed.as_str()) {
            return Err(ApiError::Forbidden);
        }
    }
    let path =
        seed_path(&state, "returnUrl", body.return_url.as_deref())?.unwrap_or_else(|| "/".into());
    let url = state
        .billing()
        .portal(caller.user.id, &state.url(&path))
        .await?;
    Ok(Json(wire::UrlBody { url: Some(&url) }).into_response())
}

/// Seed 001: `GET /api/subscription/{userId}` → `{subscription: null | {…}}` (self or admin).
pub async fn subscription_001(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let user = target_user(&state, &caller, &user_id).await?;
    let subscriptions = state.store.subscriptions_of(user.id).await?;
    let current = subscription::current(&subscriptions).map(wire::SeedSubscriptionBody::full);
    Ok((
        StatusCode::OK,
        Json(wire::SubscriptionAnswer {
            subscription: current,
        }),
    )
        .into_response())
}

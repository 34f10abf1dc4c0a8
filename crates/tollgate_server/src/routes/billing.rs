//! The member's billing API: plans, subscription checkout, the subscription and its derived
//! status, cancel/resume, the billing portal, invoices and entitlements.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_core::UserId;
use tollgate_core::account::{Role, User};
use tollgate_core::billing::CheckoutUrls;
use tollgate_core::stripe::CheckoutSessionId;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::{ApiJson, MaybeJson};
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire::{
    self, EntitlementsBody, InvoiceBody, ListBody, PlanBody, SubscriptionBody, SummaryBody,
};

/// Checks that a caller-supplied return path stays on this service (no open redirects).
pub(crate) fn local_path(field: &str, path: &str) -> Result<String, ApiError> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2000
        && !path.chars().any(|c| c.is_control() || c == '\\');
    if ok {
        Ok(path.to_string())
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("{field} must be a path on this service, starting with a single /"),
        ))
    }
}

/// Success and cancel URLs on this service; Stripe fills in `{CHECKOUT_SESSION_ID}`.
pub(crate) fn checkout_urls(
    state: &AppState,
    success: Option<&str>,
    cancel: Option<&str>,
) -> Result<CheckoutUrls, ApiError> {
    let success = local_path("success_path", success.unwrap_or("/?checkout=success"))?;
    let cancel = local_path("cancel_path", cancel.unwrap_or("/?checkout=cancelled"))?;
    let joiner = if success.contains('?') { '&' } else { '?' };
    Ok(CheckoutUrls {
        success: state.url(&format!(
            "{success}{joiner}session_id={{CHECKOUT_SESSION_ID}}"
        )),
        cancel: state.url(&cancel),
    })
}

/// The user a request may act on: themselves, or anyone for an admin.
pub(crate) async fn target_user(
    state: &AppState,
    caller: &Authenticated,
    id: &str,
) -> Result<User, ApiError> {
    let id = UserId::parse(id).map_err(|_| ApiError::NotFound)?;
    if caller.user.id != id && caller.user.role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    if caller.user.id == id {
        return Ok(caller.user.clone());
    }
    state.store.user(id).await?.ok_or(ApiError::NotFound)
}

pub async fn plans(State(state): State<AppState>) -> Response {
    Json(ListBody::of(&state.catalog.plans, PlanBody::of)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartCheckout {
    plan: String,
    success_path: Option<String>,
    cancel_path: Option<String>,
}

pub async fn start_checkout(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<StartCheckout>,
) -> Result<Response, ApiError> {
    let urls = checkout_urls(
        &state,
        body.success_path.as_deref(),
        body.cancel_path.as_deref(),
    )?;
    let session = state
        .billing()
        .start_subscription_checkout(&caller.user, &body.plan, &urls)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::CheckoutStartedBody {
            id: &session.id,
            url: session.url.as_deref(),
        }),
    )
        .into_response())
}

pub async fn checkout_session(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = CheckoutSessionId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let session = state
        .billing()
        .checkout_session(&caller.user, caller.user.role == Role::Admin, &id)
        .await?;
    Ok(Json(wire::CheckoutSessionBody::of(&session)).into_response())
}

pub async fn my_subscription(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let summary = state.billing().summary(caller.user.id).await?;
    Ok(Json(SummaryBody::of(&summary)).into_response())
}

pub async fn user_subscription(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let user = target_user(&state, &caller, &id).await?;
    let summary = state.billing().summary(user.id).await?;
    Ok(Json(SummaryBody::of(&summary)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    #[serde(default = "yes")]
    at_period_end: bool,
}

fn yes() -> bool {
    true
}

/// `{subscription}`: the subscription after a cancel or resume.
#[derive(serde::Serialize)]
struct SubscriptionAnswer<'a> {
    subscription: SubscriptionBody<'a>,
}

impl<'a> SubscriptionAnswer<'a> {
    fn of(subscription: &'a tollgate_core::subscription::Subscription) -> Self {
        Self {
            subscription: SubscriptionBody::of(subscription),
        }
    }
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<Cancel>,
) -> Result<Response, ApiError> {
    let subscription = state
        .billing()
        .cancel(caller.user.id, body.at_period_end)
        .await?;
    Ok(Json(SubscriptionAnswer::of(&subscription)).into_response())
}

pub async fn resume(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let subscription = state.billing().resume(caller.user.id).await?;
    Ok(Json(SubscriptionAnswer::of(&subscription)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    return_path: Option<String>,
}

pub async fn portal(
    State(state): State<AppState>,
    caller: Authenticated,
    MaybeJson(body): MaybeJson<Portal>,
) -> Result<Response, ApiError> {
    let body = body.unwrap_or_default();
    let return_url = state.url(&local_path(
        "return_path",
        body.return_path.as_deref().unwrap_or("/"),
    )?);
    let url = state.billing().portal(caller.user.id, &return_url).await?;
    Ok(Json(wire::UrlBody { url: Some(&url) }).into_response())
}

pub async fn invoices(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let invoices = state.billing().invoices(caller.user.id).await?;
    Ok(Json(ListBody::of(&invoices, InvoiceBody::of)).into_response())
}

pub async fn my_entitlements(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let entitlements = state.billing().entitlements(caller.user.id).await?;
    Ok(Json(EntitlementsBody::of(&entitlements)).into_response())
}

/// For admins and for an admin's API key (a host application's service key).
pub async fn user_entitlements(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    if caller.user.role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let user = target_user(&state, &caller, &id).await?;
    let entitlements = state.billing().entitlements(user.id).await?;
    Ok(Json(EntitlementsBody::of(&entitlements)).into_response())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_service_are_accepted() {
        assert!(local_path("p", "/dashboard?x=1").is_ok());
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "dashboard",
            "/a\nb",
        ] {
            assert!(local_path("p", bad).is_err(), "{bad:?}");
        }
    }
}

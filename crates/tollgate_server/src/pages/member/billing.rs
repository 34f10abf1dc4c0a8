//! The member's billing actions: subscribe and buy credits (to Checkout), the return page
//! that waits for Stripe's confirmation, the portal, cancel and resume. Nothing here marks
//! anyone paid.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tollgate_core::account::Role;
use tollgate_core::billing::{BillingError, CheckoutUrls};
use tollgate_core::credits::Purchase;
use tollgate_core::stripe::CheckoutSessionId;
use tollgate_core::subscription::PaymentStatus;

use super::dashboard::status_line;
use crate::error::ApiError;
use crate::pages::session::{NoFields, SignedForm, Visitor};
use crate::pages::{Layout, PageError, html, see_other};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct BuyCreditsForm {
    package: String,
}

/// Starts a Checkout for a credit pack and sends the member there (303); the credits arrive
/// only with Stripe's event.
pub async fn buy_credits(
    State(state): State<AppState>,
    SignedForm { visitor, form }: SignedForm<BuyCreditsForm>,
) -> Result<Response, PageError> {
    let urls = CheckoutUrls {
        success: state.url("/dashboard?notice=credits_pending"),
        cancel: state.url("/dashboard?notice=checkout_cancelled"),
    };
    let started = state
        .billing()
        .start_credit_checkout(&visitor.user, &Purchase::Pack(form.package), &urls)
        .await?;
    match started.url {
        Some(url) => Ok(see_other(&url)),
        None => Err(ApiError::Internal("Stripe returned a session without a URL".into()).into()),
    }
}

#[derive(Deserialize)]
pub struct SubscribeForm {
    plan: String,
}

/// Starts a Stripe Checkout for a plan of the catalog and sends the member there (303).
pub async fn subscribe(
    State(state): State<AppState>,
    SignedForm { visitor, form }: SignedForm<SubscribeForm>,
) -> Result<Response, PageError> {
    let urls = CheckoutUrls {
        success: state.url("/billing/return?session_id={CHECKOUT_SESSION_ID}"),
        cancel: state.url("/dashboard?notice=checkout_cancelled"),
    };
    match state
        .billing()
        .start_subscription_checkout(&visitor.user, &form.plan, &urls)
        .await
    {
        Ok(session) => {
            let url = session.url.ok_or_else(|| {
                ApiError::Internal("Stripe returned a checkout session without a url".into())
            })?;
            Ok(see_other(&url))
        }
        Err(BillingError::AlreadySubscribed) => {
            Ok(see_other("/dashboard?notice=already_subscribed"))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "member/return.html")]
struct ReturnPage {
    layout: Layout,
    session_id: String,
    confirmed: bool,
    headline: String,
}

#[derive(Deserialize)]
pub struct ReturnQuery {
    session_id: Option<String>,
}

/// Where Checkout sends the member back. It asks Stripe (server-side) how the session
/// stands and shows the member's status as Stripe's confirmation left it; the script polls
/// until the confirmation arrives. Visiting it never marks anyone paid.
pub async fn checkout_return(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<ReturnQuery>,
) -> Result<Response, PageError> {
    let id = query
        .session_id
        .as_deref()
        .and_then(|id| CheckoutSessionId::parse(id).ok())
        .ok_or(ApiError::NotFound)?;
    let billing = state.billing();
    if let Err(e) = billing
        .checkout_session(&visitor.user, visitor.user.role == Role::Admin, &id)
        .await
    {
        match e {
            BillingError::UnknownCheckoutSession => return Err(ApiError::NotFound.into()),
            // Stripe may be slow to answer: the page still waits for the webhook.
            other => tracing::warn!(error = %other, "checkout return: session fetch failed"),
        }
    }
    let summary = billing.summary(visitor.user.id).await?;
    let confirmed = summary.subscription_status == PaymentStatus::Paid;
    let page = ReturnPage {
        layout: Layout::new(
            &state,
            Some(&visitor),
            "Confirming your payment",
            "dashboard",
        ),
        session_id: id.as_str().to_string(),
        confirmed,
        headline: status_line(&summary).headline,
    };
    Ok(html(&page))
}

pub async fn portal(
    State(state): State<AppState>,
    SignedForm { visitor, .. }: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    let url = state
        .billing()
        .portal(visitor.user.id, &state.url("/dashboard"))
        .await?;
    Ok(see_other(&url))
}

pub async fn cancel(
    State(state): State<AppState>,
    SignedForm { visitor, .. }: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    state.billing().cancel(visitor.user.id, true).await?;
    tracing::info!(user.id = %visitor.user.id, "subscription set to cancel at period end");
    Ok(see_other("/dashboard?notice=cancelled"))
}

pub async fn resume(
    State(state): State<AppState>,
    SignedForm { visitor, .. }: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    state.billing().resume(visitor.user.id).await?;
    Ok(see_other("/dashboard?notice=resumed"))
}

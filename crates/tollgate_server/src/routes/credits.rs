//! The member's credits API: packs, buying credits (Checkout or PaymentIntent), payments,
//! balance and ledger, usage, coupons and the referral code. Seed 002's routes use the same
//! handlers.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_core::account::Role;
use tollgate_core::coupon::Redemption;
use tollgate_core::credits::{self, Purchase};
use tollgate_core::payment::PaymentStatus;
use tollgate_core::store::{Page, PaymentFilter};
use tollgate_core::stripe::StripePaymentIntentId;
use tollgate_core::usage::UsageOutcome;
use tollgate_core::{EntryId, PaymentId, UserId};

use super::admin::{before, limit, page_body};
use super::billing::checkout_urls;
use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorCode};
use crate::json::ApiJson;
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire;

pub async fn packages(State(state): State<AppState>) -> Response {
    Json(wire::PacksBody::of(&state.credits)).into_response()
}

/// `{package}` or `{amount, currency, description}` (seed 002's shape).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    package: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
    description: Option<String>,
    success_path: Option<String>,
    cancel_path: Option<String>,
}

impl PurchaseBody {
    fn purchase(&self, state: &AppState) -> Result<Purchase, ApiError> {
        match (&self.package, self.amount) {
            (Some(package), None) => Ok(Purchase::Pack(package.clone())),
            (None, Some(amount)) => {
                // With one configured currency it is the default.
                let currency = match (&self.currency, state.credits.currencies.len()) {
                    (Some(currency), _) => currency.clone(),
                    (None, 1) => state
                        .credits
                        .currencies
                        .keys()
                        .next()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    (None, _) => {
                        return Err(ApiError::invalid_field("currency", "currency is required"));
                    }
                };
                let description = self
                    .description
                    .as_ref()
                    .map(|d| d.trim().chars().take(200).collect::<String>())
                    .filter(|d| !d.is_empty());
                Ok(Purchase::Amount {
                    amount,
                    currency,
                    description,
                })
            }
            _ => Err(ApiError::invalid_field(
                "package",
                "send either package, or amount (integer minor units) with currency",
            )),
        }
    }
}

pub async fn checkout(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<PurchaseBody>,
) -> Result<Response, ApiError> {
    let purchase = body.purchase(&state)?;
    let urls = checkout_urls(
        &state,
        body.success_path.as_deref(),
        body.cancel_path.as_deref(),
    )?;
    let started = state
        .billing()
        .start_credit_checkout(&caller.user, &purchase, &urls)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::CheckoutPurchaseBody::of(&started)),
    )
        .into_response())
}

pub async fn create_intent(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<PurchaseBody>,
) -> Result<Response, ApiError> {
    let purchase = body.purchase(&state)?;
    let started = state
        .billing()
        .start_credit_intent(&caller.user, &purchase)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::IntentPurchaseBody::of(&started)),
    )
        .into_response())
}

pub async fn show_intent(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = StripePaymentIntentId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let (intent, payment) = state
        .billing()
        .credit_intent(&caller.user, caller.user.role == Role::Admin, &id)
        .await?;
    Ok(Json(wire::IntentBody::of(&intent, &payment)).into_response())
}

/// Members see their own payments; admins everyone's, or one user's with `user_id`.
pub async fn payments(
    State(state): State<AppState>,
    caller: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let status = query
        .get("status")
        .map(|s| {
            PaymentStatus::parse(s)
                .ok_or_else(|| ApiError::invalid_field("status", "status must be a payment status"))
        })
        .transpose()?;
    let user = if caller.user.role == Role::Admin {
        query
            .get("user_id")
            .map(|u| {
                UserId::parse(u)
                    .map_err(|_| ApiError::invalid_field("user_id", "user_id must be a user id"))
            })
            .transpose()?
    } else {
        Some(caller.user.id)
    };
    let page = Page {
        limit: limit(&query)?,
        before: before(&query, PaymentId::parse)?,
    };
    let payments = state
        .billing()
        .payments(&PaymentFilter { user, status }, page)
        .await?;
    Ok(page_body(
        &payments,
        page.limit,
        |p| p.id,
        wire::PaymentBody::of,
    ))
}

pub async fn payment(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = PaymentId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let billing = state.billing();
    let payment = billing
        .payment(&caller.user, caller.user.role == Role::Admin, id)
        .await?;
    let refunds = billing.refunds_of(payment.id).await?;
    Ok(Json(wire::PaymentDetailBody {
        payment: wire::PaymentBody::of(&payment),
        refunds: refunds.iter().map(wire::RefundBody::of).collect(),
    })
    .into_response())
}

pub async fn balance(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let balance = credits::balance(state.store.as_ref(), caller.user.id).await?;
    Ok(Json(wire::BalanceViewBody::of(&balance)).into_response())
}

pub async fn ledger(
    State(state): State<AppState>,
    caller: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page {
        limit: limit(&query)?,
        before: before(&query, EntryId::parse)?,
    };
    let entries = state.billing().ledger(caller.user.id, page).await?;
    Ok(page_body(
        &entries,
        page.limit,
        |e| e.id,
        wire::LedgerEntryBody::of,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumeBody {
    feature: String,
    #[serde(default = "one")]
    quantity: i64,
    idempotency_key: String,
}

fn one() -> i64 {
    1
}

/// 200 with what was used; 402 with what remains when there is not enough.
pub async fn consume(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<ConsumeBody>,
) -> Result<Response, ApiError> {
    let consumption = state
        .billing()
        .consume(
            caller.user.id,
            &body.feature,
            body.quantity,
            &body.idempotency_key,
        )
        .await?;
    let message = match &consumption.outcome {
        UsageOutcome::Insufficient { needed, balance } => Some(format!(
            "not enough credits: {needed} needed, {balance} available"
        )),
        UsageOutcome::OverQuota { used, limit } => Some(format!(
            "the {} limit for this period is reached: {used} of {limit} used",
            body.feature
        )),
        _ => None,
    };
    let refusal = message.map(|message| {
        let code = match consumption.outcome {
            UsageOutcome::Insufficient { .. } => ErrorCode::InsufficientCredits,
            _ => ErrorCode::UsageLimitReached,
        };
        (code, message)
    });
    let status = refusal
        .as_ref()
        .map_or(StatusCode::OK, |(code, _)| code.status());
    let error = refusal.map(|(code, message)| wire::RefusalBody {
        code: code.as_str(),
        message,
    });
    let answer = wire::ConsumptionBody::of(&consumption, &body.feature, error);
    Ok((status, Json(answer)).into_response())
}

pub async fn usage(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let usage = state.billing().usage(caller.user.id).await?;
    Ok(Json(wire::UsageBody::of(&usage)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    code: String,
}

pub async fn redeem(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<RedeemBody>,
) -> Result<Response, ApiError> {
    match state
        .billing()
        .redeem_coupon(caller.user.id, &body.code)
        .await?
    {
        Redemption::Redeemed { credits, balance } => Ok(Json(wire::RedemptionBody {
            code: body.code.trim().to_ascii_uppercase(),
            credits,
            balance,
        })
        .into_response()),
        Redemption::Unknown => Err(ApiError::coded(
            ErrorCode::CouponUnknown,
            "there is no such coupon",
        )),
        Redemption::Expired => Err(ApiError::coded(
            ErrorCode::CouponExpired,
            "this coupon has expired",
        )),
        Redemption::Exhausted => Err(ApiError::coded(
            ErrorCode::CouponExhausted,
            "this coupon has been redeemed as often as it may be",
        )),
        Redemption::AlreadyRedeemed => Err(ApiError::coded(
            ErrorCode::CouponAlreadyRedeemed,
            "you have already redeemed this coupon",
        )),
    }
}

pub async fn referral(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let view = state.billing().referral(caller.user.id).await?;
    Ok(Json(wire::ReferralBody::of(
        &view,
        state.credits.referral.as_ref(),
    ))
    .into_response())
}

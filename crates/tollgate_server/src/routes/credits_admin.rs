//! Admin-only credit operations: refunds, coupons, and the balances flagged negative.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use tollgate_core::PaymentId;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::wire;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    payment_id: String,
    /// Minor units; all that remains when absent.
    amount: Option<i64>,
    reason: Option<String>,
}

/// Issues a refund in Stripe; it is recorded `pending` and settled by the refund's events.
pub async fn refund(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<Response, ApiError> {
    let payment = PaymentId::parse(&body.payment_id)
        .map_err(|_| ApiError::invalid_field("payment_id", "payment_id must be a payment id"))?;
    if body.amount.is_some_and(|a| a < 1) {
        return Err(ApiError::invalid_field(
            "amount",
            "amount must be a positive integer in minor units",
        ));
    }
    let reason = body
        .reason
        .map(|r| r.trim().chars().take(500).collect::<String>())
        .filter(|r| !r.is_empty());
    let refund = state
        .billing()
        .refund(admin.user.id, payment, body.amount, reason)
        .await?;
    Ok((StatusCode::CREATED, Json(wire::RefundBody::of(&refund))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponBody {
    code: String,
    credits: i64,
    max_redemptions: Option<i64>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

pub async fn create_coupon(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CouponBody>,
) -> Result<Response, ApiError> {
    let coupon = state
        .billing()
        .create_coupon(
            admin.user.id,
            &body.code,
            body.credits,
            body.max_redemptions,
            body.expires_at,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(wire::CouponBody::of(&coupon))).into_response())
}

pub async fn coupons(State(state): State<AppState>, _admin: Admin) -> Result<Response, ApiError> {
    let coupons = state.billing().coupons().await?;
    Ok(Json(wire::ListBody::of(&coupons, wire::CouponBody::of)).into_response())
}

/// Balances below zero (credits refunded after they were spent), oldest first.
pub async fn negative_balances(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let balances = state.store.negative_balances(200).await?;
    Ok(Json(wire::ListBody::of(&balances, wire::BalanceBody::of)).into_response())
}

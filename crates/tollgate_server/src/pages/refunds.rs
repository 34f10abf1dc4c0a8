//! The console's credit purchases: a member's payments and balance, and the refund with its
//! confirmation step (the same `Billing::refund` use-case as the JSON API).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use tollgate_core::credits;
use tollgate_core::payment::Payment;
use tollgate_core::{PaymentId, UserId};

use super::format::{date, money};
use super::session::{AdminForm, AdminVisitor};
use super::{Layout, PageError, html, see_other};
use crate::error::ApiError;
use crate::state::AppState;

/// One payment on a member's console page.
pub struct PaymentRow {
    pub id: String,
    pub date: String,
    pub what: String,
    pub amount: String,
    pub refunded: String,
    pub status: &'static str,
    /// Whether anything is left to refund.
    pub refundable: bool,
}

impl PaymentRow {
    fn of(payment: &Payment) -> Self {
        Self {
            id: payment.id.to_string(),
            date: date(payment.completed_at.unwrap_or(payment.created_at)),
            what: payment
                .description
                .clone()
                .unwrap_or_else(|| format!("{} credits", payment.credits)),
            amount: money(payment.amount, payment.currency.as_str()),
            refunded: money(payment.refunded_amount, payment.currency.as_str()),
            status: payment.status.as_str(),
            refundable: payment.refundable() > 0,
        }
    }
}

/// A member's credit balance and latest payments, for their console page.
pub async fn member_payments(
    state: &AppState,
    user: UserId,
) -> Result<(i64, Vec<PaymentRow>), PageError> {
    let billing = state.billing();
    let balance = credits::balance(state.store.as_ref(), user)
        .await?
        .balance
        .credits;
    let payments = billing.payments_of(user, 50).await?;
    Ok((balance, payments.iter().map(PaymentRow::of).collect()))
}

#[derive(Template)]
#[template(path = "admin/refund.html")]
struct RefundPage {
    layout: Layout,
    payment: PaymentRow,
    member: String,
    remaining_minor: i64,
    remaining: String,
    currency: String,
    error: Option<String>,
}

async fn refund_page(
    state: &AppState,
    admin: &super::session::Visitor,
    id: PaymentId,
    error: Option<String>,
) -> Result<Response, PageError> {
    let payment = state.store.payment(id).await?.ok_or(ApiError::NotFound)?;
    let page = RefundPage {
        layout: Layout::new(state, Some(admin), "Refund", "admin-members"),
        member: payment.user_id.to_string(),
        remaining_minor: payment.refundable(),
        remaining: money(payment.refundable(), payment.currency.as_str()),
        currency: payment.currency.to_string(),
        payment: PaymentRow::of(&payment),
        error,
    };
    Ok(html(&page))
}

/// The confirmation step: what will be refunded, before anything is.
pub async fn confirm(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = PaymentId::parse(&id).map_err(|_| ApiError::NotFound)?;
    refund_page(&state, &admin, id, None).await
}

#[derive(Deserialize)]
pub struct RefundForm {
    /// Minor units; empty: all that remains.
    amount: String,
    reason: String,
}

pub async fn refund(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<RefundForm>,
) -> Result<Response, PageError> {
    let id = PaymentId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let amount = match form.amount.trim() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(amount) if amount > 0 => Some(amount),
            _ => {
                let error = "Enter a whole, positive amount in minor units (cents).".to_string();
                return refund_page(&state, &admin, id, Some(error)).await;
            }
        },
    };
    let reason =
        Some(form.reason.trim().chars().take(500).collect::<String>()).filter(|r| !r.is_empty());
    match state
        .billing()
        .refund(admin.user.id, id, amount, reason)
        .await
    {
        Ok(refund) => {
            let payment = state
                .store
                .payment(refund.payment_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            Ok(see_other(&format!(
                "/admin/members/{}?notice=refund_requested",
                payment.user_id
            )))
        }
        Err(
            error @ (tollgate_core::billing::BillingError::RefundExceedsRemaining { .. }
            | tollgate_core::billing::BillingError::NotRefundable),
        ) => refund_page(&state, &admin, id, Some(error.to_string())).await,
        Err(other) => Err(other.into()),
    }
}

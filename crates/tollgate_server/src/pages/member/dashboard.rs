//! The billing dashboard: plan and status in plain words, the catalog's offers, invoices
//! and the credits section.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use tollgate_core::UserId;
use tollgate_core::credits::{self};
use tollgate_core::invoice::Invoice;
use tollgate_core::payment::Payment;
use tollgate_core::stripe::SubscriptionStatus;
use tollgate_core::subscription::{BillingSummary, PaymentStatus};

use crate::pages::format::{date, money, plan_price};
use crate::pages::session::{MaybeVisitor, Visitor};
use crate::pages::{Layout, PageError, html, notice, see_other};
use crate::state::AppState;

/// The subscription in plain words, and how it should look.
pub struct StatusLine {
    /// `ok`, `warn`, `bad` or `none`.
    pub tone: &'static str,
    pub headline: String,
    pub detail: Option<String>,
}

pub fn status_line(summary: &BillingSummary) -> StatusLine {
    let sub = summary.subscription.as_ref();
    match summary.subscription_status {
        PaymentStatus::Paid => {
            let Some(sub) = sub else {
                return StatusLine {
                    tone: "ok",
                    headline: "Paid".into(),
                    detail: None,
                };
            };
            if sub.cancel_at_period_end {
                StatusLine {
                    tone: "warn",
                    headline: format!(
                        "Cancelled — access until {}",
                        date(sub.current_period_end)
                    ),
                    detail: Some("You will not be charged again. Resume to keep your plan.".into()),
                }
            } else if sub.status == SubscriptionStatus::Trialing {
                StatusLine {
                    tone: "ok",
                    headline: format!(
                        "Free trial — first payment {}",
                        date(sub.trial_end.unwrap_or(sub.current_period_end))
                    ),
                    detail: None,
                }
            } else {
                StatusLine {
                    tone: "ok",
                    headline: format!("Paid — renews {}", date(sub.current_period_end)),
                    detail: None,
                }
            }
        }
        PaymentStatus::PaymentFailed => StatusLine {
            tone: "bad",
            headline: "Payment failed — update your card".into(),
            detail: Some(
                "Stripe could not charge your card. Update it in billing management; Stripe retries automatically.".into(),
            ),
        },
        PaymentStatus::Cancelled => StatusLine {
            tone: "none",
            headline: match sub.and_then(|s| s.ended_at) {
                Some(ended) => format!("Cancelled — ended {}", date(ended)),
                None => "Cancelled".into(),
            },
            detail: Some("Subscribe again whenever you like.".into()),
        },
        PaymentStatus::Preapproved => StatusLine {
            tone: "none",
            headline: "Not subscribed yet".into(),
            detail: None,
        },
    }
}

pub struct PlanOffer {
    pub id: String,
    pub name: String,
    /// `Subscribe $49/month`.
    pub button: String,
    pub features: Vec<String>,
}

pub struct InvoiceLine {
    pub date: String,
    pub amount: String,
    pub status: String,
    pub url: Option<String>,
}

impl InvoiceLine {
    pub fn of(invoice: &Invoice) -> Self {
        Self {
            date: date(invoice.paid_at.unwrap_or(invoice.created_at)),
            amount: money(
                if invoice.status == "paid" {
                    invoice.amount_paid
                } else {
                    invoice.amount_due
                },
                &invoice.currency,
            ),
            status: invoice.status.clone(),
            // Only Stripe's own hosted pages are linked.
            url: invoice
                .hosted_invoice_url
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        }
    }
}

#[derive(Template)]
#[template(path = "member/dashboard.html")]
struct Dashboard {
    layout: Layout,
    notice: Option<&'static str>,
    status: StatusLine,
    plan_name: Option<String>,
    plan_price: Option<String>,
    payment_date: Option<String>,
    /// Subscribe buttons, when there is no live subscription.
    offers: Vec<PlanOffer>,
    can_manage: bool,
    can_cancel: bool,
    can_resume: bool,
    invoices: Vec<InvoiceLine>,
    credits: CreditsView,
}

/// The dashboard's credits section: balance, packs on sale, usage, referral code, purchases.
struct CreditsView {
    balance: String,
    negative: bool,
    packs: Vec<PackOffer>,
    usage: Vec<(String, String)>,
    referral_code: String,
    payments: Vec<CreditPaymentLine>,
}

struct PackOffer {
    id: String,
    name: String,
    price: String,
}

pub struct CreditPaymentLine {
    pub date: String,
    pub what: String,
    pub amount: String,
    pub status: &'static str,
}

impl CreditPaymentLine {
    pub fn of(payment: &Payment) -> Self {
        Self {
            date: date(payment.completed_at.unwrap_or(payment.created_at)),
            what: payment
                .description
                .clone()
                .unwrap_or_else(|| format!("{} credits", payment.credits)),
            amount: money(payment.amount, payment.currency.as_str()),
            status: payment.status.as_str(),
        }
    }
}

async fn credits_view(state: &AppState, user: UserId) -> Result<CreditsView, PageError> {
    let billing = state.billing();
    let balance = credits::balance(state.store.as_ref(), user).await?;
    let usage = billing.usage(user).await?;
    let referral = billing.referral(user).await?;
    let payments = billing.payments_of(user, 20).await?;
    Ok(CreditsView {
        balance: balance.balance.credits.to_string(),
        negative: balance.negative,
        packs: state
            .credits
            .packs
            .iter()
            .map(|p| PackOffer {
                id: p.id.clone(),
                name: p.name.clone(),
                price: p.price.display(),
            })
            .collect(),
        usage: usage
            .features
            .iter()
            .map(|f| {
                let limit = f.limit.map_or("unlimited".to_string(), |l| l.to_string());
                (f.feature.clone(), format!("{} of {limit}", f.used))
            })
            .collect(),
        referral_code: referral.code,
        payments: payments.iter().map(CreditPaymentLine::of).collect(),
    })
}

pub async fn home(
    state: State<AppState>,
    MaybeVisitor(visitor): MaybeVisitor,
    query: Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    match visitor {
        Some(visitor) => dashboard(state, visitor, query).await,
        None => Ok(see_other("/login")),
    }
}

pub async fn dashboard(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let billing = state.billing();
    let summary = billing.summary(visitor.user.id).await?;
    let invoices = billing.invoices(visitor.user.id).await?;
    let sub = summary.subscription.as_ref();
    let live = sub.is_some_and(|s| s.is_live());
    let plan = sub
        .and_then(|s| s.plan.as_deref())
        .and_then(|id| state.catalog.plan(id));
    let offers = if live {
        vec![]
    } else {
        state
            .catalog
            .plans
            .iter()
            .map(|p| PlanOffer {
                id: p.id.clone(),
                name: p.name.clone(),
                button: format!("Subscribe {}", plan_price(p)),
                features: p.features.clone(),
            })
            .collect()
    };
    let page = Dashboard {
        layout: Layout::new(&state, Some(&visitor), "Your billing", "dashboard"),
        notice: notice(query.get("notice").map(String::as_str)),
        status: status_line(&summary),
        plan_name: plan.map(|p| p.name.clone()),
        plan_price: plan.map(plan_price),
        payment_date: summary.payment_date.map(date),
        offers,
        can_manage: sub.is_some(),
        can_cancel: live && sub.is_some_and(|s| !s.cancel_at_period_end),
        can_resume: live && sub.is_some_and(|s| s.cancel_at_period_end),
        invoices: invoices.iter().map(InvoiceLine::of).collect(),
        credits: credits_view(&state, visitor.user.id).await?,
    };
    Ok(html(&page))
}

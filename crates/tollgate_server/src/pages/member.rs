//! The member's pages: sign up, log in, log out, the billing dashboard (plan and status in
//! plain words, subscribe, manage, cancel, resume, invoices), the checkout return page that
//! waits for Stripe's confirmation, and API keys. Nothing here marks anyone paid.

use std::collections::HashMap;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_core::account::{self, AccountError, Role};
use tollgate_core::api_key::{self, ApiKeyError};
use tollgate_core::billing::{BillingError, CheckoutUrls};
use tollgate_core::credits::{self, Purchase};
use tollgate_core::invoice::Invoice;
use tollgate_core::payment::Payment;
use tollgate_core::stripe::{CheckoutSessionId, SubscriptionStatus};
use tollgate_core::subscription::{BillingSummary, PaymentStatus};
use tollgate_core::{ApiKeyId, Email, Secret, UserId};

use super::format::{date, datetime, money, plan_price};
use super::session::{MaybeVisitor, OpenForm, SignedForm, Visitor, form_token};
use super::{Layout, PageError, html, notice, see_other};
use crate::auth::cookie;
use crate::auth::sign_in::{self, Refusal};
use crate::error::ApiError;
use crate::state::AppState;

// --- sign up, log in, log out ------------------------------------------------------------

#[derive(Template)]
#[template(path = "member/auth.html")]
struct AuthPage {
    layout: Layout,
    signup: bool,
    form_token: String,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct AuthQuery {
    next: Option<String>,
}

fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| crate::routes::is_local_path(n))
        .unwrap_or("/dashboard")
        .to_string()
}

fn auth_page(
    state: &AppState,
    headers: &HeaderMap,
    signup: bool,
    email: &str,
    next: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (token, cookie) = form_token(headers, state.config.cookies_secure());
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = AuthPage {
        layout: Layout::new(
            state,
            None,
            if signup {
                "Create your account"
            } else {
                "Log in"
            },
            if signup { "signup" } else { "login" },
        ),
        signup,
        form_token: token,
        email: email.to_string(),
        next: next.to_string(),
        error,
    };
    let mut response = (status, html(&page)).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub async fn signup_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeVisitor(visitor): MaybeVisitor,
    Query(query): Query<AuthQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if visitor.is_some() {
        return see_other(&next);
    }
    auth_page(&state, &headers, true, "", &next, None)
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeVisitor(visitor): MaybeVisitor,
    Query(query): Query<AuthQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if visitor.is_some() {
        return see_other(&next);
    }
    auth_page(&state, &headers, false, "", &next, None)
}

#[derive(Deserialize)]
pub struct CredentialsForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// Opens a session and sends the visitor on, as the JSON sign-in does with its cookie.
async fn open_session(
    state: &AppState,
    user: &account::User,
    next: &str,
) -> Result<Response, PageError> {
    let session = account::start_session(
        state.store.as_ref(),
        state.clock.as_ref(),
        &state.policy,
        user,
    )
    .await
    .map_err(ApiError::from)?;
    let cookie = cookie::set_session(
        session.token.expose(),
        session.expires_at,
        state.clock.now(),
        state.config.cookies_secure(),
    );
    let mut response = see_other(next);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    OpenForm(form): OpenForm<CredentialsForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref());
    let again = |status: StatusCode, message: String| {
        Ok(auth_page(
            &state,
            &headers,
            true,
            &form.email,
            &next,
            Some((status, message)),
        ))
    };
    let ip = crate::routes::client_ip(&state, &headers, peer);
    let email = Email::parse(&form.email).ok();
    let password = Secret::new(form.password.clone());
    match sign_in::sign_up(&state, ip, email, password, None).await {
        Ok(user) => {
            tracing::info!(user.id = %user.id, "user signed up on the page");
            open_session(&state, &user, &next).await
        }
        Err(Refusal::Limited { retry_after_secs }) => again(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many sign-ups from here; try again in {retry_after_secs} s."),
        ),
        Err(Refusal::NotAnEmail) => again(
            StatusCode::BAD_REQUEST,
            "Enter a valid email address.".into(),
        ),
        Err(Refusal::Account(AccountError::WeakPassword(e))) => {
            again(StatusCode::BAD_REQUEST, format!("The password {e}."))
        }
        Err(Refusal::Account(AccountError::EmailUnavailable)) => again(
            StatusCode::CONFLICT,
            AccountError::EmailUnavailable.to_string(),
        ),
        Err(other) => Err(ApiError::from(other).into()),
    }
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    OpenForm(form): OpenForm<CredentialsForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref());
    let again = |status: StatusCode, message: String| {
        Ok(auth_page(
            &state,
            &headers,
            false,
            &form.email,
            &next,
            Some((status, message)),
        ))
    };
    let ip = crate::routes::client_ip(&state, &headers, peer);
    let email = Email::parse(&form.email).ok();
    let password = Secret::new(form.password.clone());
    match sign_in::log_in(&state, ip, email.as_ref(), &password).await {
        Ok(user) => open_session(&state, &user, &next).await,
        Err(Refusal::Limited { retry_after_secs }) => again(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts; try again in {retry_after_secs} s."),
        ),
        Err(Refusal::NotAnEmail | Refusal::Account(AccountError::InvalidCredentials)) => again(
            StatusCode::UNAUTHORIZED,
            AccountError::InvalidCredentials.to_string(),
        ),
        Err(other) => Err(ApiError::from(other).into()),
    }
}

#[derive(Deserialize)]
pub struct NoFields {}

pub async fn logout(
    State(state): State<AppState>,
    SignedForm { visitor, .. }: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    account::end_session(state.store.as_ref(), visitor.session_token.expose())
        .await
        .map_err(ApiError::from)?;
    let mut response = see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie::clear_session(state.config.cookies_secure()),
    );
    Ok(response)
}

// --- the billing dashboard -----------------------------------------------------------------

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

// --- API keys --------------------------------------------------------------------------

pub struct KeyLine {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "member/keys.html")]
struct KeysPage {
    layout: Layout,
    notice: Option<&'static str>,
    keys: Vec<KeyLine>,
    /// A key just created: shown this once.
    created: Option<(String, String)>,
    error: Option<String>,
}

async fn keys_page(
    state: &AppState,
    visitor: &Visitor,
    notice_key: Option<&str>,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let keys = state.store.api_keys(visitor.user.id).await?;
    let page = KeysPage {
        layout: Layout::new(state, Some(visitor), "API keys", "keys"),
        notice: notice(notice_key),
        keys: keys
            .iter()
            .map(|k| KeyLine {
                id: k.id.to_string(),
                name: k.name.clone(),
                prefix: k.prefix.clone(),
                created: datetime(k.created_at),
                last_used: k
                    .last_used_at
                    .map(datetime)
                    .unwrap_or_else(|| "never".into()),
            })
            .collect(),
        created,
        error,
    };
    Ok(html(&page))
}

pub async fn keys(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    keys_page(
        &state,
        &visitor,
        query.get("notice").map(String::as_str),
        None,
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct KeyForm {
    name: String,
}

pub async fn create_key(
    State(state): State<AppState>,
    SignedForm { visitor, form }: SignedForm<KeyForm>,
) -> Result<Response, PageError> {
    match api_key::create(
        state.store.as_ref(),
        state.clock.as_ref(),
        visitor.user.id,
        &form.name,
        state.key_mode(),
    )
    .await
    {
        Ok((key, secret)) => {
            let created = Some((key.name.clone(), secret.expose().clone()));
            let mut response = keys_page(&state, &visitor, None, created, None).await?;
            *response.status_mut() = StatusCode::CREATED;
            Ok(response)
        }
        Err(e @ ApiKeyError::InvalidName) => {
            let mut response = keys_page(&state, &visitor, None, None, Some(e.to_string())).await?;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            Ok(response)
        }
        Err(ApiKeyError::Store(e)) => Err(e.into()),
    }
}

pub async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm { visitor, .. }: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    let id = ApiKeyId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let revoked = api_key::revoke(
        state.store.as_ref(),
        state.clock.as_ref(),
        visitor.user.id,
        id,
    )
    .await?;
    if !revoked {
        return Err(ApiError::NotFound.into());
    }
    Ok(see_other("/account/keys?notice=key_revoked"))
}

//! The admin console: overview (MRR, subscriptions, revenue chart), the members table and a
//! member's page with "Assign mentor", mentors, webhook events (inspect, replay) and the
//! audit log. Admins only: members get 403, anonymous visitors the login page. Every action
//! goes through a core use-case or store command that writes an audit entry.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use time::Duration;
use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::inbox::EventStatus;
use tollgate_core::member::{self, MemberQuery, MemberRow, MemberSort};
use tollgate_core::mentor::{self, MentorError};
use tollgate_core::store::Page;
use tollgate_core::stripe::StripeEventId;
use tollgate_core::subscription::PaymentStatus;
use tollgate_core::{AuditId, Email, MentorId, UserId};

use super::chart::{self, RevenueChart};
use super::format::{date, datetime, money, opt_date};
use super::member::InvoiceLine;
use super::refunds::{PaymentRow, member_payments};
use super::session::{AdminForm, AdminVisitor, Visitor};
use super::{Layout, PageError, html, notice, see_other};
use crate::error::ApiError;
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;
/// Deep enough for 500,000 members at 50 a page; past it, search or filter.
const MAX_PAGE: u32 = 10_000;

const STATUSES: [PaymentStatus; 4] = [
    PaymentStatus::Paid,
    PaymentStatus::Preapproved,
    PaymentStatus::PaymentFailed,
    PaymentStatus::Cancelled,
];

pub fn status_label(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Preapproved => "Not paid yet",
        PaymentStatus::Paid => "Paid",
        PaymentStatus::PaymentFailed => "Payment failed",
        PaymentStatus::Cancelled => "Cancelled",
    }
}

fn parse_status(text: &str) -> Option<PaymentStatus> {
    STATUSES.into_iter().find(|s| s.as_str() == text)
}

fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::User(id) => format!("user {id}"),
        Actor::Cli => "command line".into(),
        Actor::System => "tollgate".into(),
    }
}

fn admin_audit(
    admin: &Visitor,
    action: &str,
    target: String,
    details: serde_json::Value,
    state: &AppState,
) -> AuditEntry {
    AuditEntry::new(
        Actor::User(admin.user.id),
        action,
        target,
        details,
        state.clock.now(),
    )
}

// --- overview ----------------------------------------------------------------------------

pub struct Stat {
    pub label: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    layout: Layout,
    stats: Vec<Stat>,
    by_status: Vec<(String, &'static str, i64)>,
    chart: RevenueChart,
    other_currencies: Vec<String>,
}

pub async fn overview(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let days = 90;
    let today = now.unix_timestamp().div_euclid(86_400);
    let revenue_since = time::OffsetDateTime::from_unix_timestamp((today - (days - 1)) * 86_400)
        .unwrap_or(now - Duration::days(days));
    let facts = state
        .store
        .overview(now - Duration::days(30), revenue_since)
        .await?;
    let mrr = member::monthly_recurring_revenue(&facts, &state.catalog);
    let currency = state
        .catalog
        .plans
        .first()
        .map(|p| p.currency.clone())
        .unwrap_or_else(|| "usd".into());
    let mrr_text = if mrr.is_empty() {
        money(0, &currency)
    } else {
        mrr.iter()
            .map(|(c, amount)| money(*amount, c))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let active: i64 = facts.entitled_by_plan.iter().map(|(_, n)| n).sum();
    let in_currency: Vec<(i64, i64)> = facts
        .revenue_by_day
        .iter()
        .filter(|(_, c, _)| c.eq_ignore_ascii_case(&currency))
        .map(|(day, _, amount)| (*day, *amount))
        .collect();
    let mut other_currencies: Vec<String> = facts
        .revenue_by_day
        .iter()
        .filter(|(_, c, _)| !c.eq_ignore_ascii_case(&currency))
        .map(|(_, c, _)| c.to_uppercase())
        .collect();
    other_currencies.sort();
    other_currencies.dedup();
    let by_status = STATUSES
        .iter()
        .map(|s| {
            let count = facts
                .members_by_status
                .iter()
                .find(|(status, _)| status == s)
                .map_or(0, |(_, n)| *n);
            (s.as_str().to_string(), status_label(*s), count)
        })
        .collect();
    let page = OverviewPage {
        layout: Layout::new(&state, Some(&admin), "Overview", "admin"),
        stats: vec![
            Stat {
                label: "Monthly recurring revenue".into(),
                value: mrr_text,
            },
            Stat {
                label: "Active subscriptions".into(),
                value: active.to_string(),
            },
            Stat {
                label: "New in the last 30 days".into(),
                value: facts.new_subscriptions.to_string(),
            },
            Stat {
                label: "Churned in the last 30 days".into(),
                value: facts.churned_subscriptions.to_string(),
            },
        ],
        by_status,
        chart: chart::revenue(&in_currency, &currency, now, days),
        other_currencies,
    };
    Ok(html(&page))
}

// --- members -----------------------------------------------------------------------------

pub struct MemberLine {
    pub id: String,
    pub email: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub payment_date: String,
    pub plan: String,
    pub mentor: String,
    pub joined: String,
}

fn member_line(state: &AppState, row: &MemberRow) -> MemberLine {
    MemberLine {
        id: row.id.to_string(),
        email: row
            .email
            .as_ref()
            .map(|e| e.as_str().to_string())
            .unwrap_or_else(|| "(no email)".into()),
        status: row.billing.payment_status.as_str(),
        status_label: status_label(row.billing.payment_status),
        payment_date: opt_date(row.billing.payment_date),
        plan: row
            .billing
            .plan
            .as_deref()
            .map(|id| {
                state
                    .catalog
                    .plan(id)
                    .map_or_else(|| id.to_string(), |p| p.name.clone())
            })
            .unwrap_or_else(|| "—".into()),
        mentor: row
            .mentor
            .as_ref()
            .map_or_else(|| "—".into(), |(_, name)| name.clone()),
        joined: date(row.created_at),
    }
}

#[derive(Template)]
#[template(path = "admin/members.html")]
struct MembersPage {
    layout: Layout,
    search: String,
    status: String,
    sort: &'static str,
    statuses: Vec<(&'static str, &'static str)>,
    sorts: Vec<(&'static str, &'static str)>,
    rows: Vec<MemberLine>,
    total: i64,
    first: i64,
    last: i64,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct MembersQuery {
    q: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

fn members_link(search: &str, status: &str, sort: &str, page: u32) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !search.is_empty() {
        query.append_pair("q", search);
    }
    if !status.is_empty() {
        query.append_pair("status", status);
    }
    query.append_pair("sort", sort);
    query.append_pair("page", &page.to_string());
    format!("/admin/members?{}", query.finish())
}

pub async fn members(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
    Query(query): Query<MembersQuery>,
) -> Result<Response, PageError> {
    let search = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect::<String>();
    let status = query.status.as_deref().and_then(parse_status);
    let sort = query
        .sort
        .as_deref()
        .and_then(MemberSort::parse)
        .unwrap_or_default();
    let page_number = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_PAGE);
    let result = state
        .store
        .members(&MemberQuery {
            search: Some(search.clone()).filter(|s| !s.is_empty()),
            status,
            sort,
            offset: (page_number - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        })
        .await?;
    let status_text = status.map(|s| s.as_str()).unwrap_or_default();
    let offset = i64::from((page_number - 1) * PAGE_SIZE);
    let shown = i64::try_from(result.rows.len()).unwrap_or(0);
    let page = MembersPage {
        layout: Layout::new(&state, Some(&admin), "Members", "admin-members"),
        statuses: STATUSES
            .iter()
            .map(|s| (s.as_str(), status_label(*s)))
            .collect(),
        sorts: vec![
            ("newest", "Newest first"),
            ("oldest", "Oldest first"),
            ("email", "Email A–Z"),
            ("payment_date", "Latest payment"),
        ],
        rows: result.rows.iter().map(|r| member_line(&state, r)).collect(),
        total: result.total,
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        previous: (page_number > 1)
            .then(|| members_link(&search, status_text, sort.as_str(), page_number - 1)),
        next: (offset + shown < result.total && page_number < MAX_PAGE)
            .then(|| members_link(&search, status_text, sort.as_str(), page_number + 1)),
        search,
        status: status_text.to_string(),
        sort: sort.as_str(),
    };
    Ok(html(&page))
}

pub struct SubscriptionLine {
    pub id: String,
    pub status: String,
    pub plan: String,
    pub period: String,
    pub cancel_at_period_end: bool,
}

pub struct EventLine {
    pub id: String,
    pub event_type: String,
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: String,
    pub received: String,
}

pub struct AuditLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
}

fn audit_line(entry: &AuditEntry) -> AuditLine {
    AuditLine {
        at: datetime(entry.at),
        actor: actor_label(&entry.actor),
        action: entry.action.clone(),
        target: entry.target.clone(),
        details: entry.details.to_string(),
    }
}

fn event_line(event: &tollgate_core::inbox::InboxEvent) -> EventLine {
    EventLine {
        id: event.id.as_str().to_string(),
        event_type: event.event_type.clone(),
        status: event.status.as_str(),
        attempts: event.attempts,
        last_error: event.last_error.clone().unwrap_or_default(),
        received: datetime(event.received_at),
    }
}

#[derive(Template)]
#[template(path = "admin/member.html")]
struct MemberPage {
    layout: Layout,
    notice: Option<&'static str>,
    member: MemberLine,
    role: &'static str,
    can_assign: bool,
    mentors: Vec<(String, String, bool)>,
    subscriptions: Vec<SubscriptionLine>,
    invoices: Vec<InvoiceLine>,
    credits: i64,
    payments: Vec<PaymentRow>,
    events: Vec<EventLine>,
    audit: Vec<AuditLine>,
}

pub async fn member(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let id = UserId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let row = state.store.member(id).await?.ok_or(ApiError::NotFound)?;
    let user = state.store.user(id).await?.ok_or(ApiError::NotFound)?;
    let subscriptions = state.store.subscriptions_of(id).await?;
    let invoices = state.store.invoices_of(id, 50).await?;
    let mut stripe_ids: Vec<String> = state
        .store
        .stripe_customer_of(id)
        .await?
        .map(|c| c.as_str().to_string())
        .into_iter()
        .collect();
    stripe_ids.extend(subscriptions.iter().map(|s| s.id.as_str().to_string()));
    let events = state.store.events_mentioning(&stripe_ids, 50).await?;
    let audit_entries = state.store.audit_about(&format!("user:{id}"), 50).await?;
    let mentors = state.store.mentors().await?;
    let current_mentor = row.mentor.as_ref().map(|(m, _)| *m);
    let (credits, payments) = member_payments(&state, id).await?;
    let page = MemberPage {
        layout: Layout::new(&state, Some(&admin), "Member", "admin-members"),
        notice: notice(query.get("notice").map(String::as_str)),
        can_assign: mentor::may_be_assigned(user.role, row.billing.payment_status),
        role: user.role.as_str(),
        mentors: mentors
            .iter()
            .map(|m| {
                (
                    m.id.to_string(),
                    m.name.clone(),
                    Some(m.id) == current_mentor,
                )
            })
            .collect(),
        subscriptions: subscriptions
            .iter()
            .map(|s| SubscriptionLine {
                id: s.id.as_str().to_string(),
                status: s.status.as_str().to_string(),
                plan: s
                    .plan
                    .clone()
                    .unwrap_or_else(|| s.price.as_str().to_string()),
                period: format!(
                    "{} – {}",
                    date(s.current_period_start),
                    date(s.current_period_end)
                ),
                cancel_at_period_end: s.cancel_at_period_end,
            })
            .collect(),
        invoices: invoices.iter().map(InvoiceLine::of).collect(),
        credits,
        payments,
        events: events.iter().map(event_line).collect(),
        audit: audit_entries.iter().map(audit_line).collect(),
        member: member_line(&state, &row),
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
pub struct AssignForm {
    mentor_id: String,
}

/// Assigns a mentor; refused with 409 `payment_not_verified` unless Stripe confirmed the
/// member's payment, however the request was made.
pub async fn assign_mentor(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm<AssignForm>,
) -> Result<Response, PageError> {
    let member = UserId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let mentor_id = MentorId::parse(&form.mentor_id)
        .map_err(|_| ApiError::invalid_field("mentor_id", "choose a mentor"))?;
    mentor::assign(
        state.store.as_ref(),
        state.clock.as_ref(),
        &admin.user,
        member,
        mentor_id,
    )
    .await?;
    tracing::info!(user.id = %member, mentor.id = %mentor_id, admin.id = %admin.user.id, "mentor assigned");
    Ok(see_other(&format!(
        "/admin/members/{member}?notice=mentor_assigned"
    )))
}

// --- mentors -----------------------------------------------------------------------------

pub struct MentorLine {
    pub name: String,
    pub email: String,
    pub members: i64,
    pub added: String,
}

#[derive(Template)]
#[template(path = "admin/mentors.html")]
struct MentorsPage {
    layout: Layout,
    notice: Option<&'static str>,
    error: Option<String>,
    name: String,
    email: String,
    mentors: Vec<MentorLine>,
}

async fn mentors_page(
    state: &AppState,
    admin: &Visitor,
    notice_key: Option<&str>,
    error: Option<String>,
    name: &str,
    email: &str,
) -> Result<Response, PageError> {
    let mentors = state.store.mentors().await?;
    let page = MentorsPage {
        layout: Layout::new(state, Some(admin), "Mentors", "admin-mentors"),
        notice: notice(notice_key),
        error,
        name: name.to_string(),
        email: email.to_string(),
        mentors: mentors
            .iter()
            .map(|m| MentorLine {
                name: m.name.clone(),
                email: m
                    .email
                    .as_ref()
                    .map_or_else(|| "—".into(), |e| e.as_str().to_string()),
                members: m.members,
                added: date(m.created_at),
            })
            .collect(),
    };
    Ok(html(&page))
}

pub async fn mentors(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    mentors_page(
        &state,
        &admin,
        query.get("notice").map(String::as_str),
        None,
        "",
        "",
    )
    .await
}

#[derive(Deserialize)]
pub struct MentorForm {
    name: String,
    email: Option<String>,
}

pub async fn create_mentor(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm<MentorForm>,
) -> Result<Response, PageError> {
    let email_text = form.email.clone().unwrap_or_default();
    let refused = match form
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(text) if Email::parse(text).is_err() => Some((
            StatusCode::BAD_REQUEST,
            "Enter a valid email, or none.".to_string(),
        )),
        email => {
            let email = email.and_then(|e| Email::parse(e).ok());
            match mentor::create(
                state.store.as_ref(),
                state.clock.as_ref(),
                &admin.user,
                &form.name,
                email,
            )
            .await
            {
                Ok(_) => None,
                Err(e @ MentorError::InvalidName) => Some((StatusCode::BAD_REQUEST, e.to_string())),
                Err(e @ MentorError::DuplicateName) => Some((StatusCode::CONFLICT, e.to_string())),
                Err(other) => return Err(ApiError::from(other).into()),
            }
        }
    };
    match refused {
        None => Ok(see_other("/admin/mentors?notice=mentor_created")),
        Some((status, message)) => {
            let mut response =
                mentors_page(&state, &admin, None, Some(message), &form.name, &email_text).await?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

// --- webhook events ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    layout: Layout,
    notice: Option<&'static str>,
    status: String,
    statuses: [&'static str; 4],
    events: Vec<EventLine>,
    next: Option<String>,
}

pub async fn events(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let status = query.get("status").and_then(|s| EventStatus::parse(s));
    let before = query
        .get("before")
        .and_then(|b| StripeEventId::parse(b).ok());
    let events = state
        .store
        .events(
            status,
            Page {
                limit: PAGE_SIZE,
                before,
            },
        )
        .await?;
    let status_text = status.map(|s| s.as_str()).unwrap_or_default();
    let next = (events.len() == PAGE_SIZE as usize)
        .then(|| events.last())
        .flatten()
        .map(|last| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            if !status_text.is_empty() {
                q.append_pair("status", status_text);
            }
            q.append_pair("before", last.id.as_str());
            format!("/admin/events?{}", q.finish())
        });
    let page = EventsPage {
        layout: Layout::new(&state, Some(&admin), "Webhook events", "admin-events"),
        notice: notice(query.get("notice").map(String::as_str)),
        status: status_text.to_string(),
        statuses: ["received", "processed", "failed", "ignored"],
        events: events.iter().map(event_line).collect(),
        next,
    };
    Ok(html(&page))
}

#[derive(Template)]
#[template(path = "admin/event.html")]
struct EventPage {
    layout: Layout,
    notice: Option<&'static str>,
    event: EventLine,
    account: String,
    processed: String,
    payload: String,
}

pub async fn event(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let id = StripeEventId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let event = state.store.event(&id).await?.ok_or(ApiError::NotFound)?;
    // Pretty-printed when it is JSON; shown as stored otherwise. Escaped by the template.
    let payload = serde_json::from_str::<serde_json::Value>(&event.payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| event.payload.clone());
    let page = EventPage {
        layout: Layout::new(&state, Some(&admin), "Webhook event", "admin-events"),
        notice: notice(query.get("notice").map(String::as_str)),
        account: event.account.clone().unwrap_or_else(|| "platform".into()),
        processed: event
            .processed_at
            .map(datetime)
            .unwrap_or_else(|| "—".into()),
        event: event_line(&event),
        payload,
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
pub struct NoFields {}

pub async fn replay_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Result<Response, PageError> {
    let id = StripeEventId::parse(&id).map_err(|_| ApiError::NotFound)?;
    if !state.store.replay_event(&id, state.clock.now()).await? {
        return Err(ApiError::NotFound.into());
    }
    state
        .store
        .append_audit(&admin_audit(
            &admin,
            "event.replay",
            format!("event:{}", id.as_str()),
            serde_json::json!({}),
            &state,
        ))
        .await?;
    state.inbox_wake.notify_one();
    Ok(see_other(&format!(
        "/admin/events/{}?notice=replayed",
        id.as_str()
    )))
}

pub async fn replay_failed(
    State(state): State<AppState>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Result<Response, PageError> {
    let count = state.store.replay_failed(state.clock.now()).await?;
    state
        .store
        .append_audit(&admin_audit(
            &admin,
            "event.replay_failed",
            "events:failed".into(),
            serde_json::json!({ "count": count }),
            &state,
        ))
        .await?;
    state.inbox_wake.notify_one();
    Ok(see_other("/admin/events?notice=replayed"))
}

// --- audit log ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    audit: Vec<AuditLine>,
    next: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let before = query.get("before").and_then(|b| AuditId::parse(b).ok());
    let entries = state
        .store
        .audit_log(Page {
            limit: PAGE_SIZE,
            before,
        })
        .await?;
    let next = (entries.len() == PAGE_SIZE as usize)
        .then(|| entries.last())
        .flatten()
        .map(|last| format!("/admin/audit?before={}", last.id));
    let page = AuditPage {
        layout: Layout::new(&state, Some(&admin), "Audit log", "admin-audit"),
        audit: entries.iter().map(audit_line).collect(),
        next,
    };
    Ok(html(&page))
}

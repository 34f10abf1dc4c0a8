//! The members table (search, filter, sort, pages) and a member's page with "Assign
//! mentor".

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use tollgate_core::member::{MemberQuery, MemberRow, MemberSort};
use tollgate_core::mentor::{self};
use tollgate_core::{MentorId, UserId};

use super::{
    AuditLine, EventLine, MAX_PAGE, PAGE_SIZE, STATUSES, SubscriptionLine, audit_line, event_line,
    parse_status, status_label,
};
use crate::error::ApiError;
use crate::pages::format::{date, opt_date};
use crate::pages::member::InvoiceLine;
use crate::pages::refunds::{PaymentRow, member_payments};
use crate::pages::session::{AdminForm, AdminVisitor};
use crate::pages::{Layout, PageError, html, notice, see_other};
use crate::state::AppState;

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

//! Webhook events: the list, one event's payload, replay one or every failed event.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use tollgate_core::inbox::EventStatus;
use tollgate_core::store::Page;
use tollgate_core::stripe::StripeEventId;

use super::{EventLine, PAGE_SIZE, admin_audit, event_line};
use crate::error::ApiError;
use crate::pages::format::datetime;
use crate::pages::session::{AdminForm, AdminVisitor, NoFields};
use crate::pages::{Layout, PageError, html, notice, see_other};
use crate::state::AppState;

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

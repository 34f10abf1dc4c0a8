//! Admin access to the webhook inbox: list, inspect, replay one or all failed.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use tollgate_core::inbox::EventStatus;
use tollgate_core::store::Page;
use tollgate_core::stripe::StripeEventId;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire;

fn event_id(text: &str) -> Result<StripeEventId, ApiError> {
    StripeEventId::parse(text).map_err(|_| ApiError::NotFound)
}

pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let status = query
        .get("status")
        .map(|s| {
            EventStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_field(
                    "status",
                    "status must be received, processed, failed or ignored",
                )
            })
        })
        .transpose()?;
    let limit = match query.get("limit") {
        None => 50,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| ApiError::invalid_field("limit", "limit must be 1 to 200"))?,
    };
    let before = query
        .get("before")
        .map(|b| {
            StripeEventId::parse(b)
                .map_err(|_| ApiError::invalid_field("before", "before must be an event id"))
        })
        .transpose()?;
    let events = state.store.events(status, Page { limit, before }).await?;
    Ok(super::admin::page_body(
        &events,
        limit,
        |e| &e.id,
        wire::EventBody::of,
    ))
}

/// One event with its payload as Stripe sent it.
#[derive(serde::Serialize)]
struct EventDetail<'a> {
    event: wire::EventBody<'a>,
    payload: serde_json::Value,
}

pub async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let event = state
        .store
        .event(&event_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound)?;
    let payload: serde_json::Value =
        serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
    Ok(Json(EventDetail {
        event: wire::EventBody::of(&event),
        payload,
    })
    .into_response())
}

pub async fn replay(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = event_id(&id)?;
    if !state.store.replay_event(&id, state.clock.now()).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(stripe.event_id = %id, user.id = %admin.user.id, "event queued for replay");
    state.inbox_wake.notify_one();
    Ok(Json(wire::ReplayedBody { replayed: 1 }).into_response())
}

pub async fn replay_failed(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, ApiError> {
    let count = state.store.replay_failed(state.clock.now()).await?;
    tracing::info!(count, user.id = %admin.user.id, "failed events queued for replay");
    state.inbox_wake.notify_one();
    Ok(Json(wire::ReplayedBody { replayed: count }).into_response())
}

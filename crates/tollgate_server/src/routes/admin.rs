//! Admin-only listings: users and the audit log, in keyset pages.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use tollgate_core::account::Role;
use tollgate_core::store::Page;
use tollgate_core::{AuditId, UserId};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

pub(crate) fn limit(query: &HashMap<String, String>) -> Result<u32, ApiError> {
    match query.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field("limit", format!("limit must be 1 to {MAX_LIMIT}"))
            }),
    }
}

pub(crate) fn before<T>(
    query: &HashMap<String, String>,
    parse: impl Fn(&str) -> Result<T, uuid::Error>,
) -> Result<Option<T>, ApiError> {
    query
        .get("before")
        .map(|text| {
            parse(text).map_err(|_| {
                ApiError::invalid_field("before", "before must be an id from the previous page")
            })
        })
        .transpose()
}

/// One keyset page as `{data, next_before}`; `next_before` is the last id when the page is full.
pub(crate) fn page_body<'a, T, I: serde::Serialize, B: serde::Serialize>(
    items: &'a [T],
    limit: u32,
    id: impl Fn(&'a T) -> I,
    body: impl Fn(&'a T) -> B,
) -> Response {
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(&id))
        .flatten();
    Json(wire::PageBody {
        data: items.iter().map(body).collect(),
        next_before,
    })
    .into_response()
}

pub async fn users(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let role = query
        .get("role")
        .map(|r| {
            Role::parse(r)
                .ok_or_else(|| ApiError::invalid_field("role", "role must be user or admin"))
        })
        .transpose()?;
    let page = Page {
        limit: limit(&query)?,
        before: before(&query, UserId::parse)?,
    };
    let users = state.store.users(role, page).await?;
    Ok(page_body(&users, page.limit, |u| u.id, wire::UserBody::of))
}

pub async fn audit(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page {
        limit: limit(&query)?,
        before: before(&query, AuditId::parse)?,
    };
    let entries = state.store.audit_log(page).await?;
    Ok(page_body(
        &entries,
        page.limit,
        |e| e.id,
        wire::AuditBody::of,
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMentor {
    name: String,
    email: Option<tollgate_core::Email>,
}

pub async fn mentors(State(state): State<AppState>, _admin: Admin) -> Result<Response, ApiError> {
    let mentors = state.store.mentors().await?;
    Ok(Json(wire::ListBody::of(&mentors, wire::MentorBody::of)).into_response())
}

pub async fn create_mentor(
    State(state): State<AppState>,
    Admin(admin): Admin,
    crate::json::ApiJson(body): crate::json::ApiJson<NewMentor>,
) -> Result<Response, ApiError> {
    let mentor = tollgate_core::mentor::create(
        state.store.as_ref(),
        state.clock.as_ref(),
        &admin.user,
        &body.name,
        body.email,
    )
    .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(wire::MentorBody::of(&mentor)),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    mentor_id: String,
}

/// `{member}`: the member after a mentor is assigned.
#[derive(serde::Serialize)]
struct MemberAnswer<'a> {
    member: wire::MemberBody<'a>,
}

/// Seed 000's "Assign Mentor": 409 `payment_not_verified` unless Stripe confirmed the
/// member's payment.
pub async fn assign_mentor(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<String>,
    crate::json::ApiJson(body): crate::json::ApiJson<Assign>,
) -> Result<Response, ApiError> {
    let member = UserId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let mentor = tollgate_core::MentorId::parse(&body.mentor_id)
        .map_err(|_| ApiError::invalid_field("mentor_id", "mentor_id must be a mentor's id"))?;
    tollgate_core::mentor::assign(
        state.store.as_ref(),
        state.clock.as_ref(),
        &admin.user,
        member,
        mentor,
    )
    .await?;
    let row = state
        .store
        .member(member)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(MemberAnswer {
        member: wire::MemberBody::of(&row),
    })
    .into_response())
}

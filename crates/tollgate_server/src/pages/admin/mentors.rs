//! The mentors page: list and create.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tollgate_core::Email;
use tollgate_core::mentor::{self, MentorError};

use crate::error::ApiError;
use crate::pages::format::date;
use crate::pages::session::{AdminForm, AdminVisitor, Visitor};
use crate::pages::{Layout, PageError, html, notice, see_other};
use crate::state::AppState;

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

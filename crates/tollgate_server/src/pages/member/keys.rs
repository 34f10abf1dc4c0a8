//! The member's API keys: list, create (shown once), revoke.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tollgate_core::account;
use tollgate_core::api_key::{self, ApiKeyError};
use tollgate_core::{ApiKeyId, token};

use crate::error::ApiError;
use crate::pages::format::datetime;
use crate::pages::session::{NoFields, SignedForm, Visitor};
use crate::pages::{Layout, PageError, html, notice, see_other};
use crate::state::AppState;

pub struct KeyLine {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
}

pub struct SessionLine {
    pub created: String,
    pub expires: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "member/keys.html")]
struct KeysPage {
    layout: Layout,
    notice: Option<&'static str>,
    keys: Vec<KeyLine>,
    sessions: Vec<SessionLine>,
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
    let sessions =
        account::sessions_of(state.store.as_ref(), state.clock.as_ref(), visitor.user.id).await?;
    let current = token::hash(visitor.session_token.expose());
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
        sessions: sessions
            .iter()
            .map(|s| SessionLine {
                created: datetime(s.created_at),
                expires: datetime(s.expires_at),
                current: s.token_hash == current,
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
        &visitor.user,
        &form.name,
        None,
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
        // The page makes keys with the default scopes, so only the name can be wrong.
        Err(
            e @ (ApiKeyError::InvalidName
            | ApiKeyError::UnknownScope(_)
            | ApiKeyError::NoScopes
            | ApiKeyError::ScopeNotAllowed(_)),
        ) => {
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

/// "Sign out everywhere": ends every session of the member, this one too, and sends the
/// browser to the login page.
pub async fn end_all_sessions(
    State(state): State<AppState>,
    SignedForm { visitor, .. }: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    account::end_all_sessions(state.store.as_ref(), state.clock.as_ref(), visitor.user.id)
        .await
        .map_err(ApiError::from)?;
    let mut response = see_other("/login");
    response.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        crate::auth::cookie::clear_session(state.config.cookies_secure()),
    );
    Ok(response)
}

//! Sign-up, log-in, log-out and `/me` for built-in accounts (sessions in cookies).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tollgate_core::account::{self, NewSession, User};
use tollgate_core::{Email, Secret};

use super::client_ip;
use crate::auth::cookie;
use crate::auth::sign_in;
use crate::auth::{AuthMethod, Authenticated};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::wire::{EndedBody, ListBody, SessionBody, UserBody};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    email: Email,
    password: Secret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    email: Email,
    password: Secret,
    /// A member's referral code (seed 002): recorded as who referred this member.
    referral_code: Option<String>,
}

#[derive(Serialize)]
struct OpenedSession<'a> {
    user: UserBody<'a>,
    /// Echo it in `x-csrf-token` on every state-changing request made with the cookie.
    csrf_token: &'a str,
}

/// The response that opens a session: the cookie, and the user with the CSRF token.
pub(crate) fn session_response(
    state: &AppState,
    status: StatusCode,
    user: &User,
    session: &NewSession,
) -> Response {
    let cookie = cookie::set_session(
        session.token.expose(),
        session.expires_at,
        state.clock.now(),
        state.config.cookies_secure(),
    );
    let body = OpenedSession {
        user: UserBody::of(user),
        csrf_token: session.csrf_token.expose(),
    };
    (status, [(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignupBody>,
) -> Result<Response, ApiError> {
    let ip = client_ip(&state, &headers, peer);
    let user = sign_in::sign_up(
        &state,
        ip,
        Some(body.email),
        body.password,
        body.referral_code.as_deref(),
    )
    .await?;
    tracing::info!(user.id = %user.id, "user signed up");
    let session = account::start_session(
        state.store.as_ref(),
        state.clock.as_ref(),
        &state.policy,
        &user,
    )
    .await?;
    Ok(session_response(
        &state,
        StatusCode::CREATED,
        &user,
        &session,
    ))
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let ip = client_ip(&state, &headers, peer);
    let user = sign_in::log_in(&state, ip, Some(&body.email), &body.password).await?;
    let session = account::start_session(
        state.store.as_ref(),
        state.clock.as_ref(),
        &state.policy,
        &user,
    )
    .await?;
    Ok(session_response(&state, StatusCode::OK, &user, &session))
}

pub async fn logout(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    if let AuthMethod::Session { token, .. } = &caller.method {
        account::end_session(state.store.as_ref(), token.expose()).await?;
    }
    let cookie = cookie::clear_session(state.config.cookies_secure());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// `POST /api/v1/auth/logout-everywhere`: ends every session of the caller (this one too, for
/// a cookie caller, whose cookie is cleared); an API key or JWT caller ends the user's
/// sessions without one of its own.
pub async fn logout_everywhere(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let ended =
        account::end_all_sessions(state.store.as_ref(), state.clock.as_ref(), caller.user.id)
            .await?;
    let cookie = cookie::clear_session(state.config.cookies_secure());
    Ok(([(header::SET_COOKIE, cookie)], Json(EndedBody { ended })).into_response())
}

/// `GET /api/v1/sessions`: the caller's live sessions, newest first.
pub async fn sessions(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let sessions =
        account::sessions_of(state.store.as_ref(), state.clock.as_ref(), caller.user.id).await?;
    let current = match &caller.method {
        AuthMethod::Session { token, .. } => Some(tollgate_core::token::hash(token.expose())),
        _ => None,
    };
    Ok(Json(ListBody::of(&sessions, |s| {
        SessionBody::of(s, current.as_deref())
    }))
    .into_response())
}

#[derive(Serialize)]
struct Me<'a> {
    user: UserBody<'a>,
    auth_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<&'a str>,
}

pub async fn me(caller: Authenticated) -> Response {
    let csrf_token = match &caller.method {
        AuthMethod::Session { csrf_token, .. } => Some(csrf_token.expose().as_str()),
        _ => None,
    };
    Json(Me {
        user: UserBody::of(&caller.user),
        auth_method: caller.method.name(),
        csrf_token,
    })
    .into_response()
}

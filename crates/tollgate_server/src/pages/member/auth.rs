//! Signing up, logging in and out with forms: the same policy as the JSON API
//! (`auth::sign_in`), rendered as pages.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_core::account::{self, AccountError};
use tollgate_core::{Email, Secret};

use crate::auth::cookie;
use crate::auth::sign_in::{self, Refusal};
use crate::error::ApiError;
use crate::pages::session::{MaybeVisitor, NoFields, OpenForm, SignedForm, form_token};
use crate::pages::{Layout, PageError, html, see_other};
use crate::state::AppState;

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
    let (token, cookie) = form_token(state, headers);
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

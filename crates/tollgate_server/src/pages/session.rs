//! Who is looking at a page, and forms that prove they came from our pages: a signed-in
//! visitor's forms carry the session's CSRF token in a hidden `csrf_token` field; the
//! sign-in and sign-up forms, before any session exists, carry a token minted by this
//! service that must match the `tg_form` cookie (double submit, `form_token.rs`). Pages use
//! only the session cookie, never bearer tokens.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use tollgate_core::account::{self, Role, User};
use tollgate_core::{Secret, token};

use super::{PageError, form_token};
use crate::auth::cookie::{self, SESSION_COOKIE};
use crate::auth::origin;
use crate::error::ApiError;
use crate::state::AppState;

/// A signed-in visitor (session cookie).
#[derive(Clone, Debug)]
pub struct Visitor {
    pub user: User,
    pub session_token: Secret,
    pub csrf_token: Secret,
}

/// A signed-in admin; members get 403, anonymous visitors the login page.
#[derive(Clone, Debug)]
pub struct AdminVisitor(pub Visitor);

/// The visitor, if signed in (for pages that anyone may see).
pub struct MaybeVisitor(pub Option<Visitor>);

async fn visitor(parts: &Parts, state: &AppState) -> Result<Option<Visitor>, PageError> {
    if let Some(cached) = parts.extensions.get::<Visitor>() {
        return Ok(Some(cached.clone()));
    }
    let Some(token) = cookie::read(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let found = account::session_user(state.store.as_ref(), state.clock.as_ref(), &token)
        .await
        .map_err(ApiError::from)?;
    Ok(found.map(|(session, user)| Visitor {
        user,
        session_token: Secret::new(token),
        csrf_token: session.csrf_token,
    }))
}

fn login_redirect(parts: &Parts) -> PageError {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    PageError::SignIn { next }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let found = visitor(parts, state)
            .await?
            .ok_or_else(|| login_redirect(parts))?;
        parts.extensions.insert(found.clone());
        Ok(found)
    }
}

impl FromRequestParts<AppState> for AdminVisitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let found = Visitor::from_request_parts(parts, state).await?;
        if found.user.role != Role::Admin {
            return Err(PageError::Api(ApiError::Forbidden));
        }
        Ok(AdminVisitor(found))
    }
}

impl FromRequestParts<AppState> for MaybeVisitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        Ok(MaybeVisitor(visitor(parts, state).await?))
    }
}

/// The fields of a urlencoded form body; 413 past the body limit.
async fn fields(request: Request, state: &AppState) -> Result<HashMap<String, String>, PageError> {
    let bytes = Bytes::from_request(request, state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PageError::Api(ApiError::PayloadTooLarge)
        } else {
            PageError::Api(ApiError::invalid_field("form", "could not read the form"))
        }
    })?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// The form's own fields as `T` (every field a string or an optional string).
fn decode<T: DeserializeOwned>(mut fields: HashMap<String, String>) -> Result<T, PageError> {
    fields.remove("csrf_token");
    let value = serde_json::Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
    );
    serde_json::from_value(value).map_err(|e| {
        PageError::Api(ApiError::invalid_field(
            "form",
            format!("the form is incomplete: {e}"),
        ))
    })
}

fn csrf_matches(fields: &HashMap<String, String>, expected: &str) -> bool {
    fields
        .get("csrf_token")
        .is_some_and(|presented| token::constant_time_eq(presented, expected))
}

/// The body of a form whose only field is its CSRF token (logout, cancel, replay, …).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// A form posted by a signed-in visitor, with the session's CSRF token checked.
pub struct SignedForm<T> {
    pub visitor: Visitor,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for SignedForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        origin::check(&parts.headers, &state.config.server.base_url)?;
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let fields = fields(Request::from_parts(parts, body), state).await?;
        if !csrf_matches(&fields, visitor.csrf_token.expose()) {
            return Err(PageError::Api(ApiError::CsrfRejected));
        }
        Ok(SignedForm {
            visitor,
            form: decode(fields)?,
        })
    }
}

/// A form posted by an admin, with the session's CSRF token checked.
pub struct AdminForm<T> {
    pub admin: Visitor,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for AdminForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        origin::check(&parts.headers, &state.config.server.base_url)?;
        let AdminVisitor(admin) = AdminVisitor::from_request_parts(&mut parts, state).await?;
        let fields = fields(Request::from_parts(parts, body), state).await?;
        if !csrf_matches(&fields, admin.csrf_token.expose()) {
            return Err(PageError::Api(ApiError::CsrfRejected));
        }
        Ok(AdminForm {
            admin,
            form: decode(fields)?,
        })
    }
}

/// A form posted before any session exists, with the double-submit token checked.
pub struct OpenForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for OpenForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        origin::check(request.headers(), &state.config.server.base_url)?;
        let name = form_token::cookie_name(state.config.cookies_secure());
        let expected = cookie::read(request.headers(), name);
        let now = state.clock.now().unix_timestamp();
        let fields = fields(request, state).await?;
        match expected {
            Some(expected)
                if state.form_key.verifies(&expected, now) && csrf_matches(&fields, &expected) =>
            {
                Ok(OpenForm(decode(fields)?))
            }
            _ => Err(PageError::Api(ApiError::CsrfRejected)),
        }
    }
}

/// The double-submit token for an anonymous form: the visitor's current one while it
/// verifies, or a new one with the cookie that carries it.
pub fn form_token(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> (String, Option<HeaderValue>) {
    let secure = state.config.cookies_secure();
    let name = form_token::cookie_name(secure);
    let now = state.clock.now().unix_timestamp();
    if let Some(existing) = cookie::read(headers, name).filter(|t| state.form_key.verifies(t, now))
    {
        return (existing, None);
    }
    let fresh = state.form_key.mint(now);
    let secure = if secure { "; Secure" } else { "" };
    let cookie = HeaderValue::from_str(&format!(
        "{name}={fresh}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        form_token::LIFETIME_SECS
    ))
    .ok();
    (fresh, cookie)
}

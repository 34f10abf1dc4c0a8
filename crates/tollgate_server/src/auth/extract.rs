//! Who is calling: the `Authenticated` and `Admin` extractors. A bearer token is an API key
//! when it has our prefix and a JWT otherwise; without one, the session cookie is used, and
//! state-changing requests on a cookie session must carry the session's CSRF token.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{Method, header};
use tollgate_core::account::{self, Role, User};
use tollgate_core::api_key;
use tollgate_core::tenant::TenantScope;
use tollgate_core::{ApiKeyId, Secret, token};

use crate::auth::cookie::{self, SESSION_COOKIE};
use crate::auth::scope::{self, Needs};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone)]
pub enum AuthMethod {
    Session { token: Secret, csrf_token: Secret },
    Jwt,
    ApiKey(ApiKeyId),
}

impl AuthMethod {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::Session { .. } => "session",
            AuthMethod::Jwt => "jwt",
            AuthMethod::ApiKey(_) => "api_key",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub method: AuthMethod,
}

/// An authenticated admin; anyone else gets 403 (or 401 when anonymous).
#[derive(Debug, Clone)]
pub struct Admin(pub Authenticated);

/// An authenticated tenant admin with the scope of their own tenant; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct TenantAdmin {
    pub caller: Authenticated,
    pub scope: TenantScope,
}

impl FromRequestParts<AppState> for TenantAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Authenticated::from_request_parts(parts, state).await?;
        let scope = TenantScope::of_tenant_admin(&caller.user).ok_or(ApiError::Forbidden)?;
        Ok(TenantAdmin { caller, scope })
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(cached) = parts.extensions.get::<Authenticated>() {
            return Ok(cached.clone());
        }
        let authenticated = authenticate(parts, state).await?;
        parts.extensions.insert(authenticated.clone());
        Ok(authenticated)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Authenticated::from_request_parts(parts, state).await?;
        if caller.user.role != Role::Admin {
            return Err(ApiError::Forbidden);
        }
        Ok(Admin(caller))
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Authenticated, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::InvalidToken)?;
        return if api_key::looks_like_key(bearer) {
            let (key, user) =
                api_key::authenticate(state.store.as_ref(), state.clock.as_ref(), bearer)
                    .await?
                    .ok_or(ApiError::InvalidToken)?;
            // The route as declared (`/api/v1/users/{id}/…`), so the table never sees an id.
            let route = parts
                .extensions
                .get::<MatchedPath>()
                .map_or(parts.uri.path(), MatchedPath::as_str);
            match scope::needed(&parts.method, route) {
                Needs::Scope(scope) if key.has(scope) => {}
                Needs::Scope(scope) => {
                    return Err(ApiError::coded(
                        ErrorCode::ScopeMissing,
                        format!(
                            "this API key lacks the {} scope this route needs",
                            scope.as_str()
                        ),
                    ));
                }
                Needs::SignedIn => {
                    return Err(ApiError::coded(
                        ErrorCode::Forbidden,
                        "an API key cannot manage keys or sessions: sign in to do this",
                    ));
                }
            }
            Ok(Authenticated {
                user,
                method: AuthMethod::ApiKey(key.id),
            })
        } else {
            let verifier = state.jwt.as_ref().ok_or(ApiError::InvalidToken)?;
            let identity = verifier.verify(bearer).map_err(|e| {
                tracing::debug!(reason = %e, "bearer JWT rejected");
                ApiError::InvalidToken
            })?;
            let user = account::provision_external(
                state.store.as_ref(),
                state.clock.as_ref(),
                &identity.external_id,
                identity.email,
                state.credits.signup_credits,
            )
            .await?;
            Ok(Authenticated {
                user,
                method: AuthMethod::Jwt,
            })
        };
    }
    let session_token =
        cookie::read(&parts.headers, SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
    let (session, user) =
        account::session_user(state.store.as_ref(), state.clock.as_ref(), &session_token)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
    if !is_safe(&parts.method) {
        super::origin::check(&parts.headers, &state.config.server.base_url)?;
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::CsrfRejected)?;
        if !token::constant_time_eq(presented, session.csrf_token.expose()) {
            return Err(ApiError::CsrfRejected);
        }
    }
    Ok(Authenticated {
        user,
        method: AuthMethod::Session {
            token: Secret::new(session_token),
            csrf_token: session.csrf_token,
        },
    })
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

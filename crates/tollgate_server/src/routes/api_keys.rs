//! A user's own API keys: create (the key is shown once), list, revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tollgate_core::ApiKeyId;
use tollgate_core::api_key::{self, ApiKeyError};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire::{ApiKeyBody, ListBody};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    /// Scope names; `entitlements:read`, `usage:write` and `billing` when absent.
    scopes: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    key: ApiKeyBody<'a>,
    /// The full key: shown this once, never again.
    key_secret: &'a str,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<Response, ApiError> {
    // An API key never gets here: `auth::scope` keeps keys off the key routes (a key that
    // could mint keys would outlive its own revocation).
    let (key, secret) = api_key::create(
        state.store.as_ref(),
        state.clock.as_ref(),
        &caller.user,
        &body.name,
        body.scopes.as_deref(),
        state.key_mode(),
    )
    .await
    .map_err(|e| match e {
        ApiKeyError::InvalidName => ApiError::invalid_field("name", e.to_string()),
        ApiKeyError::UnknownScope(_) | ApiKeyError::NoScopes | ApiKeyError::ScopeNotAllowed(_) => {
            ApiError::invalid_field("scopes", e.to_string())
        }
        ApiKeyError::Store(e) => e.into(),
    })?;
    let body = Created {
        key: ApiKeyBody::of(&key),
        key_secret: secret.expose(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    let keys = state.store.api_keys(caller.user.id).await?;
    Ok(Json(ListBody::of(&keys, ApiKeyBody::of)).into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = ApiKeyId::parse(&id).map_err(|_| ApiError::NotFound)?;
    if api_key::revoke(
        state.store.as_ref(),
        state.clock.as_ref(),
        caller.user.id,
        id,
    )
    .await?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

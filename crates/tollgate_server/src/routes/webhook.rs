//! The Stripe webhook endpoint and its seed aliases. Raw bytes are verified before any
//! parsing; a verified event is durable before the 2xx (invariant 4): an inbox row, or on a
//! served SQLite file a synced inbox journal entry that becomes a row before anything reads
//! the inbox; written with the deliveries that arrive with it (`inbox_writer`); a duplicate
//! is acknowledged and not stored again; a store failure answers 503 so Stripe retries.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_core::token;
use tollgate_stripe::webhook::{WebhookVerifier, parse_envelope};

use crate::error::{ApiError, ErrorCode};
use crate::path::ApiPath;
use crate::state::AppState;

/// The two answers, as constants: this is the hottest path.
const STORED: &str = r#"{"received":true,"duplicate":false}"#;
const DUPLICATE: &str = r#"{"received":true,"duplicate":true}"#;

/// The `Stripe-Signature` header alone: the `HeaderMap` extractor would copy every header of
/// every delivery.
pub struct Signature(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for Signature {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.headers.get("stripe-signature").cloned()))
    }
}

pub async fn receive(
    State(state): State<AppState>,
    signature: Signature,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    accept(&state, &state.webhooks, signature, body).await
}

/// The Connect endpoint: the same inbox, verified with the Connect endpoint's secrets (Stripe
/// signs each endpoint's deliveries with its own). The worker routes by `event.account`.
pub async fn receive_connect(
    State(state): State<AppState>,
    signature: Signature,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    accept(&state, &state.connect_webhooks, signature, body).await
}

async fn accept(
    state: &AppState,
    verifier: &WebhookVerifier,
    signature: Signature,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::MalformedJson("could not read the body".into())
        }
    })?;
    let signature = signature.0.as_ref().and_then(|v| v.to_str().ok());
    verifier
        .verify(&body, signature, state.clock.now().unix_timestamp())
        .map_err(|e| ApiError::coded(ErrorCode::from(e), e.to_string()))?;
    let payload = std::str::from_utf8(&body)
        .map_err(|_| ApiError::coded(ErrorCode::EventMalformed, "the event is not UTF-8 JSON"))?;
    // PostgreSQL cannot store U+0000 in text: a signed event carrying one is refused once,
    // with a 400, instead of a 503 Stripe would retry for days (issue 24, finding 7).
    if crate::json::has_nul(&body) {
        return Err(ApiError::coded(
            ErrorCode::EventMalformed,
            "the event contains the NUL character (U+0000)",
        ));
    }
    let envelope =
        parse_envelope(payload).map_err(|e| ApiError::coded(ErrorCode::from(&e), e.to_string()))?;
    let event = envelope.into_new_event(payload.to_string(), state.clock.now());
    let stored = state.inbox.record(event).await?;
    if stored {
        // An ignored event wakes the worker too: on a journaled SQLite inbox its claim is
        // what folds the event into the table that the events list reads.
        state.inbox_wake.notify_one();
    }
    let answer = if stored { STORED } else { DUPLICATE };
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        answer,
    )
        .into_response())
}

/// Seed 004's `/webhook/stripe/{token}`: the path token is a second factor, compared in
/// constant time; without a configured token the path does not exist.
pub async fn receive_with_token(
    State(state): State<AppState>,
    ApiPath(presented): ApiPath<String>,
    signature: Signature,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let expected = state
        .config
        .stripe
        .webhook_path_token
        .as_ref()
        .ok_or(ApiError::NotFound)?;
    if !token::constant_time_eq(&presented, expected.expose()) {
        return Err(ApiError::NotFound);
    }
    receive(State(state), signature, body).await
}

//! The one error type of the HTTP layer: a stable `code` (which fixes the status), a message
//! safe to show, and (for 5xx) a detail that is logged once by the request middleware and
//! never sent.

mod code;
mod from_core;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_core::account::AccountError;

pub use code::ErrorCode;

#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    InvalidToken,
    InvalidCredentials,
    Forbidden,
    CsrfRejected,
    /// A cookie-authenticated write from another site (its `Origin` is not ours).
    OriginRejected,
    NotFound,
    MethodNotAllowed,
    RateLimited {
        retry_after_secs: u64,
    },
    PayloadTooLarge,
    UnsupportedMediaType,
    MalformedJson(String),
    InvalidField {
        field: String,
        message: String,
    },
    /// Any other refusal: its code fixes the status.
    Coded {
        code: ErrorCode,
        message: String,
    },
    Unavailable(String),
    Internal(String),
}

/// The detail behind a 5xx, for the log line of the request; never serialized.
#[derive(Clone, Debug)]
pub struct ErrorDetail(pub String);

#[derive(Serialize)]
struct Body<'a> {
    error: BodyError<'a>,
}

#[derive(Serialize)]
struct BodyError<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn coded(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Coded {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthenticated => ErrorCode::Unauthenticated,
            ApiError::InvalidToken => ErrorCode::InvalidToken,
            ApiError::InvalidCredentials => ErrorCode::InvalidCredentials,
            ApiError::Forbidden => ErrorCode::Forbidden,
            ApiError::CsrfRejected => ErrorCode::CsrfTokenInvalid,
            ApiError::OriginRejected => ErrorCode::OriginRejected,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::MalformedJson(_) => ErrorCode::MalformedJson,
            ApiError::InvalidField { .. } => ErrorCode::InvalidField,
            ApiError::Coded { code, .. } => *code,
            ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The message a page shows, and for 5xx the detail to log (never shown).
    pub fn page_message(self) -> (String, Option<String>) {
        let message = self.message();
        match self {
            ApiError::CsrfRejected => (
                "This form has expired. Go back, reload the page and try again.".into(),
                None,
            ),
            ApiError::Unavailable(detail) | ApiError::Internal(detail) => (message, Some(detail)),
            _ => (message, None),
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => "authentication required".into(),
            ApiError::InvalidToken => "the bearer token is invalid or expired".into(),
            ApiError::InvalidCredentials => AccountError::InvalidCredentials.to_string(),
            ApiError::Forbidden => "you are not allowed to do this".into(),
            ApiError::CsrfRejected => {
                "missing or wrong CSRF token: send the session's token in the x-csrf-token header"
                    .into()
            }
            ApiError::OriginRejected => {
                "this request came from another site; send it from this service's own pages".into()
            }
            ApiError::NotFound => "not found".into(),
            ApiError::MethodNotAllowed => "method not allowed".into(),
            ApiError::RateLimited { retry_after_secs } => {
                format!("too many attempts; retry in {retry_after_secs} s")
            }
            ApiError::PayloadTooLarge => "request body too large".into(),
            ApiError::UnsupportedMediaType => "expected Content-Type: application/json".into(),
            ApiError::MalformedJson(detail) => format!("malformed JSON: {detail}"),
            ApiError::InvalidField { message, .. } | ApiError::Coded { message, .. } => {
                message.clone()
            }
            ApiError::Unavailable(_) => "temporarily unavailable; retry later".into(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.message();
        let field = match &self {
            ApiError::InvalidField { field, .. } => Some(field.as_str()),
            _ => None,
        };
        let code = self.code();
        let body = Body {
            error: BodyError {
                code: code.as_str(),
                message: &message,
                field,
            },
        };
        let mut response = (code.status(), Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let ApiError::Unavailable(detail) | ApiError::Internal(detail) = self {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}

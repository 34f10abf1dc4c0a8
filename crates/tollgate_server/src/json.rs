//! The JSON body extractor: 415 for a wrong content type, 413 past the body limit, 400 for
//! malformed JSON, and 400 naming the field when a value does not parse into its domain type.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson("could not read the body".into())
                }
            })?;
        parse(&bytes).map(ApiJson)
    }
}

/// An optional JSON body: an empty body is `None`; anything else must be valid JSON.
pub struct MaybeJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for MaybeJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let has_type = request.headers().contains_key(header::CONTENT_TYPE);
        if declared_length == Some(0) || (declared_length.is_none() && !has_type) {
            return Ok(MaybeJson(None));
        }
        ApiJson::from_request(request, state)
            .await
            .map(|ApiJson(value)| MaybeJson(Some(value)))
    }
}

/// Whether JSON text carries U+0000 in a string (`\u0000`, the only way it can: a raw NUL is
/// not valid JSON). PostgreSQL cannot store it in text, so it is refused at the edge with a
/// 400 rather than becoming a 503 that tells the client to retry the impossible (issue 24,
/// finding 7). An escaped backslash before `u0000` (`\\u0000`) is text, not a NUL.
pub fn has_nul(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, byte) in bytes.iter().enumerate() {
        if *byte == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && bytes[i..].starts_with(b"u0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// Parses JSON, telling a syntax error apart from a field that does not fit.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul(bytes) {
        return Err(ApiError::invalid_field(
            "body",
            "text must not contain the NUL character (U+0000)",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            ApiError::MalformedJson(inner.to_string())
        } else if path == "." {
            // A missing field is reported at the root; serde names it in the message.
            let field = missing_field(&inner.to_string()).unwrap_or_else(|| "body".to_string());
            ApiError::invalid_field(&field, inner.to_string())
        } else {
            ApiError::invalid_field(&path, format!("{path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use tollgate_core::Email;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Signup {
        email: Email,
        password: String,
    }

    #[test]
    fn a_nul_in_any_string_is_refused_and_an_escaped_backslash_is_not_one() {
        assert!(has_nul(br#"{"password":"a\u0000b"}"#));
        assert!(
            has_nul(br#"{"x":"\\\u0000"}"#),
            "an escaped backslash, then a NUL"
        );
        assert!(
            !has_nul(br#"{"x":"\\u0000"}"#),
            "a backslash and the text u0000"
        );
        assert!(!has_nul(br#"{"x":"u0000"}"#));
        assert!(matches!(
            parse::<Signup>(br#"{"email":"a@b.co","password":"x\u0000"}"#),
            Err(ApiError::InvalidField { .. })
        ));
    }

    #[test]
    fn a_syntax_error_is_malformed_json() {
        assert!(matches!(
            parse::<Signup>(b"{\"email\":"),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn a_bad_value_names_its_field() {
        match parse::<Signup>(br#"{"email":"nope","password":"x"}"#) {
            Err(ApiError::InvalidField { field, .. }) => assert_eq!(field, "email"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_value_names_its_field() {
        match parse::<Signup>(br#"{"email":"a@b.co"}"#) {
            Err(ApiError::InvalidField { field, .. }) => assert_eq!(field, "password"),
            other => panic!("{other:?}"),
        }
    }
}

//! Stripe's error object (`{"error": {type, code, param, message}}`) and the status code that goes with each type.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// One API error, rendered exactly as Stripe renders it. Boxed: errors are rare and results stay small.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}", .0.kind, .0.message)]
pub struct ApiError(Box<ErrorDetail>);

/// The fields of Stripe's error object.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDetail {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    pub code: Option<String>,
    pub param: Option<String>,
    pub decline_code: Option<String>,
    /// The payment intent a card error belongs to, as Stripe attaches it.
    pub payment_intent: Option<Value>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorDetail;
    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorDetail {
        &mut self.0
    }
}

impl ApiError {
    fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError(Box::new(ErrorDetail {
            status,
            kind,
            message: message.into(),
            code: None,
            param: None,
            decline_code: None,
            payment_intent: None,
        }))
    }

    pub fn missing(param: &str) -> Self {
        let mut e = Self::new(
            400,
            "invalid_request_error",
            format!("Missing required param: {param}."),
        );
        e.code = Some("parameter_missing".into());
        e.param = Some(param.into());
        e
    }

    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(400, "invalid_request_error", message);
        e.code = Some("parameter_invalid".into());
        e.param = Some(param.into());
        e
    }

    /// A parameter the endpoint does not take (`param` names it, nested ones in bracket notation).
    pub fn unknown_param(param: &str) -> Self {
        Self::param_error(
            "parameter_unknown",
            param,
            format!("Received unknown parameter: {param}"),
        )
    }

    pub fn invalid_integer(param: &str, value: &str) -> Self {
        Self::param_error(
            "parameter_invalid_integer",
            param,
            format!("Invalid integer: {value}"),
        )
    }

    /// `param=` for a parameter that cannot be unset.
    pub fn invalid_empty(param: &str) -> Self {
        Self::param_error(
            "parameter_invalid_empty",
            param,
            format!(
                "You passed an empty string for '{param}'. We assume empty values are an attempt to unset a parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or supply a non-empty value."
            ),
        )
    }

    /// A 400 `invalid_request_error` with a `code` and the `param` it names.
    fn param_error(code: &str, param: &str, message: String) -> Self {
        let mut e = Self::new(400, "invalid_request_error", message);
        e.code = Some(code.into());
        e.param = Some(param.into());
        e
    }

    /// A string outside the values Stripe lists for it (Stripe sets no `code` here).
    pub fn invalid_enum(param: &str, values: &[String]) -> Self {
        let listed = match values {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{}, or {last}", init.join(", ")),
        };
        let mut e = Self::new(
            400,
            "invalid_request_error",
            format!("Invalid {param}: must be one of {listed}"),
        );
        e.param = Some(param.into());
        e
    }

    /// A request that is well-formed but not allowed in the object's current state.
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", message)
    }

    pub fn not_found(param: &str, id: &str) -> Self {
        let mut e = Self::new(
            404,
            "invalid_request_error",
            format!("No such {}: '{id}'", param.replace('_', " ")),
        );
        e.code = Some("resource_missing".into());
        e.param = Some(param.into());
        e
    }

    /// An object named in the request body that does not exist: a 400 naming the parameter, as Stripe answers
    /// (a 404 is for the object in the URL).
    pub fn invalid_reference(param: &str, id: &str) -> Self {
        let mut e = Self::not_found(param, id);
        e.status = 400;
        e
    }

    pub fn unknown_route(method: &str, path: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            format!("Unrecognized request URL ({method}: {path})."),
        )
    }

    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(401, "authentication_error", message)
    }

    pub fn idempotency() -> Self {
        Self::new(
            400,
            "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than the one used for the original request.",
        )
    }

    pub fn card(code: &str, decline_code: Option<&str>, message: &str) -> Self {
        let mut e = Self::new(402, "card_error", message);
        e.code = Some(code.into());
        e.decline_code = decline_code.map(str::to_owned);
        e
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    pub fn body(&self) -> Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = &self.code {
            error["code"] = json!(code);
            error["doc_url"] = json!(format!(
                "https://stripe.com/docs/error-codes/{}",
                code.replace('_', "-")
            ));
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        if let Some(decline) = &self.decline_code {
            error["decline_code"] = json!(decline);
        }
        if let Some(pi) = &self.payment_intent {
            error["payment_intent"] = pi.clone();
        }
        json!({ "error": error })
    }
}

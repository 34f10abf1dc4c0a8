//! Stripe's failures in tollgate's terms: maps async-stripe errors to `StripeError`, never carrying a key or Stripe's raw response to a client (invariant 8).
//!
//! Stripe's error types and statuses: <https://docs.stripe.com/api/errors>.

use stripe::StripeError as ClientError;
use stripe_shared::ApiErrorsType;
use tollgate_core::stripe::StripeError;

use crate::backoff;

/// An error status whose body is not Stripe's JSON, such as a load balancer's 502 page; the
/// status itself is not kept, but such answers are transient.
use crate::transport::UNREADABLE_ERROR_BODY;

/// Whether the failed attempt may succeed if sent again with the same idempotency key.
pub fn is_retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Stripe(_, status) => backoff::retryable_status(*status),
        // Connection refused or reset, or no answer within the timeout.
        ClientError::ClientError(_) | ClientError::Timeout => true,
        ClientError::JSONDeserialize(detail) => detail == UNREADABLE_ERROR_BODY,
        ClientError::ConfigError(_) => false,
    }
}

/// A short name of the failure for logs (`error.kind`), free of anything the response said.
pub fn kind(error: &ClientError) -> String {
    match error {
        ClientError::Stripe(api, status) => format!("{} ({status})", api.type_.as_str()),
        ClientError::ClientError(_) => "network".to_owned(),
        ClientError::Timeout => "timeout".to_owned(),
        ClientError::JSONDeserialize(_) => "unreadable_response".to_owned(),
        ClientError::ConfigError(_) => "client_configuration".to_owned(),
    }
}

/// The error the port reports once retries are over (or were never worth it).
pub fn to_port_error(error: ClientError) -> StripeError {
    match error {
        ClientError::Stripe(api, status) => {
            let message = api.message.clone().unwrap_or_default();
            match (status, &api.type_) {
                // The message of an authentication error quotes part of the key: dropped.
                (401 | 403, _) => StripeError::Authentication,
                (404, _) => StripeError::NotFound,
                (429, _) => StripeError::RateLimited,
                (402, _) | (_, ApiErrorsType::CardError) => StripeError::Card {
                    code: api
                        .code
                        .as_ref()
                        .map_or("card_declined", |c| c.as_str())
                        .to_owned(),
                    decline_code: api.decline_code.clone(),
                    message,
                },
                (409, _) => StripeError::Unavailable(format!(
                    "Stripe reported a conflicting request ({})",
                    api.type_.as_str()
                )),
                (500..=599, _) => {
                    StripeError::Unavailable(format!("Stripe answered HTTP {status}"))
                }
                _ => StripeError::InvalidRequest {
                    param: api.param.clone(),
                    message,
                },
            }
        }
        // hyper's errors name the failure (connect, reset), never a header.
        ClientError::ClientError(detail) => {
            StripeError::Unavailable(format!("cannot reach Stripe: {detail}"))
        }
        ClientError::Timeout => {
            StripeError::Unavailable("Stripe did not answer in time".to_owned())
        }
        ClientError::JSONDeserialize(detail) if detail == UNREADABLE_ERROR_BODY => {
            StripeError::Unavailable("Stripe answered an error without a readable body".to_owned())
        }
        // A success we cannot read: a shape async-stripe's types do not know.
        ClientError::JSONDeserialize(_) => {
            StripeError::Unavailable("Stripe's answer could not be read".to_owned())
        }
        ClientError::ConfigError(detail) => StripeError::Misconfigured(detail),
    }
}

/// An answer we could read but that breaks what Stripe documents (a missing id, an empty subscription).
pub fn unexpected(what: &str) -> StripeError {
    StripeError::Unavailable(format!("unexpected answer from Stripe: {what}"))
}

#[cfg(test)]
mod tests {
    use stripe::{ApiErrors, ApiErrorsCode};

    use super::*;

    fn api_error(type_: ApiErrorsType) -> ApiErrors {
        ApiErrors {
            advice_code: None,
            charge: None,
            code: None,
            decline_code: None,
            doc_url: None,
            message: Some("Stripe says no".to_owned()),
            network_advice_code: None,
            network_decline_code: None,
            param: None,
            payment_intent: None,
            payment_method: None,
            payment_method_type: None,
            request_log_url: None,
            setup_intent: None,
            source: None,
            type_,
        }
    }

    fn stripe(api: ApiErrors, status: u16) -> ClientError {
        ClientError::Stripe(Box::new(api), status)
    }

    #[test]
    fn a_card_error_keeps_its_code_and_decline_code() {
        let mut api = api_error(ApiErrorsType::CardError);
        api.code = Some(ApiErrorsCode::CardDeclined);
        api.decline_code = Some("insufficient_funds".to_owned());
        assert_eq!(
            to_port_error(stripe(api, 402)),
            StripeError::Card {
                code: "card_declined".to_owned(),
                decline_code: Some("insufficient_funds".to_owned()),
                message: "Stripe says no".to_owned(),
            }
        );
    }

    #[test]
    fn an_invalid_request_keeps_its_param() {
        let mut api = api_error(ApiErrorsType::InvalidRequestError);
        api.param = Some("line_items[0][price]".to_owned());
        assert_eq!(
            to_port_error(stripe(api, 400)),
            StripeError::InvalidRequest {
                param: Some("line_items[0][price]".to_owned()),
                message: "Stripe says no".to_owned(),
            }
        );
    }

    #[test]
    fn statuses_map_to_not_found_authentication_rate_limited_and_unavailable() {
        let invalid = || api_error(ApiErrorsType::InvalidRequestError);
        assert_eq!(to_port_error(stripe(invalid(), 404)), StripeError::NotFound);
        let mut auth = api_error(ApiErrorsType::Unknown("authentication_error".to_owned()));
        auth.message = Some("Invalid API Key provided: sk_test_****abcd".to_owned());
        let mapped = to_port_error(stripe(auth, 401));
        assert_eq!(mapped, StripeError::Authentication);
        assert!(!mapped.to_string().contains("sk_test"));
        assert_eq!(
            to_port_error(stripe(invalid(), 429)),
            StripeError::RateLimited
        );
        assert!(matches!(
            to_port_error(stripe(api_error(ApiErrorsType::ApiError), 503)),
            StripeError::Unavailable(_)
        ));
        assert!(matches!(
            to_port_error(ClientError::Timeout),
            StripeError::Unavailable(_)
        ));
        assert!(matches!(
            to_port_error(ClientError::ClientError("connection refused".to_owned())),
            StripeError::Unavailable(_)
        ));
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let invalid = || api_error(ApiErrorsType::InvalidRequestError);
        assert!(is_retryable(&stripe(invalid(), 429)));
        assert!(is_retryable(&stripe(
            api_error(ApiErrorsType::ApiError),
            500
        )));
        assert!(is_retryable(&ClientError::Timeout));
        assert!(is_retryable(&ClientError::ClientError("reset".to_owned())));
        assert!(!is_retryable(&stripe(invalid(), 400)));
        assert!(!is_retryable(&stripe(invalid(), 404)));
        assert!(is_retryable(&ClientError::JSONDeserialize(
            UNREADABLE_ERROR_BODY.to_owned()
        )));
        assert!(!is_retryable(&ClientError::JSONDeserialize(
            "error deserializing request data".to_owned()
        )));
    }
}

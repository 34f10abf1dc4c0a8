//! The one error type of the HTTP layer: a status, a stable `code`, a message safe to show,
//! and (for 5xx) a detail that is logged once by the request middleware and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_core::StoreError;
use tollgate_core::account::AccountError;

#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    InvalidToken,
    InvalidCredentials,
    Forbidden,
    CsrfRejected,
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
    Conflict {
        code: &'static str,
        message: String,
    },
    /// Any other refusal with its own status and stable code.
    Refused {
        status: StatusCode,
        code: &'static str,
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

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::InvalidToken | ApiError::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden | ApiError::CsrfRejected => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MalformedJson(_) | ApiError::InvalidField { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Refused { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidToken => "invalid_token",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden => "forbidden",
            ApiError::CsrfRejected => "csrf_token_invalid",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::Conflict { code, .. } | ApiError::Refused { code, .. } => code,
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
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
            ApiError::NotFound => "not found".into(),
            ApiError::MethodNotAllowed => "method not allowed".into(),
            ApiError::RateLimited { retry_after_secs } => {
                format!("too many attempts; retry in {retry_after_secs} s")
            }
            ApiError::PayloadTooLarge => "request body too large".into(),
            ApiError::UnsupportedMediaType => "expected Content-Type: application/json".into(),
            ApiError::MalformedJson(detail) => format!("malformed JSON: {detail}"),
            ApiError::InvalidField { message, .. } => message.clone(),
            ApiError::Conflict { message, .. } | ApiError::Refused { message, .. } => {
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
        let body = Body {
            error: BodyError {
                code: self.code(),
                message: &message,
                field,
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
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

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            StoreError::Conflict(detail) => {
                ApiError::Internal(format!("unexpected conflict: {detail}"))
            }
            StoreError::Corrupt(detail) => ApiError::Internal(detail),
        }
    }
}

impl ApiError {
    pub fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Refused {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<tollgate_core::stripe::StripeError> for ApiError {
    /// Stripe's own words never reach clients; the detail is logged.
    fn from(error: tollgate_core::stripe::StripeError) -> Self {
        use tollgate_core::stripe::StripeError;
        match error {
            StripeError::Card { code, .. } => ApiError::refused(
                StatusCode::PAYMENT_REQUIRED,
                "card_declined",
                format!("the card was declined ({code})"),
            ),
            StripeError::NotFound => {
                ApiError::refused(StatusCode::NOT_FOUND, "not_found", "not found in Stripe")
            }
            StripeError::RateLimited => ApiError::Refused {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "stripe_rate_limited",
                message: "Stripe is busy; retry shortly".into(),
            },
            StripeError::Authentication => {
                ApiError::Unavailable("Stripe refused our API key".into())
            }
            StripeError::InvalidRequest { param, message } => ApiError::Internal(format!(
                "Stripe refused our request (param {param:?}): {message}"
            )),
            StripeError::Unavailable(detail) => {
                ApiError::Unavailable(format!("Stripe unavailable: {detail}"))
            }
        }
    }
}

impl From<tollgate_core::billing::BillingError> for ApiError {
    fn from(error: tollgate_core::billing::BillingError) -> Self {
        use tollgate_core::billing::BillingError;
        let message = error.to_string();
        match error {
            BillingError::UnknownPlan(_) => ApiError::invalid_field("plan", message),
            BillingError::PlanUnavailable(_) => {
                ApiError::refused(StatusCode::SERVICE_UNAVAILABLE, "plan_unavailable", message)
            }
            BillingError::AlreadySubscribed => ApiError::Conflict {
                code: "already_subscribed",
                message,
            },
            BillingError::NoSubscription => {
                ApiError::refused(StatusCode::NOT_FOUND, "no_subscription", message)
            }
            BillingError::NoCustomer => {
                ApiError::refused(StatusCode::NOT_FOUND, "no_billing_account", message)
            }
            BillingError::UnknownCheckoutSession | BillingError::UnknownPayment => {
                ApiError::NotFound
            }
            BillingError::UnknownPackage(_) => ApiError::invalid_field("package", message),
            BillingError::CurrencyNotAllowed(_) => ApiError::invalid_field("currency", message),
            BillingError::AmountOutOfRange { .. } => ApiError::invalid_field("amount", message),
            BillingError::NotRefundable => ApiError::Conflict {
                code: "not_refundable",
                message,
            },
            BillingError::RefundExceedsRemaining { .. } => {
                ApiError::refused(StatusCode::BAD_REQUEST, "refund_exceeds_remaining", message)
            }
            BillingError::InvalidFeature => ApiError::invalid_field("feature", message),
            BillingError::InvalidQuantity => ApiError::invalid_field("quantity", message),
            BillingError::InvalidIdempotencyKey => {
                ApiError::invalid_field("idempotency_key", message)
            }
            BillingError::InvalidCouponCode => ApiError::invalid_field("code", message),
            BillingError::InvalidCoupon => ApiError::invalid_field("credits", message),
            BillingError::CouponExists => ApiError::Conflict {
                code: "coupon_exists",
                message,
            },
            BillingError::UnknownReferralCode => ApiError::invalid_field("referral_code", message),
            BillingError::Stripe(e) => e.into(),
            BillingError::Store(e) => e.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::WeakPassword(e) => {
                ApiError::invalid_field("password", format!("password {e}"))
            }
            AccountError::InvalidCredentials => ApiError::InvalidCredentials,
            AccountError::EmailUnavailable => ApiError::Conflict {
                code: "email_unavailable",
                message: AccountError::EmailUnavailable.to_string(),
            },
            AccountError::Store(e) => e.into(),
        }
    }
}

impl From<tollgate_core::mentor::MentorError> for ApiError {
    fn from(error: tollgate_core::mentor::MentorError) -> Self {
        use tollgate_core::mentor::MentorError;
        let message = error.to_string();
        match error {
            MentorError::InvalidName => ApiError::invalid_field("name", message),
            MentorError::DuplicateName => ApiError::Conflict {
                code: "mentor_exists",
                message,
            },
            MentorError::UnknownMember | MentorError::UnknownMentor => ApiError::NotFound,
            MentorError::PaymentNotVerified => ApiError::Conflict {
                code: "payment_not_verified",
                message,
            },
            MentorError::Store(e) => e.into(),
        }
    }
}

impl From<tollgate_core::tenant::TenantError> for ApiError {
    fn from(error: tollgate_core::tenant::TenantError) -> Self {
        use tollgate_core::fee::FeePolicyError;
        use tollgate_core::tenant::TenantError;
        let message = error.to_string();
        match error {
            TenantError::InvalidName => ApiError::invalid_field("name", message),
            TenantError::InvalidEmail => ApiError::invalid_field("email", message),
            TenantError::InvalidCountry => ApiError::invalid_field("country", message),
            TenantError::Fee(FeePolicyError::Bps) => {
                ApiError::invalid_field("application_fee_bps", message)
            }
            TenantError::Fee(FeePolicyError::Fixed) => {
                ApiError::invalid_field("application_fee_fixed", message)
            }
            TenantError::PasswordRequired => ApiError::invalid_field("password", message),
            TenantError::UnknownInvoice => ApiError::NotFound,
            TenantError::Invoice(e) => {
                use tollgate_core::tenant_billing::InvoiceRequestError as E;
                let field = match e {
                    E::UnknownCustomer => "customer_id",
                    E::Currency => "currency",
                    E::LineCount | E::Description | E::UnitAmount | E::Quantity | E::Total => {
                        "lines"
                    }
                    E::DaysUntilDue => "days_until_due",
                    E::Email => "email",
                    E::RefundAmount => "amount",
                    E::ExceedsRemaining { .. } => {
                        return ApiError::refused(
                            StatusCode::BAD_REQUEST,
                            "refund_exceeds_remaining",
                            message,
                        );
                    }
                    E::WrongStatus(..) => {
                        return ApiError::Conflict {
                            code: "invoice_wrong_status",
                            message,
                        };
                    }
                };
                ApiError::invalid_field(field, message)
            }
            TenantError::UnknownTenant => ApiError::NotFound,
            TenantError::NoAccount => ApiError::Conflict {
                code: "connect_account_missing",
                message,
            },
            TenantError::Deauthorized => ApiError::Conflict {
                code: "tenant_deauthorized",
                message,
            },
            TenantError::AccountNotReady { missing } => ApiError::Conflict {
                code: "connect_account_not_ready",
                message: if missing.is_empty() {
                    format!("{message}: Stripe is still reviewing it")
                } else {
                    format!("{message}: Stripe still needs {}", missing.join(", "))
                },
            },
            TenantError::Account(e) => e.into(),
            TenantError::Stripe(e) => e.into(),
            TenantError::Store(e) => e.into(),
        }
    }
}

//! Every stable error code tollgate answers with, beside its HTTP status: one list, so that a
//! code cannot be misspelt at a call site, and the README's table is checked against it
//! (`tests/api/error_codes.rs`).

use axum::http::StatusCode;

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:ident;)*) => {
        /// A stable `error.code` of the API, with the status it is always sent with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    Unauthenticated = "unauthenticated", UNAUTHORIZED;
    InvalidToken = "invalid_token", UNAUTHORIZED;
    InvalidCredentials = "invalid_credentials", UNAUTHORIZED;
    Forbidden = "forbidden", FORBIDDEN;
    CsrfTokenInvalid = "csrf_token_invalid", FORBIDDEN;
    OriginRejected = "origin_rejected", FORBIDDEN;
    ScopeMissing = "scope_missing", FORBIDDEN;
    NotFound = "not_found", NOT_FOUND;
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED;
    EmailUnavailable = "email_unavailable", CONFLICT;
    SetupClosed = "setup_closed", CONFLICT;
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE;
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE;
    MalformedJson = "malformed_json", BAD_REQUEST;
    InvalidField = "invalid_field", BAD_REQUEST;
    RateLimited = "rate_limited", TOO_MANY_REQUESTS;
    ServiceUnavailable = "service_unavailable", SERVICE_UNAVAILABLE;
    InternalError = "internal_error", INTERNAL_SERVER_ERROR;
    // Billing.
    AlreadySubscribed = "already_subscribed", CONFLICT;
    NoSubscription = "no_subscription", NOT_FOUND;
    PaymentNotVerified = "payment_not_verified", CONFLICT;
    MentorExists = "mentor_exists", CONFLICT;
    NoBillingAccount = "no_billing_account", NOT_FOUND;
    PlanUnavailable = "plan_unavailable", SERVICE_UNAVAILABLE;
    CardDeclined = "card_declined", PAYMENT_REQUIRED;
    StripeRateLimited = "stripe_rate_limited", SERVICE_UNAVAILABLE;
    NoTestClock = "no_test_clock", CONFLICT;
    // Credits.
    InsufficientCredits = "insufficient_credits", PAYMENT_REQUIRED;
    UsageLimitReached = "usage_limit_reached", PAYMENT_REQUIRED;
    RefundExceedsRemaining = "refund_exceeds_remaining", BAD_REQUEST;
    NotRefundable = "not_refundable", CONFLICT;
    CouponUnknown = "coupon_unknown", NOT_FOUND;
    CouponExpired = "coupon_expired", GONE;
    CouponAlreadyRedeemed = "coupon_already_redeemed", CONFLICT;
    CouponExhausted = "coupon_exhausted", CONFLICT;
    CouponExists = "coupon_exists", CONFLICT;
    // Connect.
    ConnectAccountMissing = "connect_account_missing", CONFLICT;
    ConnectAccountNotReady = "connect_account_not_ready", CONFLICT;
    TenantDeauthorized = "tenant_deauthorized", CONFLICT;
    InvoiceWrongStatus = "invoice_wrong_status", CONFLICT;
    ContractWrongStatus = "contract_wrong_status", CONFLICT;
    // Webhooks.
    SignatureMissing = "signature_missing", BAD_REQUEST;
    SignatureMalformed = "signature_malformed", BAD_REQUEST;
    SignatureMismatch = "signature_mismatch", BAD_REQUEST;
    SignatureExpired = "signature_expired", BAD_REQUEST;
    EventMalformed = "event_malformed", BAD_REQUEST;
    EventFieldMissing = "event_field_missing", BAD_REQUEST;
    EventIdInvalid = "event_id_invalid", BAD_REQUEST;
}

impl From<tollgate_stripe::webhook::SignatureError> for ErrorCode {
    fn from(error: tollgate_stripe::webhook::SignatureError) -> Self {
        use tollgate_stripe::webhook::SignatureError;
        match error {
            SignatureError::Missing => ErrorCode::SignatureMissing,
            SignatureError::Malformed => ErrorCode::SignatureMalformed,
            SignatureError::Mismatch => ErrorCode::SignatureMismatch,
            SignatureError::Expired => ErrorCode::SignatureExpired,
        }
    }
}

impl From<&tollgate_stripe::envelope::EnvelopeError> for ErrorCode {
    fn from(error: &tollgate_stripe::envelope::EnvelopeError) -> Self {
        use tollgate_stripe::envelope::EnvelopeError;
        match error {
            EnvelopeError::Malformed(_) => ErrorCode::EventMalformed,
            EnvelopeError::MissingField(_) => ErrorCode::EventFieldMissing,
            EnvelopeError::InvalidId => ErrorCode::EventIdInvalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adapters_codes_are_the_same_words() {
        use tollgate_stripe::envelope::EnvelopeError;
        use tollgate_stripe::webhook::SignatureError;
        for error in [
            SignatureError::Missing,
            SignatureError::Malformed,
            SignatureError::Mismatch,
            SignatureError::Expired,
        ] {
            assert_eq!(ErrorCode::from(error).as_str(), error.code());
        }
        for error in [
            EnvelopeError::Malformed(String::new()),
            EnvelopeError::MissingField("id"),
            EnvelopeError::InvalidId,
        ] {
            assert_eq!(ErrorCode::from(&error).as_str(), error.code());
        }
    }

    #[test]
    fn codes_are_unique_snake_case_words() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let word = code.as_str();
            assert!(seen.insert(word), "{word} twice");
            assert!(
                word.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{word}"
            );
        }
    }

    /// The README's table of error codes lists exactly these codes, with their statuses.
    #[test]
    fn the_readme_table_is_this_list() {
        let readme = include_str!("../../../../README.md");
        let table: Vec<(String, u16)> = readme
            .lines()
            .skip_while(|line| !line.starts_with("| code | status |"))
            .skip(2)
            .take_while(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let status = cells[2].parse().expect("a status number");
                (cells[1].trim_matches('`').to_string(), status)
            })
            .collect();
        let ours: Vec<(String, u16)> = ErrorCode::ALL
            .iter()
            .map(|code| (code.as_str().to_string(), code.status().as_u16()))
            .collect();
        assert_eq!(
            table, ours,
            "README.md's error code table and ErrorCode differ"
        );
    }
}

//! How the core's errors become API errors: which code, which field, what may be said.

use tollgate_core::StoreError;
use tollgate_core::account::AccountError;

use super::{ApiError, ErrorCode};

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

impl From<tollgate_core::stripe::StripeError> for ApiError {
    /// Stripe's own words never reach clients; the detail is logged.
    fn from(error: tollgate_core::stripe::StripeError) -> Self {
        use tollgate_core::stripe::StripeError;
        match error {
            StripeError::Card { code, .. } => ApiError::coded(
                ErrorCode::CardDeclined,
                format!("the card was declined ({code})"),
            ),
            StripeError::NotFound => ApiError::coded(ErrorCode::NotFound, "not found in Stripe"),
            StripeError::RateLimited => ApiError::Coded {
                code: ErrorCode::StripeRateLimited,
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
            StripeError::Misconfigured(detail) => {
                ApiError::Unavailable(format!("Stripe is misconfigured: {detail}"))
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
                ApiError::coded(ErrorCode::PlanUnavailable, message)
            }
            BillingError::AlreadySubscribed => ApiError::Coded {
                code: ErrorCode::AlreadySubscribed,
                message,
            },
            BillingError::NoSubscription => ApiError::coded(ErrorCode::NoSubscription, message),
            BillingError::NoCustomer => ApiError::coded(ErrorCode::NoBillingAccount, message),
            BillingError::UnknownCheckoutSession | BillingError::UnknownPayment => {
                ApiError::NotFound
            }
            BillingError::UnknownPackage(_) => ApiError::invalid_field("package", message),
            BillingError::CurrencyNotAllowed(_) => ApiError::invalid_field("currency", message),
            BillingError::AmountOutOfRange { .. } => ApiError::invalid_field("amount", message),
            BillingError::NotRefundable => ApiError::Coded {
                code: ErrorCode::NotRefundable,
                message,
            },
            BillingError::RefundExceedsRemaining { .. } => {
                ApiError::coded(ErrorCode::RefundExceedsRemaining, message)
            }
            BillingError::InvalidFeature => ApiError::invalid_field("feature", message),
            BillingError::InvalidQuantity => ApiError::invalid_field("quantity", message),
            BillingError::InvalidIdempotencyKey => {
                ApiError::invalid_field("idempotency_key", message)
            }
            BillingError::InvalidCouponCode => ApiError::invalid_field("code", message),
            BillingError::InvalidCoupon => ApiError::invalid_field("credits", message),
            BillingError::CouponExists => ApiError::Coded {
                code: ErrorCode::CouponExists,
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
            AccountError::EmailUnavailable => ApiError::Coded {
                code: ErrorCode::EmailUnavailable,
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
            MentorError::DuplicateName => ApiError::Coded {
                code: ErrorCode::MentorExists,
                message,
            },
            MentorError::UnknownMember | MentorError::UnknownMentor => ApiError::NotFound,
            MentorError::PaymentNotVerified => ApiError::Coded {
                code: ErrorCode::PaymentNotVerified,
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
                        return ApiError::coded(ErrorCode::RefundExceedsRemaining, message);
                    }
                    E::WrongStatus(..) => {
                        return ApiError::Coded {
                            code: ErrorCode::InvoiceWrongStatus,
                            message,
                        };
                    }
                };
                ApiError::invalid_field(field, message)
            }
            TenantError::UnknownContract => ApiError::NotFound,
            TenantError::Contract(e) => {
                use tollgate_core::tenant_contracts::ContractRequestError as E;
                let field = match e {
                    E::UnknownCustomer => "customer_id",
                    E::Description => "description",
                    E::Currency => "currency",
                    E::UnitAmount | E::Total => "unit_amount",
                    E::Interval => "interval",
                    E::Quantity => "quantity",
                    E::DaysUntilDue => "days_until_due",
                    E::EndsAt => "ends_at",
                    E::NothingToChange => "quantity",
                    E::WrongStatus(..) => {
                        return ApiError::coded(ErrorCode::ContractWrongStatus, message);
                    }
                };
                ApiError::invalid_field(field, message)
            }
            TenantError::UnknownTenant => ApiError::NotFound,
            TenantError::NoAccount => ApiError::Coded {
                code: ErrorCode::ConnectAccountMissing,
                message,
            },
            TenantError::Deauthorized => ApiError::Coded {
                code: ErrorCode::TenantDeauthorized,
                message,
            },
            TenantError::AccountNotReady { missing } => ApiError::Coded {
                code: ErrorCode::ConnectAccountNotReady,
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

//! Time travel in test mode: an admin moves the test clock that new customers live on (and each
//! tenant's clock on its connected account), and Stripe (or the emulator) performs every
//! renewal, retry and cancellation that comes due.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use tollgate_core::stripe::StripeError;
use tollgate_core::tenant::TenantError;

use crate::auth::Admin;
use crate::error::{ApiError, ErrorCode};
use crate::json::ApiJson;
use crate::state::AppState;
use crate::wire::TestClockBody;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// The new frozen time, in unix seconds; it must be later than the clock's current time.
    to: i64,
}

pub async fn advance(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<Advance>,
) -> Result<Response, ApiError> {
    let clock = state.test_clock.as_deref().ok_or_else(|| {
        ApiError::coded(
            ErrorCode::NoTestClock,
            "no test clock is configured (stripe.test_clock)",
        )
    })?;
    let to = time::OffsetDateTime::from_unix_timestamp(body.to)
        .map_err(|_| ApiError::invalid_field("to", "to must be a unix time in seconds"))?;
    let refused = |e: StripeError| match e {
        StripeError::InvalidRequest { message, .. } => {
            ApiError::invalid_field("to", format!("Stripe refused the advance: {message}"))
        }
        other => other.into(),
    };
    state
        .stripe
        .advance_test_clock(clock, to)
        .await
        .map_err(refused)?;
    // Stripe's clocks are per account: each tenant's customers live on its own.
    let tenant_clocks = state
        .tenants()
        .advance_test_clocks(to)
        .await
        .map_err(|e| match e {
            TenantError::Stripe(e) => refused(e),
            other => other.into(),
        })?;
    tracing::info!(stripe.test_clock = %clock, to = body.to, user.id = %admin.user.id, "test clock advanced");
    Ok(Json(TestClockBody {
        test_clock: clock,
        frozen_time: body.to,
        tenant_clocks,
    })
    .into_response())
}

//! The retry schedule: which failures are worth another attempt and how long to wait, with jitter so that many instances do not retry in step.
//!
//! Stripe's advice (<https://docs.stripe.com/error-low-level#idempotency>): retry network errors,
//! 409, 429 and 5xx with exponential backoff, always with the same idempotency key.

use std::time::Duration;

/// No wait grows beyond this, however many retries are configured.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(8);

/// How long to wait before retry number `retry` (0 for the first retry): `first * 2^retry`, capped at
/// [`MAX_RETRY_DELAY`], of which the upper half is random ("equal jitter").
pub fn delay(first: Duration, retry: u32) -> Duration {
    let full = exponential(first, retry);
    let half = full / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rand::random_range(0..=jitter_ms))
}

fn exponential(first: Duration, retry: u32) -> Duration {
    first
        .checked_mul(2u32.saturating_pow(retry.min(31)))
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY)
}

/// Statuses after which the same request may succeed: a conflicting concurrent request with the
/// same idempotency key (409), the rate limit (429) and Stripe's own failures (5xx).
pub fn retryable_status(status: u16) -> bool {
    status == 409 || status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_stay_between_half_and_the_full_step() {
        let first = Duration::from_millis(100);
        for (retry, full_ms) in [(0, 100), (1, 200), (2, 400), (3, 800)] {
            for _ in 0..50 {
                let d = delay(first, retry);
                assert!(
                    d >= Duration::from_millis(full_ms / 2) && d <= Duration::from_millis(full_ms),
                    "retry {retry}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn delays_never_exceed_the_cap() {
        for retry in [10, 31, 32, u32::MAX] {
            assert!(delay(Duration::from_secs(1), retry) <= MAX_RETRY_DELAY);
        }
    }

    #[test]
    fn conflicts_rate_limits_and_server_errors_are_retryable_and_client_errors_are_not() {
        for status in [409, 429, 500, 502, 503, 504] {
            assert!(retryable_status(status), "{status}");
        }
        for status in [400, 401, 402, 403, 404] {
            assert!(!retryable_status(status), "{status}");
        }
    }
}

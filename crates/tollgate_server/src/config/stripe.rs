//! `[stripe]`: the secret key, webhook secrets and tolerance, the API base, rate pacing,
//! the test clock.

use serde::{Deserialize, Serialize};
use tollgate_core::Secret;
use tollgate_stripe::pacing::Pacing;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeConfig {
    /// `sk_live_…`, `sk_test_…` or a restricted `rk_…` key. Unset: tollgate runs against its
    /// own Stripe emulator.
    pub secret_key: Option<Secret>,
    pub publishable_key: Option<String>,
    /// Every secret an incoming webhook may be signed with (rotation, Connect endpoints).
    pub webhook_secrets: Vec<Secret>,
    /// Where Stripe's API is; unset means `https://api.stripe.com`.
    pub api_base: Option<String>,
    /// Oldest webhook signature timestamp accepted, in seconds.
    pub webhook_tolerance_seconds: u64,
    /// The extra path token of `/webhook/stripe/{token}` (seed 004); unset disables that path.
    pub webhook_path_token: Option<Secret>,
    /// Test mode only: put every new customer on this test clock (`clock_…`), or on one made
    /// at start-up (`new`), so renewals can be brought forward with
    /// `POST /api/v1/admin/test-clock/advance`.
    pub test_clock: Option<String>,
    /// Requests per second sent to Stripe, all operations together; 0 is no limit. Unset: 80
    /// with a live key and 20 with a test key against Stripe itself, no limit against another
    /// API base. Instances sharing one Stripe account should split it between them.
    pub requests_per_second: Option<u32>,
    /// Requests per second of one API operation (Stripe limits each endpoint to 25); 0 is no
    /// limit. Unset: 20 against Stripe itself, no limit against another API base.
    pub operation_requests_per_second: Option<u32>,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            secret_key: None,
            publishable_key: None,
            webhook_secrets: Vec::new(),
            api_base: None,
            webhook_tolerance_seconds: 300,
            webhook_path_token: None,
            test_clock: None,
            requests_per_second: None,
            operation_requests_per_second: None,
        }
    }
}

impl StripeConfig {
    pub fn is_live(&self) -> bool {
        self.secret_key
            .as_ref()
            .is_some_and(|k| tollgate_stripe::is_live_key(k.expose()))
    }

    /// How fast the Stripe client may send: the configured rates, else Stripe's own limits
    /// with headroom when the API is Stripe's, else none.
    pub fn pacing(&self) -> Pacing {
        let default = if self.api_base.is_none() {
            Pacing::stripe(self.is_live())
        } else {
            Pacing::OFF
        };
        Pacing {
            per_second: self.requests_per_second.unwrap_or(default.per_second),
            per_operation_per_second: self
                .operation_requests_per_second
                .unwrap_or(default.per_operation_per_second),
        }
    }
}

//! What every handler shares: configuration, the store, the clock, verifiers and limiters.

use std::sync::Arc;

use time::Duration;
use tollgate_core::account::AccountPolicy;
use tollgate_core::api_key::KeyMode;
use tollgate_core::{Clock, Store};

use crate::auth::jwt::JwtVerifier;
use crate::auth::rate_limit::RateLimits;
use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::setup::SetupToken;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub jwt: Option<JwtVerifier>,
    pub limits: RateLimits,
    pub metrics: Metrics,
    pub setup: SetupToken,
    pub policy: AccountPolicy,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state; fails only on configuration that cannot be loaded (key files).
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let jwt = config.auth.jwt.as_ref().map(JwtVerifier::new).transpose()?;
        let policy = AccountPolicy {
            password_min_length: config.auth.password_min_length,
            session_ttl: Duration::hours(i64::from(config.auth.session_ttl_hours)),
        };
        Ok(Self(Arc::new(Inner {
            limits: RateLimits::new(&config.auth.rate_limit),
            jwt,
            policy,
            store,
            clock,
            metrics: Metrics::default(),
            setup: SetupToken::default(),
            config,
        })))
    }

    /// API keys are live only when Stripe is live, so a test key can never touch real money.
    pub fn key_mode(&self) -> KeyMode {
        if self.config.stripe.is_live() {
            KeyMode::Live
        } else {
            KeyMode::Test
        }
    }
}

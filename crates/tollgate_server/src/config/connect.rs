//! The `[connect]` section: Stripe Connect for a platform whose tenants get paid (seed 003): the
//! kind of connected account tenants get, and the secrets of the Connect and thin endpoints.

use serde::{Deserialize, Serialize};
use tollgate_core::Secret;
use tollgate_core::connect::AccountKind;

use super::ConfigError;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectConfig {
    /// `express` (Stripe-hosted onboarding and dashboard; the default) or `standard`.
    pub account_kind: String,
    /// Secrets of the Connect endpoint (`/api/v1/stripe/connect/webhook`, registered with
    /// `connect: true`): events of connected accounts are signed with these.
    pub webhook_secrets: Vec<Secret>,
    /// Secrets of a thin-event destination delivering to the platform endpoint (seed 003's
    /// `STRIPE_WEBHOOK_SECRET_THIN`); accepted there beside `stripe.webhook_secrets`.
    pub thin_webhook_secrets: Vec<Secret>,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        Self {
            account_kind: AccountKind::Express.as_str().to_string(),
            webhook_secrets: Vec::new(),
            thin_webhook_secrets: Vec::new(),
        }
    }
}

impl ConnectConfig {
    /// Checked by `validate`, so always a kind once the configuration has loaded.
    pub fn account_kind(&self) -> AccountKind {
        AccountKind::parse(&self.account_kind).unwrap_or(AccountKind::Express)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if AccountKind::parse(&self.account_kind).is_none() {
            return Err(ConfigError::new(
                "connect.account_kind",
                "must be express or standard",
            ));
        }
        for (key, secrets) in [
            ("connect.webhook_secrets", &self.webhook_secrets),
            ("connect.thin_webhook_secrets", &self.thin_webhook_secrets),
        ] {
            if secrets.iter().any(|s| !s.expose().starts_with("whsec_")) {
                return Err(ConfigError::new(key, "each secret must start with whsec_"));
            }
        }
        Ok(())
    }
}

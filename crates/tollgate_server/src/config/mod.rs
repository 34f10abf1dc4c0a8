//! Configuration: defaults, then `tollgate.toml`, then the environment, parsed once into typed
//! values. A bad or contradictory value is refused with the key's name and what is wrong;
//! secrets sit in `Secret` and print as `[redacted]`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

mod auth;
mod connect;
mod credits;
mod database;
mod emulator;
mod env;
mod plans;
mod server;
mod stripe;
mod worker;

pub use auth::{AuthConfig, JwtAlgorithm, JwtConfig, RateLimitConfig};
pub use connect::ConnectConfig;
pub use credits::{CreditsConfig, UsageConfig};
pub use database::{DatabaseConfig, DatabaseUrl};
pub use emulator::EmulatorConfig;
pub use env::environment_variables;
pub use server::{LogFormat, ServerConfig};
pub use stripe::StripeConfig;
pub use worker::{NotificationsConfig, WorkerConfig};

use auth::validate_jwt;
use env::{ENVIRONMENT, env_value, read_file, set_path};
pub use plans::PlanConfig;
use plans::validate_plans;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub stripe: StripeConfig,
    pub auth: AuthConfig,
    pub emulator: EmulatorConfig,
    pub worker: WorkerConfig,
    pub notifications: NotificationsConfig,
    /// The subscription plans. Configuring any replaces the default one.
    pub plans: Vec<PlanConfig>,
    pub credits: CreditsConfig,
    pub usage: UsageConfig,
    pub connect: ConnectConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            stripe: StripeConfig::default(),
            auth: AuthConfig::default(),
            emulator: EmulatorConfig::default(),
            worker: WorkerConfig::default(),
            notifications: NotificationsConfig::default(),
            plans: vec![PlanConfig::membership()],
            credits: CreditsConfig::default(),
            usage: UsageConfig::default(),
            connect: ConnectConfig::default(),
        }
    }
}

/// One refused key: `server.bind (from TOLLGATE_BIND): invalid socket address syntax`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}{}: {message}", origin.as_ref().map(|s| format!(" (from {s})")).unwrap_or_default())]
pub struct ConfigError {
    pub key: String,
    /// The environment variable the value came from, if any.
    pub origin: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub(super) fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            origin: None,
            message: message.into(),
        }
    }
}

impl Config {
    /// Loads defaults, then the file (if given, it must exist; else `tollgate.toml` if present),
    /// then the given environment, and validates the result.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut tree = match file {
            Some(path) => read_file(path)?,
            None if Path::new("tollgate.toml").exists() => read_file(Path::new("tollgate.toml"))?,
            None => toml::Table::new(),
        };
        let mut sources = BTreeMap::new();
        // Later entries of ENVIRONMENT are the conventional names; the TOLLGATE_ ones win, so
        // apply the conventional ones first.
        for (name, key, kind) in ENVIRONMENT.iter().rev() {
            let Some(raw) = env.get(*name) else { continue };
            let value = env_value(&tree, key, *kind, raw).map_err(|message| ConfigError {
                key: key.to_string(),
                origin: Some(name.to_string()),
                message,
            })?;
            set_path(&mut tree, key, value);
            sources.insert(key.to_string(), name.to_string());
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
                let key = e.path().to_string();
                let message = e.inner().message().to_string();
                ConfigError {
                    origin: sources.get(&key).cloned(),
                    key,
                    message,
                }
            })?;
        config.validate().map_err(|mut e| {
            e.origin = sources.get(&e.key).cloned();
            e
        })?;
        Ok(config)
    }

    /// Rules that span keys or go beyond a type.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let base = &self.server.base_url;
        if !(base.starts_with("http://") || base.starts_with("https://"))
            || base.len() <= "https://".len()
        {
            return Err(ConfigError::new(
                "server.base_url",
                "must be an absolute http:// or https:// URL",
            ));
        }
        if self.database.row_level_security && !self.database.url.expose().starts_with("postgres") {
            return Err(ConfigError::new(
                "database.row_level_security",
                "needs a postgres:// database",
            ));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(ConfigError::new(
                "server.body_limit_bytes",
                "must be at least 1024",
            ));
        }
        if tollgate_store::Backend::of_url(self.database.url.expose()).is_none() {
            return Err(ConfigError::new(
                "database.url",
                "must start with sqlite: or postgres://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if let Some(key) = &self.stripe.secret_key {
            let key = key.expose();
            if !(key.starts_with("sk_") || key.starts_with("rk_")) {
                return Err(ConfigError::new(
                    "stripe.secret_key",
                    "must be a Stripe secret key (sk_… or rk_…)",
                ));
            }
        }
        if let Some(key) = &self.stripe.publishable_key
            && !key.starts_with("pk_")
        {
            return Err(ConfigError::new(
                "stripe.publishable_key",
                "must be a Stripe publishable key (pk_…)",
            ));
        }
        if self
            .stripe
            .webhook_secrets
            .iter()
            .any(|s| !s.expose().starts_with("whsec_"))
        {
            return Err(ConfigError::new(
                "stripe.webhook_secrets",
                "each secret must start with whsec_",
            ));
        }
        if self.stripe.is_live() && !base.starts_with("https://") {
            return Err(ConfigError::new(
                "server.base_url",
                "must be https:// when a live Stripe key is configured",
            ));
        }
        if self.stripe.webhook_tolerance_seconds == 0 {
            return Err(ConfigError::new(
                "stripe.webhook_tolerance_seconds",
                "must be at least 1",
            ));
        }
        if let Some(token) = &self.stripe.webhook_path_token
            && token.expose().len() < 16
        {
            return Err(ConfigError::new(
                "stripe.webhook_path_token",
                "must be at least 16 characters",
            ));
        }
        if let Some(base) = &self.stripe.api_base
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "stripe.api_base",
                "must be an http:// or https:// URL",
            ));
        }
        if self.stripe.secret_key.is_some() && self.stripe.webhook_secrets.is_empty() {
            return Err(ConfigError::new(
                "stripe.webhook_secrets",
                "is required with a Stripe key: set STRIPE_WEBHOOK_SECRET to the endpoint's whsec_ secret",
            ));
        }
        if let Some(clock) = &self.stripe.test_clock {
            if self.stripe.is_live() {
                return Err(ConfigError::new(
                    "stripe.test_clock",
                    "test clocks exist only in test mode",
                ));
            }
            if clock != "new" && !clock.starts_with("clock_") {
                return Err(ConfigError::new(
                    "stripe.test_clock",
                    "must be new or a test clock id (clock_…)",
                ));
            }
        }
        validate_plans(&self.plans)?;
        self.credits.validate()?;
        self.usage.validate()?;
        self.connect.validate()?;
        if self.worker.batch_size == 0
            || self.worker.concurrency == 0
            || self.worker.max_attempts == 0
            || self.worker.poll_interval_ms == 0
        {
            return Err(ConfigError::new(
                "worker",
                "poll_interval_ms, batch_size, concurrency and max_attempts must be at least 1",
            ));
        }
        if !(1..=3_600).contains(&self.worker.lease_seconds) {
            return Err(ConfigError::new(
                "worker.lease_seconds",
                "must be from 1 to 3600 seconds",
            ));
        }
        if !(1..=86_400).contains(&self.worker.unsent_refund_after_seconds) {
            return Err(ConfigError::new(
                "worker.unsent_refund_after_seconds",
                "must be from 1 to 86400 seconds",
            ));
        }
        if self
            .notifications
            .webhook_urls
            .iter()
            .any(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return Err(ConfigError::new(
                "notifications.webhook_urls",
                "each must be an http:// or https:// URL",
            ));
        }
        if !self.notifications.webhook_urls.is_empty()
            && self.notifications.webhook_secret.is_none()
        {
            return Err(ConfigError::new(
                "notifications.webhook_secret",
                "is required when webhook_urls are set",
            ));
        }
        if self.auth.password_min_length < 8 {
            return Err(ConfigError::new(
                "auth.password_min_length",
                "must be at least 8",
            ));
        }
        if self.auth.session_ttl_hours == 0 {
            return Err(ConfigError::new(
                "auth.session_ttl_hours",
                "must be at least 1",
            ));
        }
        let limits = &self.auth.rate_limit;
        for (key, value) in [
            (
                "auth.rate_limit.login_per_ip_per_minute",
                limits.login_per_ip_per_minute,
            ),
            (
                "auth.rate_limit.login_failures_per_account",
                limits.login_failures_per_account,
            ),
            (
                "auth.rate_limit.signup_per_ip_per_hour",
                limits.signup_per_ip_per_hour,
            ),
            (
                "auth.rate_limit.login_slowdown_after_failures",
                limits.login_slowdown_after_failures,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if limits.login_slowdown_ms > 10_000 {
            return Err(ConfigError::new(
                "auth.rate_limit.login_slowdown_ms",
                "must be at most 10000 (ten seconds)",
            ));
        }
        if let Some(jwt) = &self.auth.jwt {
            validate_jwt(jwt)?;
        }
        Ok(())
    }

    /// The effective configuration as TOML, every secret shown as `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Password and session rules for the account use-cases.
    pub fn account_policy(&self) -> tollgate_core::account::AccountPolicy {
        tollgate_core::account::AccountPolicy {
            password_min_length: self.auth.password_min_length,
            session_ttl: time::Duration::hours(i64::from(self.auth.session_ttl_hours)),
        }
    }

    /// Whether tollgate runs against its own emulator (no Stripe key configured).
    pub fn uses_emulator(&self) -> bool {
        self.stripe.secret_key.is_none()
    }

    /// The catalog as configured; price ids of lookup-key plans are resolved at start-up.
    pub fn catalog(&self) -> tollgate_core::plan::Catalog {
        use tollgate_core::plan::{Plan, PriceRef};
        use tollgate_core::stripe::StripePriceId;
        let plans = self
            .plans
            .iter()
            .map(|p| {
                let price_id = p
                    .price
                    .as_deref()
                    .and_then(|id| StripePriceId::parse(id).ok());
                Plan {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    price: match (&price_id, &p.lookup_key) {
                        (Some(id), _) => PriceRef::Id(id.clone()),
                        (None, key) => PriceRef::LookupKey(key.clone().unwrap_or_default()),
                    },
                    price_id,
                    amount: p.amount,
                    currency: p.currency.clone(),
                    interval: p.interval,
                    features: p.features.clone(),
                    limits: p.limits.clone(),
                    trial_period_days: p.trial_period_days,
                }
            })
            .collect();
        tollgate_core::plan::Catalog { plans }
    }

    pub fn cookies_secure(&self) -> bool {
        self.server.base_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tollgate_stripe::pacing::Pacing;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(toml_text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tollgate.toml");
        std::fs::write(&path, toml_text).expect("write");
        Config::load(Some(&path), &env(pairs))
    }

    #[test]
    fn defaults_bind_loopback_8080_on_sqlite() {
        let config = load("", &[]).expect("defaults are valid");
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database.url.expose(), "sqlite://data/tollgate.db");
        assert!(config.stripe.secret_key.is_none());
    }

    #[test]
    fn the_environment_overrides_the_file_and_port_keeps_the_host() {
        let config = load(
            "[server]\nbind = \"0.0.0.0:9000\"\n",
            &[
                ("PORT", "7000"),
                ("STRIPE_WEBHOOK_SECRET", "whsec_a, whsec_b"),
            ],
        )
        .expect("valid");
        assert_eq!(config.server.bind.to_string(), "0.0.0.0:7000");
        assert_eq!(config.stripe.webhook_secrets.len(), 2);
    }

    #[test]
    fn tollgate_variables_win_over_conventional_ones() {
        let config = load(
            "",
            &[
                ("TOLLGATE_BASE_URL", "https://a.example"),
                ("APP_BASE_URL", "https://b.example"),
            ],
        )
        .expect("valid");
        assert_eq!(config.server.base_url, "https://a.example");
    }

    #[test]
    fn a_bad_value_names_its_key_and_its_source() {
        let error = load("", &[("TOLLGATE_BIND", "nonsense")]).expect_err("invalid");
        assert_eq!(error.key, "server.bind");
        assert_eq!(error.origin.as_deref(), Some("TOLLGATE_BIND"));
        let error = load("[server]\nbody_limit_bytes = \"big\"\n", &[]).expect_err("invalid");
        assert_eq!(error.key, "server.body_limit_bytes");
        let error = load("[server]\nbinds = \"x\"\n", &[]).expect_err("unknown key");
        assert!(error.message.contains("binds"), "{error}");
    }

    #[test]
    fn stripe_requests_are_paced_under_stripes_limits_only_against_stripe() {
        let stripe = |pairs: &[(&str, &str)]| load("", pairs).expect("valid").stripe.pacing();
        let test_key = [
            ("STRIPE_SECRET_KEY", "sk_test_x"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_x"),
        ];
        assert_eq!(stripe(&test_key), Pacing::stripe(false));
        let live = load(
            "[server]\nbase_url = \"https://billing.example\"\n",
            &[
                ("STRIPE_SECRET_KEY", "sk_live_x"),
                ("STRIPE_WEBHOOK_SECRET", "whsec_x"),
            ],
        )
        .expect("valid");
        assert_eq!(live.stripe.pacing(), Pacing::stripe(true));
        let elsewhere = [
            test_key[0],
            test_key[1],
            ("TOLLGATE_STRIPE_API_BASE", "http://127.0.0.1:12111"),
        ];
        assert_eq!(stripe(&elsewhere), Pacing::OFF);
        let configured = [
            test_key[0],
            test_key[1],
            ("TOLLGATE_STRIPE_REQUESTS_PER_SECOND", "0"),
            ("TOLLGATE_STRIPE_OPERATION_REQUESTS_PER_SECOND", "7"),
        ];
        let pacing = Pacing {
            per_second: 0,
            per_operation_per_second: 7,
        };
        assert_eq!(stripe(&configured), pacing);
    }

    #[test]
    fn contradictions_are_refused() {
        let error = load("", &[("STRIPE_SECRET_KEY", "sk_live_x")]).expect_err("live on http");
        assert_eq!(error.key, "server.base_url");
        let error = load(
            "[auth.jwt]\nalgorithm = \"HS256\"\nissuer = \"i\"\naudience = \"a\"\n",
            &[],
        )
        .expect_err("HS256 without a secret");
        assert_eq!(error.key, "auth.jwt.secret");
        let error = load("", &[("STRIPE_SECRET_KEY", "pk_test_x")]).expect_err("not a secret key");
        assert_eq!(error.key, "stripe.secret_key");
        assert!(
            !error.to_string().contains("pk_test_x"),
            "the value is not echoed"
        );
    }

    #[test]
    fn the_redacted_dump_hides_every_secret() {
        let config = load(
            "[database]\nurl = \"postgres://app:hunter2@db.internal/tollgate\"\n\
             [auth.jwt]\nalgorithm = \"HS256\"\nissuer = \"i\"\naudience = \"a\"\n\
             secret = \"0123456789abcdef0123456789abcdef-jwt\"\n",
            &[
                ("STRIPE_SECRET_KEY", "sk_test_supersecret"),
                ("STRIPE_WEBHOOK_SECRET", "whsec_hooksecret"),
            ],
        )
        .expect("valid");
        let dump = config.to_redacted_toml();
        for secret in [
            "hunter2",
            "sk_test_supersecret",
            "whsec_hooksecret",
            "0123456789abcdef",
        ] {
            assert!(!dump.contains(secret), "{secret} leaked:\n{dump}");
            assert!(
                !format!("{config:?}").contains(secret),
                "{secret} leaked in Debug"
            );
        }
        assert!(dump.contains("postgres://app:[redacted]@db.internal/tollgate"));
    }
}

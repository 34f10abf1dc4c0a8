//! Configuration: defaults, then `tollgate.toml`, then the environment, parsed once into typed
//! values. A bad or contradictory value is refused with the key's name and what is wrong;
//! secrets sit in `Secret` and print as `[redacted]`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tollgate_core::Secret;
use tollgate_core::secret::REDACTED;
use tollgate_stripe::pacing::Pacing;

mod connect;
mod credits;
pub use connect::ConnectConfig;
pub use credits::{CreditsConfig, UsageConfig};

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

/// One subscription plan: a Stripe price (by id, or by lookup key resolved at start-up) with
/// what it entitles a member to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Our name for the plan, used in the API (`{"plan": "membership"}`).
    pub id: String,
    pub name: String,
    /// A Stripe price id (`price_…`)…
    pub price: Option<String>,
    /// …or a lookup key; against the emulator a missing price is created.
    pub lookup_key: Option<String>,
    /// Integer minor units (4900 = $49.00).
    pub amount: i64,
    pub currency: String,
    /// `month` or `year`.
    pub interval: tollgate_core::plan::Interval,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub limits: BTreeMap<String, i64>,
    pub trial_period_days: Option<u32>,
}

impl PlanConfig {
    /// Seed 000's plan: one $49/month membership.
    fn membership() -> Self {
        Self {
            id: "membership".into(),
            name: "Membership".into(),
            price: None,
            lookup_key: Some("tollgate_membership_monthly".into()),
            amount: 4900,
            currency: "usd".into(),
            interval: tollgate_core::plan::Interval::Month,
            features: vec!["mentor".into()],
            limits: BTreeMap::new(),
            trial_period_days: None,
        }
    }
}

/// The Stripe emulator `serve` starts in-process when no Stripe key is configured.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Address of the emulator's API and hosted pages (port 0: any free port).
    pub bind: SocketAddr,
    /// Where the emulator keeps its state across restarts (empty: in memory only).
    pub state_file: String,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_file: "data/emulator.json".to_string(),
        }
    }
}

/// The background workers that process the webhook inbox and deliver notifications.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Run the workers in this instance. Off: this instance only acknowledges webhooks and
    /// serves the API, and another instance on the same PostgreSQL does the work.
    pub enabled: bool,
    /// How often an idle worker looks for due work, in milliseconds.
    pub poll_interval_ms: u64,
    /// Events one claim takes.
    pub batch_size: u32,
    /// Batches in progress at once. Each claims its own events (a lease), so one batch waiting
    /// on Stripe does not hold up the next; on PostgreSQL they skip each other's rows.
    pub concurrency: u32,
    /// Attempts before an event is marked failed.
    pub max_attempts: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 500,
            batch_size: 32,
            concurrency: 2,
            max_attempts: tollgate_core::inbox::MAX_ATTEMPTS,
        }
    }
}

/// Where notifications of billing facts go (payment confirmed, payment failed, subscription ended).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Host-application URLs that receive signed JSON events.
    pub webhook_urls: Vec<String>,
    /// The `whsec_…` secret those events are signed with, as Stripe signs its own.
    pub webhook_secret: Option<Secret>,
    /// Email to every admin (seed 000's `notifyAdmin`); an empty host turns email off.
    pub smtp: crate::mail::SmtpConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Public URL of this service: links, redirects, and whether cookies are `Secure`.
    pub base_url: String,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Take the client IP for rate limits from `X-Forwarded-For` (only behind a proxy you run).
    pub trust_forwarded_for: bool,
    pub log_format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: "http://127.0.0.1:8080".to_string(),
            body_limit_bytes: 1024 * 1024,
            trust_forwarded_for: false,
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (the default, created on first run) or `postgres://…`.
    pub url: DatabaseUrl,
    pub max_connections: u32,
    /// On a SQLite file: webhook events are appended to a synced journal beside it before
    /// their 2xx, and become inbox rows before anything reads the inbox (docs/inbox.md).
    pub inbox_journal: bool,
    /// PostgreSQL only: tenant rows behind row-level security as well as the store's tenant
    /// filters (a second wall). Needs a login role that may create the `tollgate_tenant` role.
    pub row_level_security: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl("sqlite://data/tollgate.db".to_string()),
            max_connections: 10,
            inbox_journal: true,
            row_level_security: false,
        }
    }
}

/// A database URL whose printed forms hide the password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `postgres://user:[redacted]@host/db`: the URL with any password replaced.
    pub fn redacted(&self) -> String {
        let Some(scheme_end) = self.0.find("://").map(|i| i + 3) else {
            return self.0.clone();
        };
        let rest = &self.0[scheme_end..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let hidden = if userinfo.contains(':') {
                    format!("{user}:{REDACTED}")
                } else {
                    user.to_string()
                };
                format!("{}{hidden}{}", &self.0[..scheme_end], &rest[at..])
            }
            None => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

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

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub password_min_length: usize,
    pub session_ttl_hours: u32,
    pub rate_limit: RateLimitConfig,
    /// Accept bearer JWTs from the host application's identity provider.
    pub jwt: Option<JwtConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            password_min_length: 10,
            session_ttl_hours: 24 * 30,
            rate_limit: RateLimitConfig::default(),
            jwt: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Login attempts one IP may make per minute.
    pub login_per_ip_per_minute: u32,
    /// Failed logins one account may take within `login_failure_window_seconds`.
    pub login_failures_per_account: u32,
    pub login_failure_window_seconds: u64,
    /// Signups one IP may make per hour.
    pub signup_per_ip_per_hour: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            login_per_ip_per_minute: 30,
            login_failures_per_account: 5,
            login_failure_window_seconds: 15 * 60,
            signup_per_ip_per_hour: 20,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
    ES256,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub algorithm: JwtAlgorithm,
    /// HS256 shared secret.
    pub secret: Option<Secret>,
    /// RS256/ES256: a PEM public key file.
    pub public_key_file: Option<PathBuf>,
    /// RS256/ES256: a JWKS file; keys are chosen by the token's `kid`.
    pub jwks_file: Option<PathBuf>,
    pub issuer: String,
    pub audience: String,
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_email_claim() -> String {
    "email".to_string()
}

fn default_leeway() -> u64 {
    30
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
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            origin: None,
            message: message.into(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    /// Comma-separated list of strings.
    List,
    /// Only the port of `server.bind`.
    Port,
}

/// Every environment variable tollgate reads, and the key it sets.
const ENVIRONMENT: &[(&str, &str, Kind)] = &[
    ("TOLLGATE_BIND", "server.bind", Kind::Str),
    ("PORT", "server.bind", Kind::Port),
    ("TOLLGATE_BASE_URL", "server.base_url", Kind::Str),
    ("APP_BASE_URL", "server.base_url", Kind::Str),
    (
        "TOLLGATE_BODY_LIMIT_BYTES",
        "server.body_limit_bytes",
        Kind::Int,
    ),
    (
        "TOLLGATE_TRUST_FORWARDED_FOR",
        "server.trust_forwarded_for",
        Kind::Bool,
    ),
    ("TOLLGATE_LOG_FORMAT", "server.log_format", Kind::Str),
    ("TOLLGATE_DATABASE_URL", "database.url", Kind::Str),
    ("DATABASE_URL", "database.url", Kind::Str),
    (
        "TOLLGATE_DATABASE_MAX_CONNECTIONS",
        "database.max_connections",
        Kind::Int,
    ),
    (
        "TOLLGATE_DATABASE_INBOX_JOURNAL",
        "database.inbox_journal",
        Kind::Bool,
    ),
    (
        "TOLLGATE_DATABASE_ROW_LEVEL_SECURITY",
        "database.row_level_security",
        Kind::Bool,
    ),
    ("STRIPE_SECRET_KEY", "stripe.secret_key", Kind::Str),
    (
        "STRIPE_PUBLISHABLE_KEY",
        "stripe.publishable_key",
        Kind::Str,
    ),
    (
        "STRIPE_WEBHOOK_SECRET",
        "stripe.webhook_secrets",
        Kind::List,
    ),
    (
        "STRIPE_CONNECT_WEBHOOK_SECRET",
        "connect.webhook_secrets",
        Kind::List,
    ),
    (
        "STRIPE_WEBHOOK_SECRET_THIN",
        "connect.thin_webhook_secrets",
        Kind::List,
    ),
    (
        "TOLLGATE_CONNECT_ACCOUNT_KIND",
        "connect.account_kind",
        Kind::Str,
    ),
    ("TOLLGATE_STRIPE_API_BASE", "stripe.api_base", Kind::Str),
    (
        "TOLLGATE_STRIPE_WEBHOOK_TOLERANCE_SECONDS",
        "stripe.webhook_tolerance_seconds",
        Kind::Int,
    ),
    (
        "TOLLGATE_STRIPE_WEBHOOK_PATH_TOKEN",
        "stripe.webhook_path_token",
        Kind::Str,
    ),
    ("TOLLGATE_WORKER_ENABLED", "worker.enabled", Kind::Bool),
    (
        "TOLLGATE_WORKER_CONCURRENCY",
        "worker.concurrency",
        Kind::Int,
    ),
    ("TOLLGATE_STRIPE_TEST_CLOCK", "stripe.test_clock", Kind::Str),
    (
        "TOLLGATE_STRIPE_REQUESTS_PER_SECOND",
        "stripe.requests_per_second",
        Kind::Int,
    ),
    (
        "TOLLGATE_STRIPE_OPERATION_REQUESTS_PER_SECOND",
        "stripe.operation_requests_per_second",
        Kind::Int,
    ),
    ("TOLLGATE_EMULATOR_BIND", "emulator.bind", Kind::Str),
    (
        "TOLLGATE_EMULATOR_STATE_FILE",
        "emulator.state_file",
        Kind::Str,
    ),
    (
        "TOLLGATE_NOTIFY_WEBHOOK_URLS",
        "notifications.webhook_urls",
        Kind::List,
    ),
    (
        "TOLLGATE_NOTIFY_WEBHOOK_SECRET",
        "notifications.webhook_secret",
        Kind::Str,
    ),
    (
        "TOLLGATE_PASSWORD_MIN_LENGTH",
        "auth.password_min_length",
        Kind::Int,
    ),
    (
        "TOLLGATE_SESSION_TTL_HOURS",
        "auth.session_ttl_hours",
        Kind::Int,
    ),
    ("TOLLGATE_JWT_ALGORITHM", "auth.jwt.algorithm", Kind::Str),
    ("TOLLGATE_JWT_SECRET", "auth.jwt.secret", Kind::Str),
    (
        "TOLLGATE_JWT_PUBLIC_KEY_FILE",
        "auth.jwt.public_key_file",
        Kind::Str,
    ),
    ("TOLLGATE_JWT_JWKS_FILE", "auth.jwt.jwks_file", Kind::Str),
    ("TOLLGATE_JWT_ISSUER", "auth.jwt.issuer", Kind::Str),
    ("TOLLGATE_JWT_AUDIENCE", "auth.jwt.audience", Kind::Str),
    (
        "TOLLGATE_JWT_EMAIL_CLAIM",
        "auth.jwt.email_claim",
        Kind::Str,
    ),
];

/// The names of the environment variables tollgate reads, for documentation and tests.
pub fn environment_variables() -> impl Iterator<Item = &'static str> {
    ENVIRONMENT.iter().map(|(name, _, _)| *name)
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
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
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

fn validate_plans(plans: &[PlanConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for (index, plan) in plans.iter().enumerate() {
        let key = |field: &str| format!("plans[{index}].{field}");
        if plan.id.trim().is_empty() || !seen.insert(plan.id.as_str()) {
            return Err(ConfigError::new(&key("id"), "must be non-empty and unique"));
        }
        match (&plan.price, &plan.lookup_key) {
            (Some(price), None) if price.starts_with("price_") => {}
            (Some(_), None) => {
                return Err(ConfigError::new(
                    &key("price"),
                    "must be a Stripe price id (price_…)",
                ));
            }
            (None, Some(lookup)) if !lookup.trim().is_empty() => {}
            _ => {
                return Err(ConfigError::new(
                    &key("price"),
                    "set exactly one of price and lookup_key",
                ));
            }
        }
        if plan.amount <= 0 {
            return Err(ConfigError::new(
                &key("amount"),
                "must be a positive amount in minor units",
            ));
        }
        credits::validate_features(
            &key("limits"),
            &plan.limits,
            tollgate_core::usage::UNLIMITED,
        )?;
        if plan.currency.len() != 3 || !plan.currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(ConfigError::new(
                &key("currency"),
                "must be a lower-case ISO 4217 code such as usd",
            ));
        }
    }
    Ok(())
}

fn validate_jwt(jwt: &JwtConfig) -> Result<(), ConfigError> {
    if jwt.issuer.trim().is_empty() {
        return Err(ConfigError::new("auth.jwt.issuer", "must not be empty"));
    }
    if jwt.audience.trim().is_empty() {
        return Err(ConfigError::new("auth.jwt.audience", "must not be empty"));
    }
    match jwt.algorithm {
        JwtAlgorithm::HS256 => {
            let Some(secret) = &jwt.secret else {
                return Err(ConfigError::new("auth.jwt.secret", "is required for HS256"));
            };
            if secret.expose().len() < 32 {
                return Err(ConfigError::new(
                    "auth.jwt.secret",
                    "must be at least 32 bytes for HS256",
                ));
            }
            if jwt.public_key_file.is_some() || jwt.jwks_file.is_some() {
                return Err(ConfigError::new(
                    "auth.jwt.algorithm",
                    "HS256 uses secret; public_key_file and jwks_file are for RS256/ES256",
                ));
            }
        }
        JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
            match (&jwt.public_key_file, &jwt.jwks_file) {
                (None, None) => {
                    return Err(ConfigError::new(
                        "auth.jwt.public_key_file",
                        "RS256/ES256 need public_key_file or jwks_file",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        "auth.jwt.jwks_file",
                        "set either public_key_file or jwks_file, not both",
                    ));
                }
                _ => {}
            }
            if jwt.secret.is_some() {
                return Err(ConfigError::new(
                    "auth.jwt.secret",
                    "is only for HS256; RS256/ES256 verify with a public key",
                ));
            }
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
    })?;
    text.parse::<toml::Table>().map_err(|e| {
        let message = e.message().to_string();
        let line = e
            .span()
            .map(|span| text[..span.start].lines().count().max(1))
            .unwrap_or(0);
        ConfigError::new(&format!("{}:{line}", path.display()), message)
    })
}

fn env_value(tree: &toml::Table, key: &str, kind: Kind, raw: &str) -> Result<toml::Value, String> {
    let raw = raw.trim();
    match kind {
        Kind::Str => Ok(toml::Value::String(raw.to_string())),
        Kind::Int => raw
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("{raw:?} is not a whole number")),
        Kind::Bool => match raw {
            "true" | "1" => Ok(toml::Value::Boolean(true)),
            "false" | "0" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("{raw:?} is not true or false")),
        },
        Kind::List => Ok(toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        )),
        Kind::Port => {
            let port: u16 = raw
                .parse()
                .map_err(|_| format!("{raw:?} is not a port number"))?;
            let current = get_path(tree, key)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| ServerConfig::default().bind.to_string());
            let mut addr: SocketAddr = current
                .parse()
                .map_err(|_| format!("server.bind {current:?} is not an address"))?;
            addr.set_port(port);
            Ok(toml::Value::String(addr.to_string()))
        }
    }
}

fn get_path<'a>(tree: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = tree.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn set_path(tree: &mut toml::Table, key: &str, value: toml::Value) {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().expect("BUG: keys are never empty");
    let mut table = tree;
    for part in parents {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        table = entry.as_table_mut().expect("BUG: just made a table");
    }
    table.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
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

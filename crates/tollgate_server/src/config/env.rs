//! The environment layer: which variables set which keys, with what type, laid over the
//! file's table before it is parsed.

use std::net::SocketAddr;
use std::path::Path;

use super::{ConfigError, ServerConfig};

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    Int,
    Bool,
    /// Comma-separated list of strings.
    List,
    /// Only the port of `server.bind`.
    Port,
}

/// Every environment variable tollgate reads, and the key it sets.
pub(super) const ENVIRONMENT: &[(&str, &str, Kind)] = &[
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
    ("TOLLGATE_FORM_SECRET", "auth.form_secret", Kind::Str),
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
    (
        "TOLLGATE_WORKER_LEASE_SECONDS",
        "worker.lease_seconds",
        Kind::Int,
    ),
    (
        "TOLLGATE_WORKER_UNSENT_REFUND_AFTER_SECONDS",
        "worker.unsent_refund_after_seconds",
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

pub(super) fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
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

pub(super) fn env_value(
    tree: &toml::Table,
    key: &str,
    kind: Kind,
    raw: &str,
) -> Result<toml::Value, String> {
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

pub(super) fn get_path<'a>(tree: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = tree.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

pub(super) fn set_path(tree: &mut toml::Table, key: &str, value: toml::Value) {
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

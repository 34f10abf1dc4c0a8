//! `[auth]`: sessions, rate limits and the JWT issuer tollgate trusts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tollgate_core::Secret;

use super::ConfigError;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub password_min_length: usize,
    pub session_ttl_hours: u32,
    pub rate_limit: RateLimitConfig,
    /// Accept bearer JWTs from the host application's identity provider.
    pub jwt: Option<JwtConfig>,
    /// Signs the sign-in and sign-up forms' tokens. Absent: a key drawn at start, so set it
    /// when several instances serve the pages (a form from one is then good on another).
    pub form_secret: Option<Secret>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            password_min_length: 10,
            session_ttl_hours: 24 * 30,
            rate_limit: RateLimitConfig::default(),
            jwt: None,
            form_secret: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Login attempts one IP may make per minute.
    pub login_per_ip_per_minute: u32,
    /// Login attempts for one account from one client address within
    /// `login_failure_window_seconds` before even the right password waits (a success resets
    /// it). Keyed by address too, so that a stranger's failures never lock the owner out.
    pub login_failures_per_account: u32,
    pub login_failure_window_seconds: u64,
    /// Failed logins for one account from all addresses within the window past which every
    /// further attempt is slowed by `login_slowdown_ms` (never refused: the owner still gets in).
    pub login_slowdown_after_failures: u32,
    pub login_slowdown_ms: u64,
    /// Signups one IP may make per hour.
    pub signup_per_ip_per_hour: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            login_per_ip_per_minute: 30,
            login_failures_per_account: 5,
            login_failure_window_seconds: 15 * 60,
            login_slowdown_after_failures: 20,
            login_slowdown_ms: 1000,
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

pub(super) fn validate_jwt(jwt: &JwtConfig) -> Result<(), ConfigError> {
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

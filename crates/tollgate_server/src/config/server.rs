//! `[server]`: where tollgate listens, its public URL, its log format.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

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

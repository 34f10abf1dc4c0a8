//! The inbox as an admin sees it over HTTP: log in, then ask whether any event is left in a status.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A signed-in admin session (cookie kept by the client).
#[derive(Debug)]
pub struct AdminSession {
    client: reqwest::Client,
    base_url: String,
}

impl AdminSession {
    /// `POST /api/v1/auth/login`; the session cookie is all a `GET` needs (CSRF guards writes only).
    pub async fn login(base_url: &str, email: &str, password: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        let response = client
            .post(format!("{base_url}/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .context("logging in as the bench admin")?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() || body.get("csrf_token").is_none() {
            bail!("logging in as the bench admin answered {status}: {body}");
        }
        Ok(Self {
            client,
            base_url: base_url.to_string(),
        })
    }

    /// Whether `GET /api/v1/admin/events?status=STATUS&limit=1` lists any event.
    pub async fn has_events(&self, status: &str) -> anyhow::Result<bool> {
        let response = self
            .client
            .get(format!(
                "{}/api/v1/admin/events?status={status}&limit=1",
                self.base_url
            ))
            .send()
            .await?;
        let code = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match body.get("data").and_then(Value::as_array) {
            Some(data) if code.is_success() => Ok(!data.is_empty()),
            _ => bail!("listing {status} events answered {code}: {body}"),
        }
    }
}

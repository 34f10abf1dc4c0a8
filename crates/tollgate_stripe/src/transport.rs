//! The HTTP side of the Stripe client: async-stripe's typed requests sent over our own hyper
//! client, which keeps connections open between calls.
//!
//! async-stripe 1.0.0-rc.10's own client is built with `pool_max_idle_per_host(0)`: every call
//! opened a new TCP connection, and against Stripe a new TLS session too (two round trips and a
//! handshake's CPU before each request). Here hyper's pool keeps idle connections for reuse.
//! Requests, headers and errors are what async-stripe's client sends and returns, so
//! `error.rs` reads failures the same way.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use stripe::{CustomizedStripeRequest, StripeError};
use stripe_client_core::StripeMethod;

use crate::backoff;
use crate::client::ClientConfigError;

/// An idle connection is closed after this long; Stripe's side closes them after a few minutes.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
const STRIPE_ACCOUNT: HeaderName = HeaderName::from_static("stripe-account");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// async-stripe's words for an error status whose body is not Stripe's JSON (`error.rs` relies on them).
pub(crate) const UNREADABLE_ERROR_BODY: &str = "error deserializing Stripe error";

/// One API base and key over a pool of keep-alive connections; cheap to clone.
#[derive(Clone)]
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Ends with `/`; `v1/…` is appended.
    base: String,
    /// `Bearer <key>`, marked sensitive so hyper never prints it.
    authorization: HeaderValue,
    user_agent: HeaderValue,
    version: HeaderValue,
    timeout: Duration,
}

impl Transport {
    pub fn new(
        key: &str,
        base: &str,
        version: &'static str,
        timeout: Duration,
    ) -> Result<Self, ClientConfigError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| ClientConfigError::SecretKey)?;
        authorization.set_sensitive(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            // http: only for the emulator and tests; Stripe itself is https.
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(IDLE_TIMEOUT)
                .build(connector),
            base: format!("{}/", base.trim_end_matches('/')),
            authorization,
            user_agent: HeaderValue::from_static(concat!(
                "Stripe/v1 RustBindings/1.0.0-rc.10 tollgate/",
                env!("CARGO_PKG_VERSION")
            )),
            version: HeaderValue::from_static(version),
            timeout,
        })
    }

    /// The HTTP request, and the time it may take.
    fn request(
        &self,
        request: CustomizedStripeRequest,
    ) -> Result<(Request<Full<Bytes>>, Duration), StripeError> {
        let (request, config) = request.into_pieces();
        let mut uri = format!("{}v1{}", self.base, request.path);
        if let Some(query) = &request.query {
            uri.push('?');
            uri.push_str(query);
        }
        let mut builder = Request::builder()
            .method(match request.method {
                StripeMethod::Get => hyper::Method::GET,
                StripeMethod::Post => hyper::Method::POST,
                StripeMethod::Delete => hyper::Method::DELETE,
            })
            .uri(uri)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(USER_AGENT, self.user_agent.clone())
            .header(STRIPE_VERSION, self.version.clone());
        if let Some(account) = &config.account_id {
            let account = HeaderValue::from_str(account.as_str()).map_err(|_| {
                StripeError::ConfigError("invalid account id set in customizations".into())
            })?;
            builder = builder.header(STRIPE_ACCOUNT, account);
        }
        if let Some(key) = config.request_strategy.as_ref().and_then(|s| s.get_key()) {
            builder = builder.header(IDEMPOTENCY_KEY, key.as_str());
        }
        let body = match request.body {
            Some(body) => {
                builder = builder.header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                Bytes::from(body)
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(body))
            .map_err(|e| StripeError::ClientError(e.to_string()))?;
        Ok((request, config.timeout.unwrap_or(self.timeout)))
    }
}

impl stripe_client_core::StripeClient for Transport {
    type Err = StripeError;

    /// One attempt: the caller (`StripeClient::send`) decides about retries.
    async fn execute(&self, request: CustomizedStripeRequest) -> Result<Bytes, StripeError> {
        let (request, timeout) = self.request(request)?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| StripeError::ClientError(e.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| StripeError::ClientError(e.to_string()))?
                .to_bytes();
            Ok::<_, StripeError>((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| StripeError::Timeout)??;
        if status.is_success() {
            return Ok(body);
        }
        let stripe_error = std::str::from_utf8(&body)
            .ok()
            .and_then(|text| miniserde::json::from_str::<stripe_shared::Error>(text).ok());
        Err(match stripe_error {
            Some(e) => StripeError::Stripe(e.error, status.as_u16()),
            // A proxy's 502 page or a 503 while Stripe recovers: worth another attempt.
            None if backoff::retryable_status(status.as_u16()) => {
                StripeError::JSONDeserialize(UNREADABLE_ERROR_BODY.into())
            }
            // Stripe answers every other error with its JSON: whatever said 404 (or 400, 405)
            // without it is not Stripe's API (issue 24, finding 12).
            None => StripeError::ConfigError(format!(
                "{} answered HTTP {} without Stripe's error body: is stripe.api_base right?",
                self.base,
                status.as_u16()
            )),
        })
    }
}

//! Choosing Stripe at start-up: the real API with the configured key, or a stand-in started
//! in-process (no key configured; the binary provides tollgate's emulator, so this crate does
//! not depend on it), registered to deliver webhooks to this service; then the catalog's
//! lookup keys are resolved to price ids (created on the stand-in).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::connect::ConnectApi;
use tollgate_core::plan::Catalog;
use tollgate_core::stripe::{NewProductPrice, StripeApi};
use tollgate_core::{Secret, token};
use tollgate_stripe::pacing::Pacing;
use tollgate_stripe::webhook::WebhookVerifier;
use tollgate_stripe::{StripeClient, StripeClientConfig};

use crate::config::Config;
use crate::state::StripeSide;

/// The key tollgate uses with its own emulator; it is no secret (the emulator is offline).
const EMULATOR_KEY: &str = "sk_test_tollgate_emulator";

/// What plays Stripe in this process when no secret key is configured.
#[async_trait::async_trait]
pub trait LocalStripe: Send + Sync {
    /// Starts it on `plan.bind`, delivering events to `plan.endpoints`.
    async fn start(&self, plan: LocalStripePlan) -> Result<Box<dyn RunningLocalStripe>, String>;
}

/// A started local Stripe.
#[async_trait::async_trait]
pub trait RunningLocalStripe: Send + Sync {
    /// The API base URL, e.g. `http://127.0.0.1:12111`.
    fn base_url(&self) -> &str;
    async fn shutdown(self: Box<Self>);
}

/// How the local Stripe is to be started: `[emulator]` of the configuration, and this
/// service's two webhook endpoints.
/// Not `Debug`: the endpoints carry their signing secrets.
#[derive(Clone)]
pub struct LocalStripePlan {
    pub bind: SocketAddr,
    pub state_file: Option<PathBuf>,
    pub endpoints: Vec<LocalEndpoint>,
}

/// A webhook endpoint registered on the local Stripe (every event type).
#[derive(Clone)]
pub struct LocalEndpoint {
    pub url: String,
    pub secret: String,
    /// Receives connected accounts' events, as a Connect endpoint does on Stripe.
    pub connect: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start the Stripe emulator: {0}")]
    Emulator(String),
    #[error("Stripe client: {0}")]
    Client(String),
    #[error("plan {plan:?}: {message}")]
    Catalog { plan: String, message: String },
    #[error("{0}")]
    Misconfigured(String),
}

/// Starts what Stripe is for this process. `own_addr` is where this service listens, so the
/// emulator can deliver webhooks to it.
pub async fn connect(
    config: &Config,
    own_addr: SocketAddr,
    local: &dyn LocalStripe,
) -> Result<(StripeSide, Option<Box<dyn RunningLocalStripe>>), BackendError> {
    let tolerance = Duration::from_secs(config.stripe.webhook_tolerance_seconds);
    let mut secrets = config.stripe.webhook_secrets.clone();
    secrets.extend(config.connect.thin_webhook_secrets.iter().cloned());
    let mut connect_secrets = config.connect.webhook_secrets.clone();
    let (client_config, emulator) = match &config.stripe.secret_key {
        Some(key) => {
            let mut client = StripeClientConfig::new(key.clone());
            client.api_base = config.stripe.api_base.clone();
            client.pacing = config.stripe.pacing();
            (client, None)
        }
        None => {
            let secret = format!("whsec_{}", token::generate().expose());
            let connect_secret = format!("whsec_{}", token::generate().expose());
            let host = if own_addr.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                own_addr.ip().to_string()
            };
            let own = |path: &str| format!("http://{host}:{}{path}", own_addr.port());
            let emulator = local
                .start(LocalStripePlan {
                    bind: config.emulator.bind,
                    state_file: (!config.emulator.state_file.is_empty())
                        .then(|| config.emulator.state_file.clone().into()),
                    endpoints: vec![
                        LocalEndpoint {
                            url: own("/api/v1/stripe/webhook"),
                            secret: secret.clone(),
                            connect: false,
                        },
                        // Events of connected accounts go to their own endpoint, as on Stripe.
                        LocalEndpoint {
                            url: own("/api/v1/stripe/connect/webhook"),
                            secret: connect_secret.clone(),
                            connect: true,
                        },
                    ],
                })
                .await
                .map_err(BackendError::Emulator)?;
            tracing::warn!(
                emulator.url = %emulator.base_url(),
                "TEST MODE: no STRIPE_SECRET_KEY configured, running against tollgate's own Stripe emulator; no real money moves"
            );
            secrets.push(Secret::new(secret));
            connect_secrets.push(Secret::new(connect_secret));
            let mut client = StripeClientConfig::new(Secret::new(EMULATOR_KEY.to_string()));
            client.api_base = Some(emulator.base_url().to_string());
            // The emulator has no rate limits to stay under.
            client.pacing = Pacing::OFF;
            (client, Some(emulator))
        }
    };
    let client = Arc::new(
        StripeClient::new(client_config).map_err(|e| BackendError::Client(e.to_string()))?,
    );
    let stripe: Arc<dyn StripeApi> = client.clone();
    let connect: Arc<dyn ConnectApi> = client;
    if emulator.is_none() {
        check_stripe(stripe.as_ref()).await?;
    }
    let catalog = resolve_catalog(config.catalog(), stripe.as_ref(), emulator.is_some()).await?;
    let test_clock = match config.stripe.test_clock.as_deref() {
        Some("new") => {
            let now = time::OffsetDateTime::now_utc();
            let id = stripe
                .create_test_clock(
                    now,
                    "tollgate",
                    &format!("tollgate-clock-{}", uuid::Uuid::new_v4()),
                )
                .await
                .map_err(|e| BackendError::Client(format!("cannot create a test clock: {e}")))?;
            tracing::info!(stripe.test_clock = %id, "new customers live on a test clock");
            Some(id)
        }
        other => other.map(str::to_string),
    };
    let side = StripeSide {
        stripe,
        connect,
        catalog,
        webhooks: WebhookVerifier::new(secrets, tolerance),
        connect_webhooks: WebhookVerifier::new(connect_secrets, tolerance),
        emulated: emulator.is_some(),
        test_clock,
    };
    Ok((side, emulator))
}

/// One cheap read at start, so that a wrong `stripe.api_base` is a clear error now rather
/// than a 503 on every request later (issue 24, finding 12). An unreachable Stripe only warns:
/// it may come back; a wrong key is logged loudly.
async fn check_stripe(stripe: &dyn StripeApi) -> Result<(), BackendError> {
    use tollgate_core::stripe::StripeError;
    match stripe.price_by_lookup_key("tollgate-start-up-check").await {
        Ok(_) => Ok(()),
        Err(StripeError::Misconfigured(detail)) => Err(BackendError::Misconfigured(format!(
            "Stripe is misconfigured: {detail}"
        ))),
        Err(StripeError::Authentication) => {
            tracing::error!(
                "Stripe refused the configured secret key (STRIPE_SECRET_KEY): every Stripe call will fail until it is fixed"
            );
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach Stripe at start; carrying on");
            Ok(())
        }
    }
}

/// Gives every lookup-key plan its price id. On the emulator a missing price is created; on
/// Stripe it is an error in the configuration, except that an unreachable Stripe only warns
/// (the plan answers `plan_unavailable` until a restart finds it).
async fn resolve_catalog(
    mut catalog: Catalog,
    stripe: &dyn StripeApi,
    emulated: bool,
) -> Result<Catalog, BackendError> {
    for plan in &mut catalog.plans {
        let Some(lookup_key) = plan.lookup_key().map(str::to_string) else {
            continue;
        };
        let found = match stripe.price_by_lookup_key(&lookup_key).await {
            Ok(found) => found,
            Err(e) if !emulated => {
                tracing::warn!(plan = %plan.id, error = %e, "cannot resolve the plan's price now");
                continue;
            }
            Err(e) => {
                return Err(BackendError::Catalog {
                    plan: plan.id.clone(),
                    message: e.to_string(),
                });
            }
        };
        let price = match found {
            Some(price) => price,
            None if emulated => stripe
                .create_product_and_price(&NewProductPrice {
                    product_name: plan.name.clone(),
                    lookup_key: lookup_key.clone(),
                    unit_amount: plan.amount,
                    currency: plan.currency.clone(),
                    interval: Some(plan.interval.as_str().to_string()),
                    idempotency_key: format!("tollgate-plan-{lookup_key}"),
                })
                .await
                .map_err(|e| BackendError::Catalog {
                    plan: plan.id.clone(),
                    message: e.to_string(),
                })?,
            None => {
                return Err(BackendError::Catalog {
                    plan: plan.id.clone(),
                    message: format!("Stripe has no active price with lookup key {lookup_key:?}"),
                });
            }
        };
        plan.price_id = Some(price.id);
    }
    Ok(catalog)
}

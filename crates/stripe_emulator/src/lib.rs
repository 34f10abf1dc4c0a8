//! An offline, stateful Stripe emulator: REST API on `/v1`, hosted checkout and portal pages, signed webhooks,
//! test clocks and chaos knobs. It shares no code with any Stripe client on purpose: it is built from Stripe's
//! documentation so that a client's mistakes cannot cancel out against the emulator's.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stripe_emulator::StartError> {
//! let emulator = stripe_emulator::start(stripe_emulator::EmulatorConfig::default()).await?;
//! println!("Stripe API base: {}", emulator.base_url());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

mod account;
mod api;
mod api_error;
mod balance;
mod catalog;
mod checkout;
mod config;
mod connect_page;
mod coupon;
mod customer;
mod event_destination;
mod hosted_page;
mod invoice;
mod ledger;
mod param_table;
mod params;
mod payment;
mod portal;
mod setup;
mod snapshot;
mod subscription;
mod test_clock;
mod transfer;
mod webhook;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

pub use config::{
    BillingConfig, ChaosConfig, DeliveryConfig, EmulatorConfig, FinalAction, WebhookEndpointConfig,
};
pub use webhook::{sign, signature_header};

/// The one Stripe API version whose object shapes the emulator speaks (that of `async-stripe` 1.0.0-rc.10).
pub const API_VERSION: &str = "2026-09-30.endive";

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read state file {path}: {message}")]
    StateFile { path: String, message: String },
}

/// What the handlers share: the state behind one lock, and the way out to the webhook worker.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub config: EmulatorConfig,
    pub base_url: String,
    pub deliveries: mpsc::UnboundedSender<webhook::Job>,
}

pub(crate) use ledger::State;

impl Shared {
    /// Locks the state; a poisoned lock only means a handler panicked, and the data is still usable.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// After a change: plans deliveries for the events it emitted and snapshots the state.
    pub fn commit(&self, st: &mut State) {
        let jobs = webhook::plan(st);
        if let Some(path) = &self.config.state_file {
            snapshot::save(path, st);
        }
        for job in jobs {
            // The worker only stops at shutdown, when nothing is left to deliver to.
            let _ = self.deliveries.send(job);
        }
    }
}

/// A running emulator; drop it or call `shutdown` to stop serving.
pub struct RunningEmulator {
    local_addr: SocketAddr,
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl RunningEmulator {
    /// The address actually bound (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:<port>`: the API base for Stripe clients (`/v1/...` hangs below it).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Registers one more webhook endpoint on a running emulator (for a receiver that binds after the emulator);
    /// returns its `we_…` id. It survives `/_emulator/reset` only if it was in the config.
    pub fn add_webhook_endpoint(&self, endpoint: WebhookEndpointConfig) -> String {
        let mut st = self.shared.lock();
        let id = webhook::register_configured(&mut st, &endpoint);
        self.shared.commit(&mut st);
        id
    }

    /// Stops accepting requests, lets in-flight ones finish, stops webhook delivery and writes the snapshot.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
        self.worker.abort();
        self.sweeper.abort();
        if let Some(path) = &self.shared.config.state_file {
            let st = self.shared.lock();
            snapshot::save(path, &st);
        }
    }
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("local_addr", &self.local_addr)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.worker.abort();
        self.sweeper.abort();
    }
}

/// Binds the configured address, then serves in a spawned task; returns once the socket accepts connections.
pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, StartError> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.bind,
        source,
    })?;
    let base_url = config
        .public_base_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{local_addr}"));

    let state = match config.state_file.as_deref().map(snapshot::load) {
        Some(Ok(Some(mut state))) => {
            apply_config(&mut state, &config);
            state
        }
        Some(Err(message)) => {
            return Err(StartError::StateFile {
                path: config
                    .state_file
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                message,
            });
        }
        _ => fresh_state(&config),
    };
    let mut state = state;
    state.base_url = base_url.clone();

    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        config,
        base_url: base_url.clone(),
        deliveries: tx,
    });
    let worker = tokio::spawn(webhook::run_worker(shared.clone(), rx));
    let sweeper = tokio::spawn(sweep_expired_sessions(shared.clone()));
    let app = api::router(shared.clone());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "stripe emulator stopped serving");
        }
    });
    tracing::info!(addr = %local_addr, "stripe emulator listening");
    Ok(RunningEmulator {
        local_addr,
        base_url,
        stop: Some(stop_tx),
        server,
        worker,
        sweeper,
        shared,
    })
}

/// A new, empty state with the configured endpoints registered.
pub(crate) fn fresh_state(config: &EmulatorConfig) -> State {
    let seed = config.seed.unwrap_or_else(rand::random);
    let mut st = State::new(seed, config.fixed_time);
    apply_config(&mut st, config);
    st
}

/// Makes a (possibly restored) state follow the config it starts with: settings, and the configured webhook
/// endpoints. A restart may bring a new secret or URL (`tollgate serve` makes a fresh secret each start), so
/// endpoints that came from an earlier config are replaced; endpoints created over the API are kept.
fn apply_config(st: &mut State, config: &EmulatorConfig) {
    st.fixed_time = config.fixed_time;
    st.chaos = config.chaos.clone();
    st.billing_config = config.billing.clone();
    for old in std::mem::take(&mut st.config_endpoints) {
        st.remove(ledger::PLATFORM, "webhook_endpoint", &old);
        st.remove(ledger::PLATFORM, "v2.core.event_destination", &old);
        st.endpoint_secrets.remove(&old);
        st.endpoint_chaos.remove(&old);
        st.connect.connect_endpoints.retain(|e| *e != old);
    }
    for endpoint in &config.webhook_endpoints {
        let id = webhook::register_configured(st, endpoint);
        st.config_endpoints.push(id);
    }
}

/// Checkout Sessions expire on their own at `expires_at`, with their `checkout.session.expired` event.
async fn sweep_expired_sessions(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let mut st = shared.lock();
        checkout::sweep(&mut st);
        checkout::settle_async_payments(&mut st);
        if !st.outbox.is_empty() {
            shared.commit(&mut st);
        }
    }
}

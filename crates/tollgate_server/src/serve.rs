//! Starting and stopping the HTTP service: bind first (so port 0 works and tests need no
//! sleeps), then serve in a task until asked to shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tollgate_core::{Clock, Store, SystemClock};
use tollgate_store::SqlStore;

use crate::config::Config;
use crate::routes;
use crate::state::AppState;
use crate::stripe_backend::{LocalStripe, RunningLocalStripe};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Database(#[from] tollgate_store::ConnectError),
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Stripe(#[from] crate::stripe_backend::BackendError),
}

/// A running service.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    emulator: Option<Box<dyn RunningLocalStripe>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The in-process Stripe stand-in's base URL, when tollgate runs against it.
    pub fn emulator_url(&self) -> Option<&str> {
        self.emulator.as_ref().map(|e| e.base_url())
    }

    /// Stops accepting connections, lets requests in flight finish, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        // Background work is leased in the database: stopping mid-way loses nothing.
        for task in &self.background {
            task.abort();
        }
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "server stopped with an error"),
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
    }
}

/// Connects to the configured database and applies pending migrations: for the commands
/// that run beside a server (`admin`, `ledger`), which leave the inbox journal to it.
pub async fn open_store(config: &Config) -> Result<SqlStore, tollgate_store::ConnectError> {
    let store = SqlStore::connect(
        config.database.url.expose(),
        config.database.max_connections,
    )
    .await?;
    let applied = store.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, "applied database migrations");
    }
    if config.database.row_level_security {
        return store.with_row_level_security().await;
    }
    Ok(store)
}

/// How long a starting server waits for another holder of the inbox journal (its
/// predecessor, still stopping) before it refuses to start.
const JOURNAL_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `open_store`, then the inbox journal in front of the webhook inbox (a SQLite file, unless
/// `database.inbox_journal` is off): for the process that serves webhooks.
pub async fn open_serving_store(config: &Config) -> Result<SqlStore, tollgate_store::ConnectError> {
    let store = open_store(config).await?;
    if !config.database.inbox_journal {
        return Ok(store);
    }
    store.with_inbox_journal(JOURNAL_LOCK_WAIT).await
}

/// `open_store` for a command that reads the inbox (`events`): with the inbox journal when no
/// server holds it, so that what a stopped server acknowledged is listed too; otherwise the
/// rows alone, which the running server keeps folding.
pub async fn open_inbox_store(config: &Config) -> Result<SqlStore, tollgate_store::ConnectError> {
    let store = open_store(config).await?;
    if !config.database.inbox_journal {
        return Ok(store);
    }
    match store
        .clone()
        .with_inbox_journal(std::time::Duration::ZERO)
        .await
    {
        Err(e) if e.is_journal_held() => Ok(store),
        outcome => outcome,
    }
}

/// Binds `config.server.bind` and serves the API on it; `local` is started as Stripe when no
/// secret key is configured.
pub async fn start(
    config: Config,
    store: Arc<dyn Store>,
    local: &dyn LocalStripe,
) -> Result<Running, StartError> {
    start_with_clock(config, store, Arc::new(SystemClock), local).await
}

pub async fn start_with_clock(
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    local: &dyn LocalStripe,
) -> Result<Running, StartError> {
    let bind = config.server.bind;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| StartError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr: bind, source })?;
    let mut config = config;
    if config.server.base_url == crate::config::ServerConfig::default().base_url {
        // Not configured: links point at the address actually bound (port 0, --bind, PORT).
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        config.server.base_url = format!("http://{host}:{}", addr.port());
    }
    let (stripe, emulator) = crate::stripe_backend::connect(&config, addr, local).await?;
    let state = AppState::new(config, store, clock, stripe)?;
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        SocketAddr,
    >(routes::app(state.clone()));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let mut background = vec![tokio::spawn(sweep_sessions(state.clone()))];
    if state.config.worker.enabled {
        for _ in 0..state.config.worker.concurrency {
            background.push(tokio::spawn(crate::worker::run(state.clone())));
        }
        background.push(tokio::spawn(crate::notify::run(state.clone())));
        background.push(tokio::spawn(resend_unsent_refunds(state.clone())));
    }
    Ok(Running {
        addr,
        state,
        stop,
        server,
        background,
        emulator,
    })
}

/// Asks Stripe again for refunds a stopped process admitted but never heard back about. Safe
/// on several instances at once: the idempotency key makes a second ask return the same refund.
async fn resend_unsent_refunds(state: AppState) {
    let every = Duration::from_secs(state.config.worker.unsent_refund_after_seconds);
    let older_than = time::Duration::try_from(every).unwrap_or(time::Duration::DAY);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match state.billing().resend_unsent_refunds(older_than).await {
            Ok(resent) if resent == Default::default() => {}
            Ok(resent) => tracing::info!(
                sent = resent.sent,
                refused = resent.refused,
                "asked Stripe again for refunds that had no answer"
            ),
            Err(e) => tracing::warn!(error = %e, "could not resend unsent refunds"),
        }
    }
}

/// Deletes expired sessions hourly so the table does not grow without bound.
async fn sweep_sessions(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match state.store.delete_expired_sessions(state.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "deleted expired sessions"),
            Err(e) => tracing::warn!(error = %e, "could not delete expired sessions"),
        }
    }
}

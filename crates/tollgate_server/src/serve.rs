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
}

/// A running service.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets requests in flight finish, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        self.sweeper.abort();
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "server stopped with an error"),
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
    }
}

/// Connects to the configured database and applies pending migrations.
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
    Ok(store)
}

/// Binds `config.server.bind` and serves the API on it.
pub async fn start(config: Config, store: Arc<dyn Store>) -> Result<Running, StartError> {
    start_with_clock(config, store, Arc::new(SystemClock)).await
}

pub async fn start_with_clock(
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Result<Running, StartError> {
    let bind = config.server.bind;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| StartError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr: bind, source })?;
    let state = AppState::new(config, store, clock)?;
    let app = routes::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let sweeper = tokio::spawn(sweep_sessions(state.clone()));
    Ok(Running {
        addr,
        state,
        stop,
        server,
        sweeper,
    })
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

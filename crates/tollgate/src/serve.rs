//! `tollgate serve` and `tollgate migrate`.

use std::sync::Arc;

use anyhow::Context;
use tollgate_core::AccountStore;
use tollgate_core::account::Role;
use tollgate_server::{Config, serve, telemetry};

use crate::Failure;

pub async fn migrate(config: Config) -> Result<(), Failure> {
    telemetry::init(config.server.log_format);
    let store = tollgate_store::SqlStore::connect(config.database.url.expose(), 1)
        .await
        .context("connecting to the database")?;
    let applied = store.migrate().await.context("migrating")?;
    if applied.is_empty() {
        println!("database is up to date");
    } else {
        println!("applied migrations: {applied:?}");
    }
    store.close().await;
    Ok(())
}

pub async fn run(config: Config) -> Result<(), Failure> {
    telemetry::init(config.server.log_format);
    let store = serve::open_serving_store(&config)
        .await
        .context("opening the database")?;
    let running = serve::start(
        config,
        Arc::new(store.clone()),
        &crate::local_stripe::Emulator,
    )
    .await
    .context("starting the server")?;
    let base = running.state.config.server.base_url.clone();
    println!(
        "tollgate listening on {} (public URL {base})",
        running.url()
    );
    if let Some(emulator) = running.emulator_url() {
        println!(
            "TEST MODE: no STRIPE_SECRET_KEY, so Stripe is tollgate's own emulator at {emulator}; pay with card 4242 4242 4242 4242"
        );
    }
    if store
        .count_users(Some(Role::Admin))
        .await
        .context("counting admins")?
        == 0
    {
        let token = running.state.setup.issue();
        println!(
            "No admin yet. Create the first one at {base}/setup?token={} (valid until this process stops), \
             or run: tollgate admin create --email you@example.com",
            token.expose()
        );
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    // A clean stop leaves the journal empty, so the database file alone is the whole inbox;
    // if this fails, the next start (or `tollgate events`) folds what is left.
    if let Err(e) = store.fold_inbox_journal().await {
        tracing::warn!(error = %e, "the inbox journal could not be folded at shutdown");
    }
    store.close().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM from a process manager.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

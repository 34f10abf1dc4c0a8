//! `tollgate emulator`: the offline Stripe emulator on its own, for other applications and
//! Stripe's official client libraries to run against.

use anyhow::Context;
use tollgate_server::{Config, telemetry};

use crate::Failure;
use crate::cli::EmulatorArgs;

pub async fn run(config: Config, args: EmulatorArgs) -> Result<(), Failure> {
    telemetry::init(config.server.log_format);
    if !args.webhook_secret.starts_with("whsec_") {
        return Err(Failure::Usage(
            "--webhook-secret must start with whsec_".into(),
        ));
    }
    let endpoints = args
        .webhook_urls
        .iter()
        .map(|url| stripe_emulator::WebhookEndpointConfig {
            url: url.clone(),
            secret: args.webhook_secret.clone(),
            enabled_events: vec!["*".to_string()],
            ..Default::default()
        })
        .collect();
    let emulator = stripe_emulator::start(stripe_emulator::EmulatorConfig {
        bind: args.bind,
        state_file: args.state,
        webhook_endpoints: endpoints,
        ..Default::default()
    })
    .await
    .context("starting the emulator")?;
    println!(
        "Stripe emulator listening on {} (API base for any sk_test_… key)",
        emulator.base_url()
    );
    crate::serve::shutdown_signal().await;
    emulator.shutdown().await;
    Ok(())
}

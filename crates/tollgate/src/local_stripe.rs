//! tollgate's own Stripe emulator as the local Stripe of `tollgate serve` when no secret key
//! is configured. The server's integration tests include this file too (by path), so that
//! they start the service exactly as the binary does.

use stripe_emulator::{EmulatorConfig, RunningEmulator, WebhookEndpointConfig};
use tollgate_server::stripe_backend::{LocalStripe, LocalStripePlan, RunningLocalStripe};

/// Starts the emulator in this process.
pub struct Emulator;

#[async_trait::async_trait]
impl LocalStripe for Emulator {
    async fn start(&self, plan: LocalStripePlan) -> Result<Box<dyn RunningLocalStripe>, String> {
        let endpoints = plan
            .endpoints
            .into_iter()
            .map(|endpoint| WebhookEndpointConfig {
                url: endpoint.url,
                secret: endpoint.secret,
                enabled_events: vec!["*".to_string()],
                connect: endpoint.connect,
                ..Default::default()
            })
            .collect();
        let running = stripe_emulator::start(EmulatorConfig {
            bind: plan.bind,
            webhook_endpoints: endpoints,
            state_file: plan.state_file,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(Box::new(Started(running)))
    }
}

struct Started(RunningEmulator);

#[async_trait::async_trait]
impl RunningLocalStripe for Started {
    fn base_url(&self) -> &str {
        self.0.base_url()
    }

    async fn shutdown(self: Box<Self>) {
        self.0.shutdown().await;
    }
}

//! `[emulator]`: where the in-process Stripe emulator listens and keeps its state.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The Stripe emulator `serve` starts in-process when no Stripe key is configured.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Address of the emulator's API and hosted pages (port 0: any free port).
    pub bind: SocketAddr,
    /// Where the emulator keeps its state across restarts (empty: in memory only).
    pub state_file: String,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_file: "data/emulator.json".to_string(),
        }
    }
}

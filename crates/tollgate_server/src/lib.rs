//! tollgate's HTTP service: routes, authentication, configuration, logs and metrics.

pub mod auth;
pub mod config;
pub mod error;
pub mod inbox_writer;
pub mod json;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod pages;
pub mod path;
pub mod routes;
pub mod serve;
pub mod setup;
pub mod state;
pub mod stripe_backend;
pub mod telemetry;
pub mod wire;
pub mod worker;

pub use config::Config;
pub use serve::{Running, start};
pub use state::AppState;

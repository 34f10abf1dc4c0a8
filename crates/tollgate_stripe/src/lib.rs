//! tollgate's Stripe adapter: the `StripeApi` port over async-stripe, Stripe webhook signature verification and event envelopes.
//!
//! - [`StripeClient`] implements [`tollgate_core::stripe::StripeApi`] against Stripe or the emulator.
//! - [`webhook::WebhookVerifier`] checks `Stripe-Signature`; [`webhook::parse_envelope`] reads the
//!   few fields the inbox stores, cheaply enough for the acknowledgement path.

mod backoff;
mod client;
mod connect;
pub mod envelope;
mod error;
mod mapping;
pub mod pacing;
mod transport;
pub mod webhook;

pub use client::{
    API_VERSION, ClientConfigError, STRIPE_API_BASE, StripeClient, StripeClientConfig, is_live_key,
};

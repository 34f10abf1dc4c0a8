//! The HTTP API, end to end: a real server on port 0 over a real database (SQLite always,
//! PostgreSQL when TOLLGATE_TEST_POSTGRES_URL is set), driven with reqwest.

mod accounts;
mod admin;
mod api_keys;
mod chaos;
mod connect;
mod contract;
mod contracts;
mod credits;
mod faults;
mod http;
mod jwt;
mod notifications;
mod outage;
mod pages;
mod properties;
#[path = "../common/real_stripe.rs"]
mod real_stripe;
mod renewals;
mod router_matrix;
#[path = "../common/smtp.rs"]
mod smtp;
mod subscriptions;
mod support;
mod tenant_matrix;
mod webhooks;

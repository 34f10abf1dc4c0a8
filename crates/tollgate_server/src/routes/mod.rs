//! The route table: every path tollgate serves and the layers around them.

pub(crate) mod accounts;
mod admin;
mod api_keys;
mod billing;
pub(crate) mod connect;
mod credits;
mod credits_admin;
mod events;
mod health;
mod seed;
mod setup;
mod tenant_billing;
mod tenant_contracts;
mod tenants;
mod test_clock;
mod webhook;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{delete, get, post};
use tower::Service;

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// Every route, with the layers every request goes through. Those layers wrap the router as
/// a whole: `Router::layer` would wrap each route in them, and axum boxes each wrapped route
/// and its future on every request (6 allocations of a webhook delivery's ~50;
/// docs/benchmarks.md).
pub fn app(
    state: AppState,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    let body_limit = state.config.server.body_limit_bytes;
    tower::ServiceBuilder::new()
        .layer(telemetry::ObserveLayer::new(state.clone()))
        .layer(DefaultBodyLimit::max(body_limit))
        .service(router(state))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/auth/signup", post(accounts::signup))
        .route("/api/v1/auth/login", post(accounts::login))
        .route("/api/v1/auth/logout", post(accounts::logout))
        .route(
            "/api/v1/auth/logout-everywhere",
            post(accounts::logout_everywhere),
        )
        .route("/api/v1/sessions", get(accounts::sessions))
        .route("/api/v1/me", get(accounts::me))
        .route(
            "/api/v1/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route("/api/v1/api-keys/{id}", delete(api_keys::revoke))
        .route("/api/v1/admin/users", get(admin::users))
        .route("/api/v1/admin/audit", get(admin::audit))
        .route(
            "/api/v1/admin/mentors",
            get(admin::mentors).post(admin::create_mentor),
        )
        .route(
            "/api/v1/admin/users/{id}/mentor",
            post(admin::assign_mentor),
        )
        // Stripe Connect (seed 003): the platform admin's tenants, a tenant admin's onboarding.
        .route(
            "/api/v1/admin/tenants",
            get(tenants::list).post(tenants::create),
        )
        .route(
            "/api/v1/admin/tenants/{id}",
            get(tenants::show).patch(tenants::update),
        )
        .route(
            "/api/v1/admin/tenants/{id}/admins",
            post(tenants::create_admin),
        )
        .route("/api/v1/connect/account", post(connect::create_account))
        .route("/api/v1/connect/account-link", post(connect::account_link))
        .route("/api/v1/connect/status", get(connect::status))
        .route(
            "/api/v1/tenant/customers",
            get(tenant_billing::customers).post(tenant_billing::create_customer),
        )
        .route(
            "/api/v1/tenant/invoices",
            get(tenant_billing::invoices).post(tenant_billing::create_invoice),
        )
        .route("/api/v1/tenant/invoices/{id}", get(tenant_billing::invoice))
        .route(
            "/api/v1/tenant/invoices/{id}/send",
            post(tenant_billing::send_invoice),
        )
        .route(
            "/api/v1/tenant/invoices/{id}/void",
            post(tenant_billing::void_invoice),
        )
        .route("/api/v1/tenant/refunds", post(tenant_billing::refund))
        .route(
            "/api/v1/tenant/contracts",
            get(tenant_contracts::list).post(tenant_contracts::create),
        )
        .route(
            "/api/v1/tenant/contracts/{id}",
            get(tenant_contracts::show).patch(tenant_contracts::change),
        )
        .route(
            "/api/v1/tenant/contracts/{id}/cancel",
            post(tenant_contracts::cancel),
        )
        .route("/api/stripe/connect/create", post(connect::seed_create))
        .route("/api/stripe/connect/status", get(connect::status))
        .route("/api/v1/admin/events", get(events::list))
        .route(
            "/api/v1/admin/events/replay-failed",
            post(events::replay_failed),
        )
        .route("/api/v1/admin/events/{id}", get(events::show))
        .route("/api/v1/admin/events/{id}/replay", post(events::replay))
        .route(
            "/api/v1/admin/test-clock/advance",
            post(test_clock::advance),
        )
        .route("/api/v1/plans", get(billing::plans))
        .route(
            "/api/v1/checkout/subscription",
            post(billing::start_checkout),
        )
        .route(
            "/api/v1/checkout/sessions/{id}",
            get(billing::checkout_session),
        )
        .route("/api/v1/subscription", get(billing::my_subscription))
        .route("/api/v1/subscription/cancel", post(billing::cancel))
        .route("/api/v1/subscription/resume", post(billing::resume))
        .route("/api/v1/billing-portal", post(billing::portal))
        .route("/api/v1/invoices", get(billing::invoices))
        .route("/api/v1/entitlements", get(billing::my_entitlements))
        .route(
            "/api/v1/users/{id}/subscription",
            get(billing::user_subscription),
        )
        .route(
            "/api/v1/users/{id}/entitlements",
            get(billing::user_entitlements),
        )
        // Credits (issue 5).
        .route("/api/v1/credit-packages", get(credits::packages))
        .route("/api/v1/checkout/credits", post(credits::checkout))
        .route("/api/v1/payment-intents", post(credits::create_intent))
        .route("/api/v1/payment-intents/{id}", get(credits::show_intent))
        .route("/api/v1/payments", get(credits::payments))
        .route("/api/v1/payments/{id}", get(credits::payment))
        .route("/api/v1/balance", get(credits::balance))
        .route("/api/v1/ledger", get(credits::ledger))
        .route("/api/v1/usage", get(credits::usage))
        .route("/api/v1/usage/consume", post(credits::consume))
        .route("/api/v1/coupons/redeem", post(credits::redeem))
        .route("/api/v1/referral", get(credits::referral))
        .route("/api/v1/admin/refunds", post(credits_admin::refund))
        .route(
            "/api/v1/admin/coupons",
            get(credits_admin::coupons).post(credits_admin::create_coupon),
        )
        .route(
            "/api/v1/admin/balances/negative",
            get(credits_admin::negative_balances),
        )
        // Seed 002's contract: the same handlers.
        .route("/api/stripe/credit-packages", get(credits::packages))
        .route("/api/stripe/checkout-session", post(credits::checkout))
        .route(
            "/api/stripe/checkout-session/{id}",
            get(billing::checkout_session),
        )
        .route("/api/stripe/payment-intent", post(credits::create_intent))
        .route("/api/stripe/payment-intent/{id}", get(credits::show_intent))
        .route("/api/stripe/payments", get(credits::payments))
        .route("/api/stripe/payments/{id}", get(credits::payment))
        .route("/api/stripe/refund", post(credits_admin::refund))
        .route("/user/balance", get(credits::balance))
        // The webhook and its seed aliases (000, 002, 003: /api/stripe/webhook; 001:
        // /api/webhooks/stripe; 004: /webhook/stripe/{token}).
        .route("/api/v1/stripe/webhook", post(webhook::receive))
        // Connected accounts' events, signed with the Connect endpoint's secrets.
        .route(
            "/api/v1/stripe/connect/webhook",
            post(webhook::receive_connect),
        )
        .route("/api/stripe/webhook", post(webhook::receive))
        .route("/api/webhooks/stripe", post(webhook::receive))
        .route("/webhook/stripe/{token}", post(webhook::receive_with_token))
        // Seed 000 and 001 contracts.
        .route(
            "/api/stripe/create-checkout-session",
            post(seed::create_checkout_000),
        )
        .route(
            "/api/create-checkout-session",
            post(seed::create_checkout_001),
        )
        .route(
            "/api/retrieve-checkout-session",
            post(seed::retrieve_checkout_001),
        )
        .route("/api/cancel-subscription", post(seed::cancel_001))
        .route("/api/create-portal-session", post(seed::portal_001))
        .route("/api/subscription/{user_id}", get(seed::subscription_001))
        .route("/api/v1/setup", post(setup::create_first_admin))
        .route("/setup", get(setup::page).post(setup::submit))
        .merge(crate::pages::routes())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // A route layer: only inside a route is the matched pattern known.
        .route_layer(telemetry::TagRouteLayer)
        .with_state(state)
}

/// Whether a path stays on this service (no open redirects after sign-in).
pub(crate) fn is_local_path(path: &str) -> bool {
    billing::local_path("next", path).is_ok()
}

/// The client's IP for rate limits: the peer address, or the first `X-Forwarded-For` hop
/// when configured to trust a proxy in front.
pub(crate) fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    if state.config.server.trust_forwarded_for
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}

//! Server-rendered pages: the member's billing page and the admin console. Templates
//! (`templates/`, askama, escaped by default) and assets are compiled into the binary. Every
//! handler calls the same core use-cases as the JSON API; every state-changing form carries a
//! CSRF token (`session.rs`); everything works without JavaScript.

mod admin;
mod assets;
mod chart;
mod connect;
pub mod form_token;
pub mod format;
mod layout;
mod member;
mod refunds;
pub mod session;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::error::{ApiError, ErrorDetail};
use crate::state::AppState;
pub use layout::Layout;

/// The routes of the pages, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .route("/", get(member::home))
        // Stripe Connect onboarding (seed 003), and the seed's own return and refresh paths.
        .route(
            "/connect/onboarding/return",
            get(connect::onboarding_return),
        )
        .route(
            "/connect/onboarding/refresh",
            get(connect::onboarding_refresh),
        )
        .route(
            "/api/stripe/onboarding-complete",
            get(connect::onboarding_return),
        )
        .route(
            "/api/stripe/onboarding-refresh",
            get(connect::onboarding_refresh),
        )
        .route("/dashboard", get(member::dashboard))
        .route("/signup", get(member::signup_page).post(member::signup))
        .route("/login", get(member::login_page).post(member::login))
        .route("/logout", post(member::logout))
        .route("/billing/subscribe", post(member::subscribe))
        .route("/billing/credits", post(member::buy_credits))
        .route("/billing/return", get(member::checkout_return))
        .route("/billing/portal", post(member::portal))
        .route("/billing/cancel", post(member::cancel))
        .route("/billing/resume", post(member::resume))
        .route("/account/keys", get(member::keys).post(member::create_key))
        .route("/account/keys/{id}/revoke", post(member::revoke_key))
        .route("/account/sessions/end-all", post(member::end_all_sessions))
        .route("/admin", get(admin::overview))
        .route("/admin/members", get(admin::members))
        .route("/admin/members/{id}", get(admin::member))
        .route("/admin/members/{id}/mentor", post(admin::assign_mentor))
        .route(
            "/admin/mentors",
            get(admin::mentors).post(admin::create_mentor),
        )
        .route(
            "/admin/payments/{id}/refund",
            get(refunds::confirm).post(refunds::refund),
        )
        .route("/admin/events", get(admin::events))
        .route("/admin/events/replay-failed", post(admin::replay_failed))
        .route("/admin/events/{id}", get(admin::event))
        .route("/admin/events/{id}/replay", post(admin::replay_event))
        .route("/admin/audit", get(admin::audit))
}

/// Why a page could not be shown: the visitor must sign in, or an error shown as a page.
#[derive(Debug)]
pub enum PageError {
    SignIn { next: String },
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(error: E) -> Self {
        PageError::Api(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    code: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { next } => {
                let next = if super::routes::is_local_path(&next) {
                    next
                } else {
                    "/".to_string()
                };
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish();
                Redirect::to(&format!("/login?{query}")).into_response()
            }
            PageError::Api(error) => {
                let status = error.status();
                let code = error.code().as_str();
                let (message, detail) = error.page_message();
                let page = ErrorPage {
                    layout: Layout::bare(status_title(status), false),
                    status: status.as_u16(),
                    code,
                    message,
                };
                let mut response = (status, html(&page)).into_response();
                if let Some(detail) = detail {
                    response.extensions_mut().insert(ErrorDetail(detail));
                }
                response
            }
        }
    }
}

fn status_title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "Please sign in",
        403 => "Not allowed",
        404 => "Not found",
        409 => "Not possible right now",
        402 => "Payment declined",
        429 => "Too many attempts",
        400..=499 => "Something is not right",
        _ => "Something went wrong",
    }
}

/// Renders a template; a rendering failure is a 500 whose detail is logged, never shown.
pub fn html<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = Html(body).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            let mut response = (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>Something went wrong.</p>"),
            )
                .into_response();
            response
                .extensions_mut()
                .insert(ErrorDetail(format!("template: {e}")));
            response
        }
    }
}

/// A 303 to a page on this service, after a form post.
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// Short confirmations shown after an action; only these fixed texts can appear.
pub fn notice(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "checkout_cancelled" => "Checkout was cancelled; nothing was charged.",
        "credits_pending" => {
            "Thank you: your credits appear as soon as Stripe confirms the payment."
        }
        "refund_requested" => "Refund issued; it is applied when Stripe confirms it.",
        "cancelled" => "Your subscription will end at the end of the paid period.",
        "resumed" => "Your subscription will renew as before.",
        "already_subscribed" => "You already have a subscription; manage it below.",
        "key_revoked" => "The API key was revoked.",
        "mentor_assigned" => "Mentor assigned.",
        "mentor_created" => "Mentor added.",
        "replayed" => "Queued for processing again.",
        _ => return None,
    })
}

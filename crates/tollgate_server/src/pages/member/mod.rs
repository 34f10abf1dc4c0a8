//! The member's pages: sign up, log in, log out, the billing dashboard (plan and status in
//! plain words, subscribe, manage, cancel, resume, invoices), the checkout return page that
//! waits for Stripe's confirmation, and API keys. Nothing here marks anyone paid.

mod auth;
mod billing;
mod dashboard;
mod keys;

pub use auth::{login, login_page, logout, signup, signup_page};
pub use billing::{buy_credits, cancel, checkout_return, portal, resume, subscribe};
pub use dashboard::{InvoiceLine, dashboard, home};
pub use keys::{create_key, end_all_sessions, keys, revoke_key};

//! What every page shares: the title, who is signed in (for the navigation and the log-out
//! form's CSRF token), and whether to show the test-mode banner.

use super::session::Visitor;
use crate::state::AppState;
use tollgate_core::account::Role;

pub struct Layout {
    pub title: String,
    /// The signed-in visitor's email, for the header.
    pub user_email: Option<String>,
    pub is_admin: bool,
    /// The session's CSRF token, for the log-out form in the header.
    pub csrf_token: String,
    /// Tollgate runs against its own Stripe emulator: no real money moves.
    pub test_mode: bool,
    /// Which navigation entry is the current page.
    pub section: &'static str,
}

impl Layout {
    pub fn new(
        state: &AppState,
        visitor: Option<&Visitor>,
        title: &str,
        section: &'static str,
    ) -> Self {
        Self {
            title: title.to_string(),
            user_email: visitor.map(|v| {
                v.user
                    .email
                    .as_ref()
                    .map(|e| e.as_str().to_string())
                    .unwrap_or_else(|| "signed in".to_string())
            }),
            is_admin: visitor.is_some_and(|v| v.user.role == Role::Admin),
            csrf_token: visitor
                .map(|v| v.csrf_token.expose().clone())
                .unwrap_or_default(),
            test_mode: state.emulated,
            section,
        }
    }

    /// For error pages, where the visitor is not looked up again.
    pub fn bare(title: &str, test_mode: bool) -> Self {
        Self {
            title: title.to_string(),
            user_email: None,
            is_admin: false,
            csrf_token: String::new(),
            test_mode,
            section: "",
        }
    }
}

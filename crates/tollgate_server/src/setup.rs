//! First-admin setup: when no admin exists, `serve` prints a one-time link whose token lets
//! one person create the first admin. The token lives in this process only (hashed).

use std::sync::Mutex;

use tollgate_core::{Secret, token};

#[derive(Default)]
pub struct SetupToken {
    hash: Mutex<Option<String>>,
}

impl SetupToken {
    /// Issues a new token, replacing any earlier one; the caller shows it once.
    pub fn issue(&self) -> Secret {
        let value = token::generate();
        *self.lock() = Some(token::hash(value.expose()));
        value
    }

    /// Whether the presented token is the live one.
    pub fn matches(&self, presented: &str) -> bool {
        self.lock()
            .as_deref()
            .is_some_and(|hash| token::constant_time_eq(hash, &token::hash(presented)))
    }

    pub fn consume(&self) {
        *self.lock() = None;
    }

    pub fn is_open(&self) -> bool {
        self.lock().is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.hash.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_issued_token_matches_until_consumed() {
        let setup = SetupToken::default();
        assert!(!setup.matches("anything"));
        let issued = setup.issue();
        assert!(setup.matches(issued.expose()));
        assert!(!setup.matches("other"));
        setup.consume();
        assert!(!setup.matches(issued.expose()));
    }
}

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

    /// Takes the token if `presented` is the live one: from then on no other request can use
    /// it, however many arrive at once. Dropping the claim without `spend` puts it back (the
    /// admin could not be created, e.g. a weak password), so the link still works.
    pub fn claim(&self, presented: &str) -> Option<Claim<'_>> {
        let mut live = self.lock();
        let matches = live
            .as_deref()
            .is_some_and(|hash| token::constant_time_eq(hash, &token::hash(presented)));
        let hash = if matches { live.take() } else { None }?;
        Some(Claim {
            token: self,
            hash: Some(hash),
        })
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

/// A setup token taken by one request (`SetupToken::claim`).
pub struct Claim<'a> {
    token: &'a SetupToken,
    hash: Option<String>,
}

impl Claim<'_> {
    /// The admin exists: the token is gone for good.
    pub fn spend(mut self) {
        self.hash = None;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(hash) = self.hash.take() {
            let mut live = self.token.lock();
            // A token issued meanwhile (a restart of the set-up) wins over the old one.
            if live.is_none() {
                *live = Some(hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_issued_token_can_be_claimed_and_only_once() {
        let setup = SetupToken::default();
        assert!(setup.claim("anything").is_none());
        let issued = setup.issue();
        assert!(setup.claim("other").is_none());
        let claim = setup.claim(issued.expose()).expect("the live token");
        assert!(
            setup.claim(issued.expose()).is_none(),
            "taken while claimed"
        );
        drop(claim);
        let claim = setup
            .claim(issued.expose())
            .expect("an unspent claim puts it back");
        claim.spend();
        assert!(setup.claim(issued.expose()).is_none(), "spent");
        let issued = setup.issue();
        setup.consume();
        assert!(setup.claim(issued.expose()).is_none(), "consumed");
    }
}

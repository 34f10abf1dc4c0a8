//! The double-submit token of the sign-in and sign-up forms, which are posted before any
//! session exists. The token is minted by this service: `<nonce>.<issued unix
//! seconds>.<HMAC-SHA256 of both under the form key>`, so a value an attacker chose (planted
//! in a cookie from a sibling subdomain) is refused (issue 24, finding 4); over https the
//! cookie is `__Host-` prefixed, which no other host can set. The key is
//! `auth.form_secret`, or one drawn at start (set it when several instances serve pages).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tollgate_core::{Secret, token};

/// A token is good for a day, as long as its cookie lives.
pub const LIFETIME_SECS: i64 = 86_400;

/// The key behind the form tokens. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct FormKey([u8; 32]);

impl std::fmt::Debug for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormKey([redacted])")
    }
}

impl FormKey {
    /// From the configured secret, or a fresh random key.
    pub fn new(secret: Option<&Secret>) -> Self {
        use sha2::Digest;
        let material = match secret {
            Some(secret) => secret.expose().clone(),
            None => token::generate().expose().clone(),
        };
        Self(Sha256::digest(material.as_bytes()).into())
    }

    fn mac(&self, nonce: &str, issued: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("BUG: HMAC takes any key");
        mac.update(nonce.as_bytes());
        mac.update(b".");
        mac.update(issued.to_string().as_bytes());
        mac
    }

    /// A new token, issued at `now` (unix seconds).
    pub fn mint(&self, now: i64) -> String {
        let nonce = token::generate();
        let tag = hex::encode(self.mac(nonce.expose(), now).finalize().into_bytes());
        format!("{}.{now}.{tag}", nonce.expose())
    }

    /// Whether `token` was minted with this key and is not older than a day.
    pub fn verifies(&self, token: &str, now: i64) -> bool {
        let mut parts = token.split('.');
        let (Some(nonce), Some(issued), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(issued), Ok(tag)) = (issued.parse::<i64>(), hex::decode(tag)) else {
            return false;
        };
        if nonce.len() < 32 || !(0..=LIFETIME_SECS).contains(&(now - issued)) {
            return false;
        }
        // `verify_slice` compares in constant time.
        self.mac(nonce, issued).verify_slice(&tag).is_ok()
    }
}

/// The cookie's name: `__Host-` prefixed over https, so no sibling subdomain can set it.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-tg_form" } else { "tg_form" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_for_a_day_and_no_longer() {
        let key = FormKey::new(None);
        let token = key.mint(1_000_000);
        assert!(key.verifies(&token, 1_000_000));
        assert!(key.verifies(&token, 1_000_000 + LIFETIME_SECS));
        assert!(!key.verifies(&token, 1_000_000 + LIFETIME_SECS + 1));
        assert!(!key.verifies(&token, 999_999), "not from the future");
    }

    #[test]
    fn chosen_altered_or_foreign_tokens_are_refused() {
        let key = FormKey::new(Some(&Secret::new("one".into())));
        let other = FormKey::new(Some(&Secret::new("two".into())));
        let token = key.mint(5_000);
        assert!(!other.verifies(&token, 5_000), "another key's token");
        assert!(!key.verifies("attacker-chosen-value-attacker-chosen", 5_000));
        let mut altered = token.clone();
        altered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
        assert!(!key.verifies(&altered, 5_000), "a changed nonce");
        assert!(!key.verifies(&format!("{token}.x"), 5_000));
        // The same secret on another instance verifies it.
        let same = FormKey::new(Some(&Secret::new("one".into())));
        assert!(same.verifies(&token, 5_000));
    }
}

//! Password hashing with argon2id (OWASP's recommended parameters) and the password policy.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;

use crate::Secret;

/// Passwords longer than this are refused so a request cannot make us hash megabytes.
pub const MAX_LENGTH: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("must be at most {MAX_LENGTH} characters long")]
    TooLong,
}

/// Checks the length policy; counting characters, not bytes, so non-ASCII passwords are fair.
pub fn check_policy(password: &str, min_length: usize) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if length < min_length {
        return Err(PasswordError::TooShort { min: min_length });
    }
    if password.len() > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    // m = 19 MiB, t = 2, p = 1: OWASP's password storage cheat sheet minimum for argon2id.
    let params = Params::new(19 * 1024, 2, 1, None).expect("BUG: constant argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$…`) with a fresh random salt.
pub fn hash(password: &Secret) -> String {
    let mut salt_bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).expect("BUG: 16 bytes is a valid salt");
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .expect("BUG: argon2 hashing with valid parameters cannot fail")
        .to_string()
}

/// Verifies a password against a stored PHC string; a malformed stored hash never matches.
pub fn verify(password: &Secret, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Where the argon2 work runs. Each hash or check is tens of milliseconds of CPU: on one of an
/// async server's few runtime threads it would stall every request that shares the thread
/// (webhook acknowledgements included), so the server runs it on its blocking pool, and a
/// command-line tool with nothing else to serve runs it in place (`InPlace`).
#[async_trait]
pub trait Hashing: Send + Sync {
    async fn hash(&self, password: Secret) -> String;
    /// `verify_or_decoy` on whichever thread the implementation runs it.
    async fn verify(&self, password: Secret, stored: Option<String>) -> bool;
}

/// Hashes on the caller's thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct InPlace;

#[async_trait]
impl Hashing for InPlace {
    async fn hash(&self, password: Secret) -> String {
        hash(&password)
    }

    async fn verify(&self, password: Secret, stored: Option<String>) -> bool {
        verify_or_decoy(&password, stored.as_deref())
    }
}

/// Verifies a password against a stored hash; without one (an unknown account, or one that
/// signs in some other way) it does the same work against a hash nobody knows and answers
/// `false`, so that neither the answer nor its time tells the two cases apart.
pub fn verify_or_decoy(password: &Secret, stored: Option<&str>) -> bool {
    match stored {
        Some(stored) => verify(password, stored),
        None => {
            verify(password, decoy_hash());
            false
        }
    }
}

/// A hash of a password nobody knows, verified against when there is no stored hash
/// (`verify_or_decoy`), so that such a login costs as much time as one with a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&crate::token::generate()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_another_does_not() {
        let stored = hash(&Secret::new("correct horse".to_string()));
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(&Secret::new("correct horse".to_string()), &stored));
        assert!(!verify(&Secret::new("wrong horse".to_string()), &stored));
    }

    #[test]
    fn a_malformed_stored_hash_never_matches() {
        assert!(!verify(&Secret::new("anything".to_string()), "not a hash"));
    }

    #[test]
    fn the_policy_counts_characters_and_caps_length() {
        assert_eq!(
            check_policy("short", 10),
            Err(PasswordError::TooShort { min: 10 })
        );
        assert_eq!(check_policy("éééééééééé", 10), Ok(()));
        assert_eq!(
            check_policy(&"a".repeat(MAX_LENGTH + 1), 10),
            Err(PasswordError::TooLong)
        );
    }
}

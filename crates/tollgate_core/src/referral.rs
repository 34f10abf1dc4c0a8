//! Referral codes (seed 002): each member has one to share; a sign-up with it records the
//! referrer, and the bonus itself is granted with the buyer's first completed purchase (see
//! `BillingStore::apply_sync`), once per buyer whatever happens later.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::UserId;
use crate::billing::{Billing, BillingError};

#[derive(Clone, Debug, Serialize)]
pub struct ReferralView {
    pub code: String,
    /// Members who signed up with the code.
    pub referred: i64,
}

/// A member's code: derived from the user id, so it is stable and needs no coordination;
/// the store keeps it so that a code finds its member.
pub fn code_for(user: UserId) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let digest = Sha256::digest(format!("tollgate-referral:{user}").as_bytes());
    digest
        .iter()
        .take(10)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

impl Billing<'_> {
    pub async fn referral(&self, user: UserId) -> Result<ReferralView, BillingError> {
        let code = self.store.referral_code(user, &code_for(user)).await?;
        let referred = self.store.referred_count(user).await?;
        Ok(ReferralView { code, referred })
    }

    /// The member behind a code typed at sign-up.
    pub async fn referrer(&self, code: &str) -> Result<UserId, BillingError> {
        let code = code.trim().to_ascii_uppercase();
        self.store
            .user_by_referral_code(&code)
            .await?
            .ok_or(BillingError::UnknownReferralCode)
    }
}

#[cfg(test)]
mod tests {
    use super::code_for;
    use crate::UserId;

    #[test]
    fn a_members_code_is_stable_and_readable() {
        let user = UserId::new();
        assert_eq!(code_for(user), code_for(user));
        assert_eq!(code_for(user).len(), 10);
        assert_ne!(code_for(user), code_for(UserId::new()));
    }
}

//! Typed ids, so that one kind of id can never be passed where another is expected.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the hyphenated text form used in URLs and in the database.
            pub fn parse(text: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(text).map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// One of our users (never a Stripe customer id).
    UserId
);
uuid_id!(
    /// One API key of a user.
    ApiKeyId
);
uuid_id!(
    /// One entry of the audit log.
    AuditId
);
uuid_id!(
    /// One payment of a user (a credit purchase), ours, not Stripe's.
    PaymentId
);
uuid_id!(
    /// One refund of a payment, ours; Stripe's refund id is kept beside it.
    RefundId
);
uuid_id!(
    /// One entry of the credit ledger.
    EntryId
);
uuid_id!(
    /// A mentor an admin can assign to a paid member (seed 000).
    MentorId
);
uuid_id!(
    /// A tenant of a platform (Stripe Connect); users without one belong to the platform itself.
    TenantId
);
uuid_id!(
    /// A customer of a tenant, billed on the tenant's connected account.
    TenantCustomerId
);
uuid_id!(
    /// An invoice a tenant sends its customer, ours; the connected account's invoice is beside it.
    TenantInvoiceId
);
uuid_id!(
    /// A refund of a tenant's paid invoice, ours; the connected account's refund is beside it.
    TenantRefundId
);
uuid_id!(
    /// A tenant's recurring contract with a customer, ours; the connected account's
    /// subscription is beside it.
    TenantContractId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_survives_its_text_form() {
        let id = UserId::new();
        assert_eq!(UserId::parse(&id.to_string()).expect("parses"), id);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!(UserId::parse("not-a-uuid").is_err());
    }
}

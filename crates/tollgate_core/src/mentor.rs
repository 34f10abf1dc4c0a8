//! Mentors (seed 000): admins keep a list of mentors and assign one to a member, but only to a
//! member whose payment Stripe has confirmed; the store re-checks that in the assigning
//! transaction, so a forged request for an unpaid member changes nothing.

use time::OffsetDateTime;

use crate::account::{Role, User};
use crate::audit::{Actor, AuditEntry};
use crate::store::{MentorStore, StoreError};
use crate::{Clock, Email, MentorId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mentor {
    pub id: MentorId,
    pub name: String,
    pub email: Option<Email>,
    pub created_at: OffsetDateTime,
    /// How many members this mentor is assigned to.
    pub members: i64,
}

/// What the store's assigning transaction found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOutcome {
    Assigned,
    /// The member's payment is not verified: nothing was written.
    NotPaid,
    UnknownMember,
    UnknownMentor,
}

#[derive(Debug, thiserror::Error)]
pub enum MentorError {
    #[error("a mentor's name must be 1 to 100 characters")]
    InvalidName,
    #[error("a mentor with this name already exists")]
    DuplicateName,
    #[error("no such member")]
    UnknownMember,
    #[error("no such mentor")]
    UnknownMentor,
    #[error("a mentor can be assigned only once the member's payment is verified by Stripe")]
    PaymentNotVerified,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for MentorError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => MentorError::DuplicateName,
            other => MentorError::Store(other),
        }
    }
}

/// Adds a mentor to the list, with its audit entry, in one transaction.
pub async fn create(
    store: &dyn MentorStore,
    clock: &dyn Clock,
    admin: &User,
    name: &str,
    email: Option<Email>,
) -> Result<Mentor, MentorError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(MentorError::InvalidName);
    }
    let now = clock.now();
    let mentor = Mentor {
        id: MentorId::new(),
        name: name.to_string(),
        email,
        created_at: now,
        members: 0,
    };
    let audit = AuditEntry::new(
        Actor::User(admin.id),
        "mentor.create",
        format!("mentor:{}", mentor.id),
        serde_json::json!({ "name": mentor.name }),
        now,
    );
    store.insert_mentor(&mentor, &audit).await?;
    Ok(mentor)
}

/// Assigns a mentor to a member whose payment Stripe has confirmed (seed 000: "Assign Mentor"
/// unlocks only after the webhook confirms payment).
pub async fn assign(
    store: &dyn MentorStore,
    clock: &dyn Clock,
    admin: &User,
    member: UserId,
    mentor: MentorId,
) -> Result<(), MentorError> {
    let now = clock.now();
    let audit = AuditEntry::new(
        Actor::User(admin.id),
        "mentor.assign",
        format!("user:{member}"),
        serde_json::json!({ "mentor_id": mentor.to_string() }),
        now,
    );
    match store.assign_mentor(member, mentor, now, &audit).await? {
        AssignOutcome::Assigned => Ok(()),
        AssignOutcome::NotPaid => Err(MentorError::PaymentNotVerified),
        AssignOutcome::UnknownMember => Err(MentorError::UnknownMember),
        AssignOutcome::UnknownMentor => Err(MentorError::UnknownMentor),
    }
}

/// Whether the console should offer the Assign button for this user.
pub fn may_be_assigned(user_role: Role, payment: crate::subscription::PaymentStatus) -> bool {
    user_role == Role::User && payment == crate::subscription::PaymentStatus::Paid
}

//! What the admin console's API shows: members, mentors, webhook events, the audit log.

use serde::Serialize;
use time::OffsetDateTime;
use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::inbox::InboxEvent;
use tollgate_core::member::MemberRow;
use tollgate_core::mentor::Mentor;
use tollgate_core::stripe::StripeEventId;
use tollgate_core::{AuditId, MentorId, UserId};

#[derive(Serialize)]
pub struct MentorBody<'a> {
    pub id: MentorId,
    pub name: &'a str,
    pub email: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// How many members this mentor is assigned to.
    pub members: i64,
}

impl<'a> MentorBody<'a> {
    pub fn of(mentor: &'a Mentor) -> Self {
        Self {
            id: mentor.id,
            name: &mentor.name,
            email: mentor.email.as_ref().map(|e| e.as_str()),
            created_at: mentor.created_at,
            members: mentor.members,
        }
    }
}

/// A member as the console lists them, with their billing in seed 000's words.
#[derive(Serialize)]
pub struct MemberBody<'a> {
    pub id: UserId,
    pub email: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub billing: MemberBillingBody<'a>,
    /// `[id, name]` of the assigned mentor.
    pub mentor: Option<(MentorId, &'a str)>,
}

#[derive(Serialize)]
pub struct MemberBillingBody<'a> {
    pub payment_status: &'static str,
    pub plan: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub payment_date: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub current_period_end: Option<OffsetDateTime>,
    pub cancel_at_period_end: bool,
}

impl<'a> MemberBody<'a> {
    pub fn of(row: &'a MemberRow) -> Self {
        let billing = &row.billing;
        Self {
            id: row.id,
            email: row.email.as_ref().map(|e| e.as_str()),
            created_at: row.created_at,
            billing: MemberBillingBody {
                payment_status: billing.payment_status.as_str(),
                plan: billing.plan.as_deref(),
                payment_date: billing.payment_date,
                current_period_end: billing.current_period_end,
                cancel_at_period_end: billing.cancel_at_period_end,
            },
            mentor: row.mentor.as_ref().map(|(id, name)| (*id, name.as_str())),
        }
    }
}

/// A stored webhook event, without its payload.
#[derive(Serialize)]
pub struct EventBody<'a> {
    pub id: &'a StripeEventId,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// The connected account the event belongs to.
    pub account: Option<&'a str>,
    /// Unix seconds, as Stripe sent it.
    pub created: i64,
    pub api_version: Option<&'a str>,
    pub livemode: bool,
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub processed_at: Option<OffsetDateTime>,
}

impl<'a> EventBody<'a> {
    pub fn of(event: &'a InboxEvent) -> Self {
        Self {
            id: &event.id,
            event_type: &event.event_type,
            account: event.account.as_deref(),
            created: event.created,
            api_version: event.api_version.as_deref(),
            livemode: event.livemode,
            status: event.status.as_str(),
            attempts: event.attempts,
            last_error: event.last_error.as_deref(),
            received_at: event.received_at,
            processed_at: event.processed_at,
        }
    }
}

/// Who acted: `{kind: "user", id}`, `{kind: "cli"}` or `{kind: "system"}`.
#[derive(Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum ActorBody {
    User(UserId),
    Cli,
    System,
}

#[derive(Serialize)]
pub struct AuditBody<'a> {
    pub id: AuditId,
    pub actor: ActorBody,
    /// A stable dotted name such as `user.signup` or `api_key.revoke`.
    pub action: &'a str,
    /// What was acted upon, as `kind:id`.
    pub target: &'a str,
    pub details: &'a serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl<'a> AuditBody<'a> {
    pub fn of(entry: &'a AuditEntry) -> Self {
        Self {
            id: entry.id,
            actor: match entry.actor {
                Actor::User(id) => ActorBody::User(id),
                Actor::Cli => ActorBody::Cli,
                Actor::System => ActorBody::System,
            },
            action: &entry.action,
            target: &entry.target,
            details: &entry.details,
            at: entry.at,
        }
    }
}

//! The admin console: overview (MRR, subscriptions, revenue chart), the members table and a
//! member's page with "Assign mentor", mentors, webhook events (inspect, replay) and the
//! audit log. Admins only: members get 403, anonymous visitors the login page. Every action
//! goes through a core use-case or store command that writes an audit entry.

mod audit;
mod events;
mod members;
mod mentors;
mod overview;

use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::subscription::PaymentStatus;

use crate::pages::format::datetime;
use crate::pages::session::Visitor;
use crate::state::AppState;

pub use audit::audit;
pub use events::{event, events, replay_event, replay_failed};
pub use members::{assign_mentor, member, members};
pub use mentors::{create_mentor, mentors};
pub use overview::overview;

const PAGE_SIZE: u32 = 50;
/// Deep enough for 500,000 members at 50 a page; past it, search or filter.
const MAX_PAGE: u32 = 10_000;

const STATUSES: [PaymentStatus; 4] = [
    PaymentStatus::Paid,
    PaymentStatus::Preapproved,
    PaymentStatus::PaymentFailed,
    PaymentStatus::Cancelled,
];

pub fn status_label(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Preapproved => "Not paid yet",
        PaymentStatus::Paid => "Paid",
        PaymentStatus::PaymentFailed => "Payment failed",
        PaymentStatus::Cancelled => "Cancelled",
    }
}

fn parse_status(text: &str) -> Option<PaymentStatus> {
    STATUSES.into_iter().find(|s| s.as_str() == text)
}

fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::User(id) => format!("user {id}"),
        Actor::Cli => "command line".into(),
        Actor::System => "tollgate".into(),
    }
}

fn admin_audit(
    admin: &Visitor,
    action: &str,
    target: String,
    details: serde_json::Value,
    state: &AppState,
) -> AuditEntry {
    AuditEntry::new(
        Actor::User(admin.user.id),
        action,
        target,
        details,
        state.clock.now(),
    )
}

pub struct SubscriptionLine {
    pub id: String,
    pub status: String,
    pub plan: String,
    pub period: String,
    pub cancel_at_period_end: bool,
}

pub struct EventLine {
    pub id: String,
    pub event_type: String,
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: String,
    pub received: String,
}

pub struct AuditLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
}

pub(super) fn audit_line(entry: &AuditEntry) -> AuditLine {
    AuditLine {
        at: datetime(entry.at),
        actor: actor_label(&entry.actor),
        action: entry.action.clone(),
        target: entry.target.clone(),
        details: entry.details.to_string(),
    }
}

fn event_line(event: &tollgate_core::inbox::InboxEvent) -> EventLine {
    EventLine {
        id: event.id.as_str().to_string(),
        event_type: event.event_type.clone(),
        status: event.status.as_str(),
        attempts: event.attempts,
        last_error: event.last_error.clone().unwrap_or_default(),
        received: datetime(event.received_at),
    }
}

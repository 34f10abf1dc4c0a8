//! The storage port: coarse commands, each one transaction, implemented by `tollgate_store`
//! on SQLite and PostgreSQL and run through one contract test suite.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::account::{NewUser, Role, SessionRecord, User};
use crate::api_key::{ApiKey, NewApiKey};
use crate::audit::AuditEntry;
use crate::connect::AccountSnapshot;
use crate::coupon::{Coupon, Redemption};
use crate::fee::FeePolicy;
use crate::inbox::{EventStatus, InboxEvent, NewEvent, Settlement};
use crate::invoice::Invoice;
use crate::ledger::{Balance, Discrepancy, LedgerEntry};
use crate::member::{MemberPage, MemberQuery, MemberRow, OverviewFacts};
use crate::mentor::{AssignOutcome, Mentor};
use crate::notification::{OutboxMessage, PendingMessage};
use crate::payment::{
    NewPayment, NewRefund, Payment, PaymentOutcome, PaymentStatus, Refund, RefundOutcome,
};
use crate::stripe::{
    CheckoutSessionId, StripeAccountId, StripeCustomerId, StripeEventId, StripePaymentIntentId,
    StripeRefundId, StripeSubscriptionId,
};
use crate::subscription::Subscription;
use crate::tenant::{Tenant, TenantScope};
use crate::tenant_billing::{InvoiceUpdate, TenantCustomer, TenantInvoice, TenantRefund};
use crate::tenant_contracts::{ContractState, TenantContract};
use crate::usage::{Consumption, UsageRequest};
use crate::{
    ApiKeyId, Email, EntryId, MentorId, PaymentId, RefundId, TenantContractId, TenantCustomerId,
    TenantId, TenantInvoiceId, TenantRefundId, UserId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (e.g. an email already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or answered with an error; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The stored data broke an expectation of the code (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// One page of a listing in creation order, newest first: `before` is the last id of the previous page.
#[derive(Clone, Copy, Debug)]
pub struct Page<C> {
    pub limit: u32,
    pub before: Option<C>,
}

/// What `BillingStore::apply_sync` could not settle by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncApplied {
    /// The subscription's snapshot was fetched in a window that overlaps the stored one's, so
    /// either may be the staler: only a fetch that starts after both ended tells which.
    pub subscription_overlapped: bool,
}

/// Everything one event changes, applied in one transaction by `BillingStore::apply_sync`.
#[derive(Clone, Debug, Default)]
pub struct SyncChanges {
    /// When the objects were fetched from Stripe (before the request): the order of writes.
    pub fetched_at: Option<OffsetDateTime>,
    /// When the last of those answers arrived: with `fetched_at`, the window in which Stripe
    /// produced them. Two snapshots whose windows overlap cannot be ordered by their stamps
    /// (a request sent later may still reach Stripe first); `None` is the instant `fetched_at`.
    pub fetched_until: Option<OffsetDateTime>,
    pub customer_link: Option<(UserId, StripeCustomerId)>,
    pub checkout_status: Option<(CheckoutSessionId, String)>,
    pub subscription: Option<Subscription>,
    pub invoice: Option<Invoice>,
    /// What became of a credit purchase: its status, and its credits when completed.
    pub payment: Option<PaymentOutcome>,
    /// Refunds as Stripe has them: each succeeded one takes back its credits once.
    pub refunds: Vec<RefundOutcome>,
    pub messages: Vec<OutboxMessage>,
}

/// Which payments a listing returns.
#[derive(Clone, Debug, Default)]
pub struct PaymentFilter {
    pub user: Option<UserId>,
    pub status: Option<PaymentStatus>,
}

/// Whether a refund may go ahead: the store checks what remains in the same transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundAdmission {
    Admitted,
    ExceedsRemaining { remaining: i64 },
    NotRefundable,
}

/// Whether the database can serve: the readiness probe.
#[async_trait]
pub trait HealthStore: Send + Sync {
    /// The database answers and every migration this build knows is applied.
    async fn ready(&self) -> Result<(), StoreError>;
}

/// Users: created with their audit entry, looked up by id, email or external identity, listed.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts a user and its audit entry; `Conflict` when the email or external id is taken.
    async fn insert_user(&self, user: &NewUser, audit: &AuditEntry) -> Result<User, StoreError>;

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with this email and their password hash, if they have one.
    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<String>)>, StoreError>;

    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, StoreError>;
    async fn users(&self, role: Option<Role>, page: Page<UserId>) -> Result<Vec<User>, StoreError>;
    async fn count_users(&self, role: Option<Role>) -> Result<i64, StoreError>;
}

/// Server-side sessions, kept by the hash of their cookie token.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The live session with this token hash and its user; expired sessions are not returned.
    async fn session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError>;

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;

    /// The user's live sessions, newest first.
    async fn sessions_of(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// Ends every session of the user and records `audit`, in one transaction; returns how
    /// many were ended.
    async fn delete_sessions_of(&self, user: UserId, audit: &AuditEntry)
    -> Result<u64, StoreError>;

    /// Removes expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// API keys, kept by their hash; a revoked key never authenticates.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        audit: &AuditEntry,
    ) -> Result<ApiKey, StoreError>;

    /// The user's keys that are not revoked, newest first.
    async fn api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes a key of this user; `false` when there is no such unrevoked key.
    async fn revoke_api_key(
        &self,
        user: UserId,
        id: ApiKeyId,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;

    /// The unrevoked key with this hash and its user; records the use (at most once a minute).
    async fn authenticate_api_key(
        &self,
        key_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(ApiKey, User)>, StoreError>;
}

/// The audit log, newest first.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Audit entries, newest first.
    async fn audit_log(&self, page: Page<crate::AuditId>) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Stripe customers, checkout sessions, subscriptions and invoices as Stripe reported them,
/// and `apply_sync`, the one transaction that writes what an event changed.
#[async_trait]
pub trait BillingStore: Send + Sync {
    async fn stripe_customer_of(
        &self,
        user: UserId,
    ) -> Result<Option<StripeCustomerId>, StoreError>;
    async fn user_of_stripe_customer(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<UserId>, StoreError>;

    /// Links a user to their Stripe customer; the first link wins and is returned, so a user
    /// has exactly one customer however many requests race (invariant 5).
    async fn link_stripe_customer(
        &self,
        user: UserId,
        customer: &StripeCustomerId,
        now: OffsetDateTime,
    ) -> Result<StripeCustomerId, StoreError>;

    async fn record_checkout_session(
        &self,
        id: &CheckoutSessionId,
        user: UserId,
        mode: &str,
        plan: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    async fn checkout_session_owner(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Option<UserId>, StoreError>;

    /// All of a user's subscriptions, newest first.
    async fn subscriptions_of(&self, user: UserId) -> Result<Vec<Subscription>, StoreError>;

    /// A user's invoices, newest first.
    async fn invoices_of(&self, user: UserId, limit: u32) -> Result<Vec<Invoice>, StoreError>;

    /// When the user's latest paid invoice was paid.
    async fn last_payment_at(&self, user: UserId) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Applies what an event (or a server-side fetch, `event: None`) changed and marks the
    /// event processed, in one transaction. Writes that
    /// are older than what is stored (by `fetched_at`), or that would move a terminal
    /// subscription, are skipped: state never rolls back (invariant 3). Says when the
    /// subscription's snapshot could not be ordered against the stored one (`SyncApplied`).
    async fn apply_sync(
        &self,
        event: Option<&StripeEventId>,
        changes: &SyncChanges,
    ) -> Result<SyncApplied, StoreError>;
}

/// The webhook inbox: insert-once by event id, leased claims, settling, listing and replay.
#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores a verified event; `false` when an event with this id is already stored.
    async fn record_event(&self, event: &NewEvent) -> Result<bool, StoreError>;

    /// Stores a batch of verified events in one transaction (group commit): all or none.
    /// One answer per event, in order: `false` when the id is already stored, or appears
    /// earlier in the same batch. Takes the batch by value: a store that hands the events to
    /// another thread (the SQLite inbox journal) then needs no copy of them.
    async fn record_events(&self, events: Vec<NewEvent>) -> Result<Vec<bool>, StoreError>;

    /// Whether `record_events` itself gathers concurrent calls into one commit (the SQLite
    /// inbox journal), so that a caller need not batch deliveries first.
    fn groups_event_writes(&self) -> bool {
        false
    }

    /// Leases up to `limit` due `received` events for `lease`; each claim counts an attempt.
    async fn claim_events(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError>;

    /// Records the outcome of an attempt that did not apply: ignored, retry later, or failed.
    async fn settle_event(
        &self,
        event: &StripeEventId,
        status: EventStatus,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// `settle_event` for a worker's batch, in one statement (per thousand outcomes).
    async fn settle_events(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    async fn event(&self, id: &StripeEventId) -> Result<Option<InboxEvent>, StoreError>;

    /// Events, newest first, optionally of one status.
    async fn events(
        &self,
        status: Option<EventStatus>,
        page: Page<StripeEventId>,
    ) -> Result<Vec<InboxEvent>, StoreError>;

    /// Queues an event to be processed again from scratch; `false` if there is no such event.
    async fn replay_event(
        &self,
        id: &StripeEventId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Queues every failed event again; returns how many.
    async fn replay_failed(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Outgoing notifications, leased to the sender and settled.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases due outbox messages.
    async fn claim_messages(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<PendingMessage>, StoreError>;

    async fn settle_message(
        &self,
        id: &str,
        delivered: bool,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Credit purchases and their refunds: statuses move only forward.
#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Writes a purchase `pending`, before Stripe is asked for anything.
    async fn insert_payment(&self, payment: &NewPayment) -> Result<(), StoreError>;

    /// Records the Stripe object a pending payment is paid through.
    async fn link_payment(
        &self,
        payment: PaymentId,
        session: Option<&CheckoutSessionId>,
        intent: Option<&StripePaymentIntentId>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Cancels a payment still pending with neither a session nor an intent linked: its Stripe
    /// call failed, so the purchase never started.
    async fn cancel_unstarted_payment(
        &self,
        payment: PaymentId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, StoreError>;
    async fn payment_by_checkout(
        &self,
        session: &CheckoutSessionId,
    ) -> Result<Option<Payment>, StoreError>;
    async fn payment_by_intent(
        &self,
        intent: &StripePaymentIntentId,
    ) -> Result<Option<Payment>, StoreError>;

    /// Payments, newest first.
    async fn payments(
        &self,
        filter: &PaymentFilter,
        page: Page<PaymentId>,
    ) -> Result<Vec<Payment>, StoreError>;

    /// Writes a refund `pending` with its audit entry if the payment still has `amount` to
    /// refund, counting refunds still pending.
    async fn admit_refund(
        &self,
        refund: &NewRefund,
        audit: &AuditEntry,
    ) -> Result<RefundAdmission, StoreError>;

    async fn link_refund(
        &self,
        refund: RefundId,
        stripe_refund: &StripeRefundId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Stripe refused the refund: it no longer holds the amount back.
    async fn fail_refund(&self, refund: RefundId, now: OffsetDateTime) -> Result<(), StoreError>;

    async fn refund(&self, id: RefundId) -> Result<Option<Refund>, StoreError>;
    async fn refunds_of(&self, payment: PaymentId) -> Result<Vec<Refund>, StoreError>;

    /// Refunds admitted before `created_before` that Stripe has not confirmed making: the
    /// process stopped between admitting one and learning Stripe's answer. Oldest first.
    async fn unsent_refunds(
        &self,
        created_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Refund>, StoreError>;
}

/// The credit ledger and usage: a balance is the sum of its entries, a consumption recorded once.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// A user's balance (zero when they have no entries).
    async fn balance(&self, user: UserId) -> Result<Balance, StoreError>;

    /// A user's ledger entries, newest first.
    async fn ledger(
        &self,
        user: UserId,
        page: Page<EntryId>,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Users whose balance is below zero, longest first.
    async fn negative_balances(&self, limit: u32) -> Result<Vec<Balance>, StoreError>;

    /// Every user whose cached balance differs from the sum of their entries (none, always).
    async fn verify_ledger(&self) -> Result<Vec<Discrepancy>, StoreError>;

    /// Records a consumption once per `(user, idempotency key)`; a refused one records nothing.
    async fn consume(&self, request: &UsageRequest) -> Result<Consumption, StoreError>;

    /// Units used per feature in the quota period starting at `period_start`.
    async fn usage_counts(
        &self,
        user: UserId,
        period_start: OffsetDateTime,
    ) -> Result<Vec<(String, i64)>, StoreError>;
}

/// Coupons and referral codes.
#[async_trait]
pub trait CouponStore: Send + Sync {
    /// `Conflict` when the code exists.
    async fn insert_coupon(&self, coupon: &Coupon, audit: &AuditEntry) -> Result<(), StoreError>;

    async fn coupons(&self) -> Result<Vec<Coupon>, StoreError>;
    async fn redeem_coupon(
        &self,
        code: &str,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Redemption, StoreError>;

    /// The user's referral code, storing `code` as it when they have none yet.
    async fn referral_code(&self, user: UserId, code: &str) -> Result<String, StoreError>;

    async fn user_by_referral_code(&self, code: &str) -> Result<Option<UserId>, StoreError>;
    async fn referred_count(&self, user: UserId) -> Result<i64, StoreError>;
}

/// Mentors and their assignment to members (issue 6).
#[async_trait]
pub trait MentorStore: Send + Sync {
    /// Adds a mentor and its audit entry; `Conflict` when the name is taken (case-insensitive).
    async fn insert_mentor(&self, mentor: &Mentor, audit: &AuditEntry) -> Result<(), StoreError>;

    /// Every mentor, by name, with how many members each has.
    async fn mentors(&self) -> Result<Vec<Mentor>, StoreError>;

    /// Assigns (or re-assigns) a mentor to a member and writes the audit entry, in one
    /// transaction that first checks the member's payment is verified; writes nothing otherwise.
    async fn assign_mentor(
        &self,
        member: UserId,
        mentor: MentorId,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<AssignOutcome, StoreError>;
}

/// The admin console's reads (issue 6): the members table, the overview, a member's events
/// and audit trail.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// One page of the members table (role `user`) with the total count of matches.
    async fn members(&self, query: &MemberQuery) -> Result<MemberPage, StoreError>;

    /// One member's row of the members table (any role).
    async fn member(&self, user: UserId) -> Result<Option<MemberRow>, StoreError>;

    /// The overview's counts: subscriptions created and ended since `since`, paid invoices
    /// per day since `revenue_since`, members per payment status.
    async fn overview(
        &self,
        since: OffsetDateTime,
        revenue_since: OffsetDateTime,
    ) -> Result<OverviewFacts, StoreError>;

    /// The newest events whose payload mentions any of these Stripe ids (a customer, a
    /// subscription), for a member's page.
    async fn events_mentioning(
        &self,
        ids: &[String],
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError>;

    /// The newest audit entries acted by or aimed at this `kind:id` (e.g. `user:…`).
    async fn audit_about(&self, subject: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Tenants of a platform (seed 003). Every read or write of one tenant's rows takes its
/// `TenantScope`; only the platform-wide listing and the worker's lookup by account do not.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Inserts a tenant and its audit entry in one transaction.
    async fn insert_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<(), StoreError>;

    async fn tenant(&self, scope: &TenantScope) -> Result<Option<Tenant>, StoreError>;

    /// Every tenant, newest first (the platform admin's listing).
    async fn tenants(&self, page: Page<TenantId>) -> Result<Vec<Tenant>, StoreError>;

    /// The tenant whose connected account this is: how the worker routes a Connect event.
    async fn tenant_by_account(
        &self,
        account: &StripeAccountId,
    ) -> Result<Option<Tenant>, StoreError>;

    /// Sets the fee policy and writes the audit entry; `None` when there is no such tenant.
    async fn update_tenant_fees(
        &self,
        scope: &TenantScope,
        fees: FeePolicy,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<Option<Tenant>, StoreError>;

    /// Links the tenant's connected account; the first link wins (a second account is never
    /// attached, whatever races), and the linked one is returned.
    async fn link_tenant_account(
        &self,
        scope: &TenantScope,
        account: &StripeAccountId,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<StripeAccountId, StoreError>;

    /// Stores the account's state as fetched at `fetched_at`, unless a later fetch is stored
    /// already; settles `event` as processed in the same transaction. Returns whether it wrote.
    async fn record_account_state(
        &self,
        scope: &TenantScope,
        snapshot: &AccountSnapshot,
        fetched_at: OffsetDateTime,
        event: Option<&StripeEventId>,
    ) -> Result<bool, StoreError>;

    /// Settles an event of an account no tenant has as ignored and lists it as unrouted, in one
    /// transaction; it is never applied.
    async fn record_unrouted(
        &self,
        event: &StripeEventId,
        account: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The newest unrouted events, for the platform console.
    async fn unrouted_events(&self, limit: u32) -> Result<Vec<InboxEvent>, StoreError>;

    /// Marks the tenant deauthorized with its audit entry, settling `event`, in one transaction.
    async fn deauthorize_tenant(
        &self,
        scope: &TenantScope,
        now: OffsetDateTime,
        audit: &AuditEntry,
        event: Option<&StripeEventId>,
    ) -> Result<(), StoreError>;

    /// Test mode: the test clock the tenant's customers live on, if one was made.
    async fn tenant_test_clock(&self, scope: &TenantScope) -> Result<Option<String>, StoreError>;

    /// Records the tenant's test clock; the first one stored stays, and is returned.
    async fn set_tenant_test_clock(
        &self,
        scope: &TenantScope,
        clock: &str,
    ) -> Result<String, StoreError>;

    /// Every tenant's test clock with its account, for the platform admin's time travel.
    async fn tenant_test_clocks(&self) -> Result<Vec<(StripeAccountId, String)>, StoreError>;
}

/// A tenant's recurring contracts (seed 003), every method under the tenant's scope.
#[async_trait]
pub trait TenantContractStore: Send + Sync {
    /// Inserts a pending contract; a conflict when the customer is not the tenant's.
    async fn insert_contract(
        &self,
        scope: &TenantScope,
        contract: &TenantContract,
    ) -> Result<(), StoreError>;

    async fn contract(
        &self,
        scope: &TenantScope,
        id: TenantContractId,
    ) -> Result<Option<TenantContract>, StoreError>;

    async fn contracts(
        &self,
        scope: &TenantScope,
        page: Page<TenantContractId>,
    ) -> Result<Vec<TenantContract>, StoreError>;

    /// The contract of the connected account's subscription, if it is one of ours.
    async fn contract_by_subscription(
        &self,
        scope: &TenantScope,
        subscription: &StripeSubscriptionId,
    ) -> Result<Option<TenantContract>, StoreError>;

    /// Removes a contract Stripe refused to create (still pending, so nothing refers to it).
    async fn delete_pending_contract(
        &self,
        scope: &TenantScope,
        id: TenantContractId,
    ) -> Result<(), StoreError>;

    /// Applies Stripe's state of the subscription to its contract (found by the subscription,
    /// or by `state.contract` while unlinked, which links it), unless a later fetch is stored
    /// or the contract is canceled; settles `event` in the same transaction. Returns whether
    /// it wrote.
    async fn apply_contract_state(
        &self,
        scope: &TenantScope,
        state: &ContractState,
        event: Option<&StripeEventId>,
    ) -> Result<bool, StoreError>;

    /// One of the contract's invoices, in one transaction: inserts its record the first time
    /// (`record`, none for an invoice of nothing to pay), applies Stripe's state to it, moves
    /// the contract's paid-through date forward to `paid_through` (never back), and settles
    /// `event`.
    async fn apply_contract_invoice(
        &self,
        scope: &TenantScope,
        contract: TenantContractId,
        record: Option<&TenantInvoice>,
        update: &InvoiceUpdate,
        paid_through: Option<OffsetDateTime>,
        event: Option<&StripeEventId>,
    ) -> Result<(), StoreError>;
}

/// A tenant's customers and invoices (seed 003), every method under the tenant's scope.
#[async_trait]
pub trait TenantBillingStore: Send + Sync {
    /// Inserts the customer, or returns the one the tenant already has with that email.
    async fn insert_tenant_customer(
        &self,
        scope: &TenantScope,
        customer: &TenantCustomer,
    ) -> Result<TenantCustomer, StoreError>;

    async fn tenant_customer(
        &self,
        scope: &TenantScope,
        id: TenantCustomerId,
    ) -> Result<Option<TenantCustomer>, StoreError>;

    async fn tenant_customer_by_email(
        &self,
        scope: &TenantScope,
        email: &Email,
    ) -> Result<Option<TenantCustomer>, StoreError>;

    async fn tenant_customers(
        &self,
        scope: &TenantScope,
        page: Page<TenantCustomerId>,
    ) -> Result<Vec<TenantCustomer>, StoreError>;

    async fn insert_tenant_invoice(
        &self,
        scope: &TenantScope,
        invoice: &TenantInvoice,
    ) -> Result<(), StoreError>;

    async fn tenant_invoice(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
    ) -> Result<Option<TenantInvoice>, StoreError>;

    async fn tenant_invoices(
        &self,
        scope: &TenantScope,
        page: Page<TenantInvoiceId>,
    ) -> Result<Vec<TenantInvoice>, StoreError>;

    /// Links the draft to the connected account's invoice it became, with the fee asked.
    async fn mark_tenant_invoice_sent(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
        application_fee: i64,
        update: &InvoiceUpdate,
    ) -> Result<(), StoreError>;

    /// Voids a draft that never reached Stripe.
    async fn void_tenant_draft(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Applies Stripe's state of the invoice unless a later fetch is stored or the stored
    /// status is final; settles `event` in the same transaction. Returns whether it wrote.
    async fn apply_tenant_invoice(
        &self,
        scope: &TenantScope,
        update: &InvoiceUpdate,
        event: Option<&StripeEventId>,
    ) -> Result<bool, StoreError>;

    /// Inserts a pending refund if, with the invoice's row locked, the refunds not failed or
    /// canceled leave room for it under `gross`; writes nothing otherwise.
    async fn admit_tenant_refund(
        &self,
        scope: &TenantScope,
        refund: &TenantRefund,
        gross: i64,
    ) -> Result<RefundAdmission, StoreError>;

    async fn link_tenant_refund(
        &self,
        scope: &TenantScope,
        id: TenantRefundId,
        stripe_refund_id: &StripeRefundId,
        status: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Stores Stripe's status of a refund (by its Stripe id), settling `event` with it.
    async fn apply_tenant_refund(
        &self,
        scope: &TenantScope,
        stripe_refund_id: &StripeRefundId,
        status: &str,
        now: OffsetDateTime,
        event: Option<&StripeEventId>,
    ) -> Result<(), StoreError>;

    /// What is refunded or being refunded of an invoice (refunds not failed or canceled).
    async fn tenant_refunded(
        &self,
        scope: &TenantScope,
        invoice: TenantInvoiceId,
    ) -> Result<i64, StoreError>;

    async fn tenant_refunds(
        &self,
        scope: &TenantScope,
        invoice: TenantInvoiceId,
    ) -> Result<Vec<TenantRefund>, StoreError>;
}

/// Declares `Store`, the sum of the role traits, and implements it for whatever has them all.
macro_rules! sum_of_roles {
    ($(#[$meta:meta])* $($role:ident),+ $(,)?) => {
        $(#[$meta])*
        pub trait Store: $($role +)+ {}

        impl<T: ?Sized + $($role +)+> Store for T {}
    };
}

sum_of_roles!(
    /// Every role: what the server, the binary and the contract tests hold. A use-case that
    /// needs fewer asks for those roles (`&dyn LedgerStore`), so that a test can give it a
    /// small fake.
    HealthStore,
    AccountStore,
    SessionStore,
    ApiKeyStore,
    AuditStore,
    BillingStore,
    InboxStore,
    OutboxStore,
    PaymentStore,
    LedgerStore,
    CouponStore,
    MentorStore,
    ConsoleStore,
    TenantStore,
    TenantBillingStore,
    TenantContractStore,
);

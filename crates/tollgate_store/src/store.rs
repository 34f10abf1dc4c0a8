//! The `Store` port implemented over the SQL modules; each method is one transaction.

use async_trait::async_trait;
use time::OffsetDateTime;
use tollgate_core::account::{NewUser, Role, SessionRecord, User};
use tollgate_core::api_key::{ApiKey, NewApiKey};
use tollgate_core::audit::AuditEntry;
use tollgate_core::coupon::{Coupon, Redemption};
use tollgate_core::inbox::{EventStatus, InboxEvent, NewEvent, Settlement};
use tollgate_core::invoice::Invoice;
use tollgate_core::ledger::{Balance, Discrepancy, LedgerEntry};
use tollgate_core::member::{MemberPage, MemberQuery, MemberRow, OverviewFacts};
use tollgate_core::mentor::{AssignOutcome, Mentor};
use tollgate_core::notification::PendingMessage;
use tollgate_core::payment::{NewPayment, NewRefund, Payment, Refund};
use tollgate_core::store::{Page, PaymentFilter, RefundAdmission, SyncApplied, SyncChanges};
use tollgate_core::stripe::{
    CheckoutSessionId, StripeCustomerId, StripeEventId, StripePaymentIntentId, StripeRefundId,
};
use tollgate_core::subscription::Subscription;
use tollgate_core::usage::{Consumption, UsageRequest};
use tollgate_core::{
    ApiKeyId, AuditId, Email, EntryId, MentorId, PaymentId, RefundId, Store, StoreError, UserId,
};

use crate::SqlStore;
use crate::columns::db_error;

#[async_trait]
impl Store for SqlStore {
    async fn ready(&self) -> Result<(), StoreError> {
        let applied = self.applied_version().await.map_err(db_error)?;
        let expected = crate::database::migrator(self.backend())
            .migrations
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        if applied < expected {
            return Err(StoreError::Unavailable(format!(
                "migrations pending: database at {applied}, this build expects {expected}"
            )));
        }
        Ok(())
    }

    async fn insert_user(&self, user: &NewUser, audit: &AuditEntry) -> Result<User, StoreError> {
        self.insert_user_with_audit(user, audit).await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.find_user(id).await
    }

    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        self.find_credentials(email).await
    }

    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, StoreError> {
        self.find_user_by_external_id(external_id).await
    }

    async fn users(&self, role: Option<Role>, page: Page<UserId>) -> Result<Vec<User>, StoreError> {
        self.list_users(role, page).await
    }

    async fn count_users(&self, role: Option<Role>) -> Result<i64, StoreError> {
        self.count_users_with_role(role).await
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.insert_session_row(session).await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError> {
        self.find_session(token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.delete_session_row(token_hash).await
    }

    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.delete_expired(now).await
    }

    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        audit: &AuditEntry,
    ) -> Result<ApiKey, StoreError> {
        self.insert_key(key, audit).await
    }

    async fn api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        self.list_keys(user).await
    }

    async fn revoke_api_key(
        &self,
        user: UserId,
        id: ApiKeyId,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.revoke_key(user, id, now, audit).await
    }

    async fn authenticate_api_key(
        &self,
        key_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(ApiKey, User)>, StoreError> {
        self.find_key(key_hash, now).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.append_audit_entry(entry).await
    }

    async fn audit_log(&self, page: Page<AuditId>) -> Result<Vec<AuditEntry>, StoreError> {
        self.list_audit(page).await
    }

    async fn stripe_customer_of(
        &self,
        user: UserId,
    ) -> Result<Option<StripeCustomerId>, StoreError> {
        self.customer_of(user).await
    }

    async fn user_of_stripe_customer(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<UserId>, StoreError> {
        self.user_of_customer(customer).await
    }

    async fn link_stripe_customer(
        &self,
        user: UserId,
        customer: &StripeCustomerId,
        now: OffsetDateTime,
    ) -> Result<StripeCustomerId, StoreError> {
        self.link_customer(user, customer, now).await
    }

    async fn record_checkout_session(
        &self,
        id: &CheckoutSessionId,
        user: UserId,
        mode: &str,
        plan: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.insert_checkout_session(id, user, mode, plan, now)
            .await
    }

    async fn checkout_session_owner(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Option<UserId>, StoreError> {
        self.checkout_owner(id).await
    }

    async fn subscriptions_of(&self, user: UserId) -> Result<Vec<Subscription>, StoreError> {
        self.list_subscriptions(user).await
    }

    async fn invoices_of(&self, user: UserId, limit: u32) -> Result<Vec<Invoice>, StoreError> {
        self.list_invoices(user, limit).await
    }

    async fn last_payment_at(&self, user: UserId) -> Result<Option<OffsetDateTime>, StoreError> {
        self.latest_payment(user).await
    }

    async fn record_event(&self, event: &NewEvent) -> Result<bool, StoreError> {
        let stored = self.insert_events(vec![event.clone()]).await?;
        Ok(stored.first().copied().unwrap_or(false))
    }

    async fn record_events(&self, events: Vec<NewEvent>) -> Result<Vec<bool>, StoreError> {
        self.insert_events(events).await
    }

    fn groups_event_writes(&self) -> bool {
        self.journal.is_some()
    }

    async fn claim_events(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        self.claim(now, lease, limit).await
    }

    async fn apply_sync(
        &self,
        event: Option<&StripeEventId>,
        changes: &SyncChanges,
    ) -> Result<SyncApplied, StoreError> {
        self.apply(event, changes).await
    }

    async fn settle_event(
        &self,
        event: &StripeEventId,
        status: EventStatus,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let settlement = Settlement {
            id: event.clone(),
            status,
            error: error.map(str::to_string),
            next_attempt_at,
        };
        self.settle(std::slice::from_ref(&settlement), now).await
    }

    async fn settle_events(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.settle(settlements, now).await
    }

    async fn event(&self, id: &StripeEventId) -> Result<Option<InboxEvent>, StoreError> {
        self.find_event(id).await
    }

    async fn events(
        &self,
        status: Option<EventStatus>,
        page: Page<StripeEventId>,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        self.list_events(status, page).await
    }

    async fn replay_event(
        &self,
        id: &StripeEventId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.requeue(Some(id), now).await? == 1)
    }

    async fn replay_failed(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.requeue(None, now).await
    }

    async fn claim_messages(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<PendingMessage>, StoreError> {
        self.claim_outbox(now, lease, limit).await
    }

    async fn settle_message(
        &self,
        id: &str,
        delivered: bool,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.settle_outbox(id, delivered, error, next_attempt_at, now)
            .await
    }

    async fn insert_payment(&self, payment: &NewPayment) -> Result<(), StoreError> {
        self.insert_new_payment(payment).await
    }

    async fn link_payment(
        &self,
        payment: PaymentId,
        session: Option<&CheckoutSessionId>,
        intent: Option<&StripePaymentIntentId>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.link_payment_to(payment, session, intent, now).await
    }

    async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, StoreError> {
        self.find_payment("id", &id.to_string()).await
    }

    async fn payment_by_checkout(
        &self,
        session: &CheckoutSessionId,
    ) -> Result<Option<Payment>, StoreError> {
        self.find_payment("stripe_checkout_session_id", session.as_str())
            .await
    }

    async fn payment_by_intent(
        &self,
        intent: &StripePaymentIntentId,
    ) -> Result<Option<Payment>, StoreError> {
        self.find_payment("stripe_payment_intent_id", intent.as_str())
            .await
    }

    async fn payments(
        &self,
        filter: &PaymentFilter,
        page: Page<PaymentId>,
    ) -> Result<Vec<Payment>, StoreError> {
        self.list_payments(filter, page).await
    }

    async fn balance(&self, user: UserId) -> Result<Balance, StoreError> {
        self.find_balance(user).await
    }

    async fn ledger(
        &self,
        user: UserId,
        page: Page<EntryId>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.list_entries(user, page).await
    }

    async fn negative_balances(&self, limit: u32) -> Result<Vec<Balance>, StoreError> {
        self.list_negative_balances(limit).await
    }

    async fn verify_ledger(&self) -> Result<Vec<Discrepancy>, StoreError> {
        self.find_discrepancies().await
    }

    async fn consume(&self, request: &UsageRequest) -> Result<Consumption, StoreError> {
        self.consume_usage(request).await
    }

    async fn usage_counts(
        &self,
        user: UserId,
        period_start: OffsetDateTime,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.count_usage(user, period_start).await
    }

    async fn insert_coupon(&self, coupon: &Coupon, audit: &AuditEntry) -> Result<(), StoreError> {
        self.insert_new_coupon(coupon, audit).await
    }

    async fn coupons(&self) -> Result<Vec<Coupon>, StoreError> {
        self.list_coupons().await
    }

    async fn redeem_coupon(
        &self,
        code: &str,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Redemption, StoreError> {
        self.redeem(code, user, now).await
    }

    async fn referral_code(&self, user: UserId, code: &str) -> Result<String, StoreError> {
        self.code_of(user, code).await
    }

    async fn user_by_referral_code(&self, code: &str) -> Result<Option<UserId>, StoreError> {
        self.lookup_id(
            "SELECT user_id FROM referral_codes WHERE code = $1",
            code,
            UserId::parse,
        )
        .await
    }

    async fn referred_count(&self, user: UserId) -> Result<i64, StoreError> {
        self.count_referred(user).await
    }

    async fn admit_refund(
        &self,
        refund: &NewRefund,
        audit: &AuditEntry,
    ) -> Result<RefundAdmission, StoreError> {
        self.admit(refund, audit).await
    }

    async fn link_refund(
        &self,
        refund: RefundId,
        stripe_refund: &StripeRefundId,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.set_refund_stripe_id(refund, stripe_refund).await
    }

    async fn fail_refund(&self, refund: RefundId, _now: OffsetDateTime) -> Result<(), StoreError> {
        self.mark_refund_failed(refund).await
    }

    async fn refund(&self, id: RefundId) -> Result<Option<Refund>, StoreError> {
        Ok(self.find_refunds("id", &id.to_string()).await?.pop())
    }

    async fn refunds_of(&self, payment: PaymentId) -> Result<Vec<Refund>, StoreError> {
        self.find_refunds("payment_id", &payment.to_string()).await
    }

    async fn insert_mentor(&self, mentor: &Mentor, audit: &AuditEntry) -> Result<(), StoreError> {
        self.insert_mentor_row(mentor, audit).await
    }

    async fn mentors(&self) -> Result<Vec<Mentor>, StoreError> {
        self.list_mentors().await
    }

    async fn assign_mentor(
        &self,
        member: UserId,
        mentor: MentorId,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<AssignOutcome, StoreError> {
        self.assign(member, mentor, now, audit).await
    }

    async fn members(&self, query: &MemberQuery) -> Result<MemberPage, StoreError> {
        self.list_members(query).await
    }

    async fn member(&self, user: UserId) -> Result<Option<MemberRow>, StoreError> {
        self.find_member(user).await
    }

    async fn overview(
        &self,
        since: OffsetDateTime,
        revenue_since: OffsetDateTime,
    ) -> Result<OverviewFacts, StoreError> {
        self.overview_facts(since, revenue_since).await
    }

    async fn events_mentioning(
        &self,
        ids: &[String],
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        self.list_events_mentioning(ids, limit).await
    }

    async fn audit_about(&self, subject: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.list_audit_about(subject, limit).await
    }
}

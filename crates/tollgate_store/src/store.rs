//! The `Store` port implemented over the SQL modules; each method is one transaction.

use async_trait::async_trait;
use time::OffsetDateTime;
use tollgate_core::account::{NewUser, Role, SessionRecord, User};
use tollgate_core::api_key::{ApiKey, NewApiKey};
use tollgate_core::audit::AuditEntry;
use tollgate_core::inbox::{EventStatus, InboxEvent, NewEvent, Settlement};
use tollgate_core::invoice::Invoice;
use tollgate_core::notification::PendingMessage;
use tollgate_core::store::{Page, SyncChanges};
use tollgate_core::stripe::{CheckoutSessionId, StripeCustomerId, StripeEventId};
use tollgate_core::subscription::Subscription;
use tollgate_core::{ApiKeyId, AuditId, Email, Store, StoreError, UserId};

use crate::SqlStore;
use crate::columns::db_error;

#[async_trait]
impl Store for SqlStore {
    async fn ready(&self) -> Result<(), StoreError> {
        let applied = self.applied_version().await.map_err(db_error)?;
        let expected = crate::database::migrator()
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
        let stored = self.insert_events(std::slice::from_ref(event)).await?;
        Ok(stored.first().copied().unwrap_or(false))
    }

    async fn record_events(&self, events: &[NewEvent]) -> Result<Vec<bool>, StoreError> {
        self.insert_events(events).await
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
    ) -> Result<(), StoreError> {
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
}

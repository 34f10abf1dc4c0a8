//! The Store contract: every method, on SQLite always and on PostgreSQL when
//! TOLLGATE_TEST_POSTGRES_URL is set, each test on a fresh database.

use time::{Duration, OffsetDateTime};
use tollgate_core::account::{NewUser, Role, SessionRecord};
use tollgate_core::api_key::{ApiKey, NewApiKey};
use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::store::Page;
use tollgate_core::{
    AccountStore, ApiKeyId, ApiKeyStore, AuditStore, BillingStore, Email, HealthStore, InboxStore,
    OutboxStore, Secret, SessionStore, StoreError, UserId,
};
use tollgate_store::SqlStore;
use tollgate_store::testing::TestDatabase;

/// Runs one contract check against every configured backend, and once more on SQLite with
/// the inbox journal in front of the inbox (as `tollgate serve` runs it).
macro_rules! contract {
    ($name:ident, $check:expr) => {
        #[tokio::test]
        async fn $name() {
            let check: fn(SqlStore) -> _ = $check;
            for database in TestDatabase::all().await {
                let store = database.store().await;
                check(store.clone()).await;
                store.close().await;
            }
            let journaled = TestDatabase::sqlite();
            let store = journaled
                .store()
                .await
                .with_inbox_journal(std::time::Duration::ZERO)
                .await
                .expect("open the inbox journal");
            check(store.clone()).await;
            store.close().await;
        }
    };
}

fn now() -> OffsetDateTime {
    // Stored with millisecond precision: compare like with like.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .expect("valid")
}

fn new_user(email: &str, at: OffsetDateTime) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: Some(Email::parse(email).expect("valid email")),
        password_hash: Some("$argon2id$stub".to_string()),
        external_id: None,
        role: Role::User,
        tenant_id: None,
        created_at: at,
        signup: Default::default(),
    }
}

fn audit_for(user: &NewUser, at: OffsetDateTime) -> AuditEntry {
    AuditEntry::new(
        Actor::User(user.id),
        "user.signup",
        format!("user:{}", user.id),
        serde_json::json!({"role": "user"}),
        at,
    )
}

async fn insert(store: &SqlStore, email: &str, at: OffsetDateTime) -> tollgate_core::account::User {
    let user = new_user(email, at);
    store
        .insert_user(&user, &audit_for(&user, at))
        .await
        .expect("insert user")
}

contract!(migrations_run_twice_are_a_no_op, |store| async move {
    assert_eq!(
        store.migrate().await.expect("second run"),
        Vec::<i64>::new()
    );
    store.ready().await.expect("ready after migrations");
});

contract!(
    a_user_is_found_by_id_and_by_email_in_any_case,
    |store| async move {
        let at = now();
        let user = insert(&store, "Ada@Example.com", at).await;
        assert_eq!(
            store.user(user.id).await.expect("by id"),
            Some(user.clone())
        );
        let (found, hash) = store
            .credentials_by_email(&Email::parse("ADA@example.COM").expect("valid"))
            .await
            .expect("by email")
            .expect("exists");
        assert_eq!(found, user);
        assert_eq!(hash.as_deref(), Some("$argon2id$stub"));
        assert_eq!(found.created_at, at);
        assert_eq!(store.user(UserId::new()).await.expect("lookup"), None);
    }
);

contract!(
    a_second_account_with_the_same_email_is_a_conflict_and_writes_nothing,
    |store| async move {
        let at = now();
        insert(&store, "ada@example.com", at).await;
        let twin = new_user("ADA@example.com", at);
        let result = store.insert_user(&twin, &audit_for(&twin, at)).await;
        assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
        assert_eq!(store.user(twin.id).await.expect("lookup"), None);
        let audit = store
            .audit_log(Page {
                limit: 10,
                before: None,
            })
            .await
            .expect("audit");
        assert_eq!(audit.len(), 1, "the failed insert left no audit entry");
    }
);

contract!(an_external_identity_maps_to_one_user, |store| async move {
    let at = now();
    let mut user = new_user("jwt@example.com", at);
    user.password_hash = None;
    user.external_id = Some("https://id.example|sub-1".to_string());
    let inserted = store
        .insert_user(&user, &audit_for(&user, at))
        .await
        .expect("insert");
    assert_eq!(
        store
            .user_by_external_id("https://id.example|sub-1")
            .await
            .expect("lookup"),
        Some(inserted)
    );
    let mut twin = new_user("other@example.com", at);
    twin.external_id = user.external_id.clone();
    assert!(matches!(
        store.insert_user(&twin, &audit_for(&twin, at)).await,
        Err(StoreError::Conflict(_))
    ));
    let (_, hash) = store
        .credentials_by_email(&Email::parse("jwt@example.com").expect("valid"))
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(hash, None, "an external user has no password");
});

contract!(
    users_are_listed_newest_first_in_keyset_pages_and_by_role,
    |store| async move {
        let start = now();
        let mut ids = Vec::new();
        for i in 0..5 {
            let mut user = new_user(&format!("u{i}@example.com"), start + Duration::seconds(i));
            if i % 2 == 0 {
                user.role = Role::Admin;
            }
            ids.push(user.id);
            store
                .insert_user(&user, &audit_for(&user, user.created_at))
                .await
                .expect("insert");
        }
        let first = store
            .users(
                None,
                Page {
                    limit: 2,
                    before: None,
                },
            )
            .await
            .expect("page 1");
        assert_eq!(
            first.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![ids[4], ids[3]]
        );
        let second = store
            .users(
                None,
                Page {
                    limit: 2,
                    before: Some(ids[3]),
                },
            )
            .await
            .expect("page 2");
        assert_eq!(
            second.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        let admins = store
            .users(
                Some(Role::Admin),
                Page {
                    limit: 10,
                    before: None,
                },
            )
            .await
            .expect("admins");
        assert_eq!(
            admins.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![ids[4], ids[2], ids[0]]
        );
        assert_eq!(store.count_users(None).await.expect("count"), 5);
        assert_eq!(
            store.count_users(Some(Role::Admin)).await.expect("count"),
            3
        );
    }
);

contract!(
    a_session_is_found_until_it_expires_or_is_deleted,
    |store| async move {
        let at = now();
        let user = insert(&store, "s@example.com", at).await;
        let session = SessionRecord {
            token_hash: "hash-1".to_string(),
            user_id: user.id,
            csrf_token: Secret::new("csrf-1".to_string()),
            created_at: at,
            expires_at: at + Duration::hours(1),
        };
        store
            .insert_session(&session)
            .await
            .expect("insert session");
        let (found, found_user) = store
            .session("hash-1", at)
            .await
            .expect("lookup")
            .expect("live");
        assert_eq!(found_user, user);
        assert_eq!(found.csrf_token.expose(), "csrf-1");
        assert_eq!(found.expires_at, session.expires_at);
        assert!(
            store
                .session("hash-1", at + Duration::hours(2))
                .await
                .expect("lookup")
                .is_none()
        );
        assert!(store.session("other", at).await.expect("lookup").is_none());

        assert_eq!(store.delete_expired_sessions(at).await.expect("sweep"), 0);
        assert_eq!(
            store
                .delete_expired_sessions(at + Duration::hours(2))
                .await
                .expect("sweep"),
            1
        );
        store.insert_session(&session).await.expect("insert again");
        store.delete_session("hash-1").await.expect("delete");
        assert!(store.session("hash-1", at).await.expect("lookup").is_none());
    }
);

contract!(
    an_api_key_authenticates_until_revoked_and_only_its_owner_revokes_it,
    |store| async move {
        let at = now();
        let owner = insert(&store, "owner@example.com", at).await;
        let other = insert(&store, "other@example.com", at).await;
        let key = ApiKey {
            id: ApiKeyId::new(),
            user_id: owner.id,
            name: "ci".to_string(),
            prefix: "tg_test_abcd".to_string(),
            scopes: vec![
                tollgate_core::api_key::Scope::UsageWrite,
                tollgate_core::api_key::Scope::Admin,
            ],
            created_at: at,
            last_used_at: None,
        };
        let audit = AuditEntry::new(
            Actor::User(owner.id),
            "api_key.create",
            format!("api_key:{}", key.id),
            serde_json::Value::Null,
            at,
        );
        store
            .insert_api_key(
                &NewApiKey {
                    key: key.clone(),
                    key_hash: "key-hash".to_string(),
                },
                &audit,
            )
            .await
            .expect("insert key");
        assert_eq!(store.api_keys(owner.id).await.expect("list").len(), 1);
        assert!(store.api_keys(other.id).await.expect("list").is_empty());

        let later = at + Duration::minutes(5);
        let (found, user) = store
            .authenticate_api_key("key-hash", later)
            .await
            .expect("lookup")
            .expect("live key");
        assert_eq!((found.id, user.id), (key.id, owner.id));
        assert_eq!(found.scopes, key.scopes, "the scopes are stored");
        let listed = store.api_keys(owner.id).await.expect("list");
        assert_eq!(listed[0].last_used_at, Some(later), "the use was recorded");

        let revoke_audit = AuditEntry::new(
            Actor::User(other.id),
            "api_key.revoke",
            format!("api_key:{}", key.id),
            serde_json::Value::Null,
            later,
        );
        assert!(
            !store
                .revoke_api_key(other.id, key.id, later, &revoke_audit)
                .await
                .expect("revoke")
        );
        assert!(
            store
                .revoke_api_key(owner.id, key.id, later, &revoke_audit)
                .await
                .expect("revoke")
        );
        assert!(
            !store
                .revoke_api_key(owner.id, key.id, later, &revoke_audit)
                .await
                .expect("revoke twice")
        );
        assert!(
            store
                .authenticate_api_key("key-hash", later)
                .await
                .expect("lookup")
                .is_none()
        );
        assert!(store.api_keys(owner.id).await.expect("list").is_empty());
    }
);

contract!(
    the_audit_log_pages_newest_first_with_details,
    |store| async move {
        let at = now();
        let mut ids = Vec::new();
        for i in 0..3 {
            let entry = AuditEntry::new(
                Actor::Cli,
                "admin.create",
                format!("user:{i}"),
                serde_json::json!({"n": i}),
                at + Duration::seconds(i),
            );
            ids.push(entry.id);
            store.append_audit(&entry).await.expect("append");
        }
        let page = store
            .audit_log(Page {
                limit: 2,
                before: None,
            })
            .await
            .expect("page");
        assert_eq!(
            page.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        assert_eq!(page[0].details, serde_json::json!({"n": 2}));
        assert_eq!(page[0].actor, Actor::Cli);
        let rest = store
            .audit_log(Page {
                limit: 2,
                before: Some(ids[1]),
            })
            .await
            .expect("page");
        assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), vec![ids[0]]);
    }
);

#[tokio::test]
async fn data_survives_reconnecting_to_an_existing_database() {
    for database in TestDatabase::all().await {
        let store = database.store().await;
        let user = insert(&store, "keep@example.com", now()).await;
        store.close().await;
        let reopened = database.store().await;
        assert_eq!(reopened.user(user.id).await.expect("lookup"), Some(user));
        reopened.close().await;
    }
}

// --- billing -------------------------------------------------------------------------------

mod billing {
    use super::*;
    use tollgate_core::inbox::{EventStatus, NewEvent, Settlement};
    use tollgate_core::invoice::Invoice;
    use tollgate_core::notification::{OutboxMessage, Topic};
    use tollgate_core::store::SyncChanges;
    use tollgate_core::stripe::{
        CheckoutSessionId, StripeCustomerId, StripeEventId, StripeInvoiceId, StripePriceId,
        StripeSubscriptionId, SubscriptionStatus,
    };
    use tollgate_core::subscription::Subscription;

    fn customer(n: u32) -> StripeCustomerId {
        StripeCustomerId::parse(&format!("cus_{n}")).expect("id")
    }

    fn subscription(user: UserId, status: SubscriptionStatus, at: OffsetDateTime) -> Subscription {
        Subscription {
            id: StripeSubscriptionId::parse("sub_1").expect("id"),
            user_id: user,
            customer: customer(1),
            status,
            price: StripePriceId::parse("price_1").expect("id"),
            plan: Some("pro".into()),
            quantity: 1,
            current_period_start: at,
            current_period_end: at + Duration::days(30),
            cancel_at_period_end: false,
            canceled_at: None,
            ended_at: None,
            trial_end: None,
            created_at: at,
        }
    }

    fn event(id: &str, at: OffsetDateTime) -> NewEvent {
        NewEvent {
            id: StripeEventId::parse(id).expect("id"),
            event_type: "customer.subscription.updated".into(),
            account: None,
            created: at.unix_timestamp(),
            api_version: Some("2026-09-30.endive".into()),
            livemode: false,
            payload: format!(r#"{{"id":"{id}","data":{{"object":{{"id":"sub_1"}}}}}}"#),
            status: EventStatus::Received,
            received_at: at,
        }
    }

    contract!(
        the_first_customer_link_wins_and_maps_both_ways,
        |store| async move {
            let at = now();
            let user = insert(&store, "c@example.com", at).await;
            assert_eq!(
                store.stripe_customer_of(user.id).await.expect("lookup"),
                None
            );
            assert_eq!(
                store
                    .link_stripe_customer(user.id, &customer(1), at)
                    .await
                    .expect("link"),
                customer(1)
            );
            assert_eq!(
                store
                    .link_stripe_customer(user.id, &customer(2), at)
                    .await
                    .expect("link"),
                customer(1),
                "the first link wins"
            );
            assert_eq!(
                store
                    .user_of_stripe_customer(&customer(1))
                    .await
                    .expect("lookup"),
                Some(user.id)
            );
            assert_eq!(
                store
                    .user_of_stripe_customer(&customer(2))
                    .await
                    .expect("lookup"),
                None
            );
        }
    );

    contract!(
        an_older_fetch_never_overwrites_a_newer_one_and_canceled_is_final,
        |store| async move {
            let at = now();
            let user = insert(&store, "s@example.com", at).await;
            let apply = |status, fetched: OffsetDateTime| {
                let changes = SyncChanges {
                    fetched_at: Some(fetched),
                    subscription: Some(subscription(user.id, status, at)),
                    ..SyncChanges::default()
                };
                let store = store.clone();
                async move { store.apply_sync(None, &changes).await.expect("apply") }
            };
            apply(SubscriptionStatus::PastDue, at + Duration::seconds(10)).await;
            apply(SubscriptionStatus::Active, at + Duration::seconds(5)).await;
            let subs = store.subscriptions_of(user.id).await.expect("subs");
            assert_eq!(
                subs[0].status,
                SubscriptionStatus::PastDue,
                "the older fetch was skipped"
            );
            apply(SubscriptionStatus::Canceled, at + Duration::seconds(20)).await;
            apply(SubscriptionStatus::Active, at + Duration::seconds(30)).await;
            let subs = store.subscriptions_of(user.id).await.expect("subs");
            assert_eq!(subs.len(), 1);
            assert_eq!(
                subs[0].status,
                SubscriptionStatus::Canceled,
                "canceled is terminal"
            );
            assert_eq!(
                subs[0],
                subscription(user.id, SubscriptionStatus::Canceled, at)
            );
        }
    );

    contract!(
        a_fetch_whose_window_overlaps_the_stored_ones_asks_to_be_fetched_again,
        |store| async move {
            let at = now();
            let user = insert(&store, "w@example.com", at).await;
            // (sent, answered) in seconds after `at`; the answer says whether the snapshot
            // could not be ordered against the stored one.
            let apply = |status, sent: i64, answered: i64| {
                let changes = SyncChanges {
                    fetched_at: Some(at + Duration::seconds(sent)),
                    fetched_until: Some(at + Duration::seconds(answered)),
                    subscription: Some(subscription(user.id, status, at)),
                    ..SyncChanges::default()
                };
                let store = store.clone();
                async move {
                    store
                        .apply_sync(None, &changes)
                        .await
                        .expect("apply")
                        .subscription_overlapped
                }
            };
            let status =
                || async { store.subscriptions_of(user.id).await.expect("subs")[0].status };
            assert!(
                !apply(SubscriptionStatus::Active, 10, 20).await,
                "the first"
            );
            assert!(
                apply(SubscriptionStatus::PastDue, 15, 25).await,
                "sent before the stored one was answered: either may be staler"
            );
            assert_eq!(
                status().await,
                SubscriptionStatus::PastDue,
                "kept: sent later"
            );
            assert!(
                !apply(SubscriptionStatus::Active, 30, 40).await,
                "sent after the stored one was answered: newer, for sure"
            );
            assert!(
                apply(SubscriptionStatus::PastDue, 5, 35).await,
                "answered after the stored one was sent: either may be staler"
            );
            assert_eq!(
                status().await,
                SubscriptionStatus::Active,
                "refused: sent earlier"
            );
            assert!(
                !apply(SubscriptionStatus::PastDue, 1, 2).await,
                "answered before the stored one was sent: older, for sure"
            );
            assert!(
                !apply(SubscriptionStatus::Active, 30, 40).await,
                "the stored snapshot itself again"
            );
            assert!(
                !apply(SubscriptionStatus::Active, 50, 50).await,
                "a change without an answer time is an instant"
            );
        }
    );

    contract!(
        paid_invoices_give_the_payment_date_and_stay_paid,
        |store| async move {
            let at = now();
            let user = insert(&store, "i@example.com", at).await;
            let invoice = |status: &str, paid_at: Option<OffsetDateTime>| Invoice {
                id: StripeInvoiceId::parse("in_1").expect("id"),
                user_id: user.id,
                subscription: Some(StripeSubscriptionId::parse("sub_1").expect("id")),
                status: status.into(),
                amount_due: 4900,
                amount_paid: if paid_at.is_some() { 4900 } else { 0 },
                currency: "usd".into(),
                paid_at,
                hosted_invoice_url: Some("https://example.com/i".into()),
                created_at: at,
            };
            assert_eq!(store.last_payment_at(user.id).await.expect("last"), None);
            let paid_at = at + Duration::seconds(3);
            for (status, paid, fetched) in [
                ("open", None, 1),
                ("paid", Some(paid_at), 2),
                ("open", None, 3),
            ] {
                let changes = SyncChanges {
                    fetched_at: Some(at + Duration::seconds(fetched)),
                    invoice: Some(invoice(status, paid)),
                    ..SyncChanges::default()
                };
                store.apply_sync(None, &changes).await.expect("apply");
            }
            let invoices = store.invoices_of(user.id, 10).await.expect("invoices");
            assert_eq!(
                invoices,
                vec![invoice("paid", Some(paid_at))],
                "paid is final"
            );
            assert_eq!(
                store.last_payment_at(user.id).await.expect("last"),
                Some(paid_at)
            );
        }
    );

    contract!(
        an_event_is_stored_once_claimed_under_a_lease_and_settled,
        |store| async move {
            let at = now();
            assert!(
                store
                    .record_event(&event("evt_1", at))
                    .await
                    .expect("insert")
            );
            assert!(
                !store
                    .record_event(&event("evt_1", at))
                    .await
                    .expect("duplicate"),
                "the same id is stored once"
            );
            let mut ignored = event("evt_2", at + Duration::seconds(1));
            ignored.status = EventStatus::Ignored;
            assert!(store.record_event(&ignored).await.expect("insert"));

            let claimed = store
                .claim_events(at, Duration::seconds(30), 10)
                .await
                .expect("claim");
            assert_eq!(
                claimed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                vec!["evt_1"],
                "ignored events are not claimed"
            );
            assert_eq!(claimed[0].attempts, 1);
            assert!(
                store
                    .claim_events(at, Duration::seconds(30), 10)
                    .await
                    .expect("claim")
                    .is_empty(),
                "leased"
            );
            let retry_at = at + Duration::seconds(5);
            store
                .settle_event(
                    &claimed[0].id,
                    EventStatus::Received,
                    Some("stripe down"),
                    Some(retry_at),
                    at,
                )
                .await
                .expect("settle");
            assert!(
                store
                    .claim_events(at, Duration::seconds(30), 10)
                    .await
                    .expect("claim")
                    .is_empty(),
                "not due yet"
            );
            let again = store
                .claim_events(retry_at, Duration::seconds(30), 10)
                .await
                .expect("claim");
            assert_eq!(
                (
                    again.len(),
                    again[0].attempts,
                    again[0].last_error.as_deref()
                ),
                (1, 2, Some("stripe down"))
            );

            store
                .settle_event(
                    &again[0].id,
                    EventStatus::Failed,
                    Some("gave up"),
                    None,
                    retry_at,
                )
                .await
                .expect("settle");
            let failed = store
                .events(
                    Some(EventStatus::Failed),
                    Page {
                        limit: 10,
                        before: None,
                    },
                )
                .await
                .expect("list");
            assert_eq!(failed.len(), 1);
            assert_eq!(store.replay_failed(retry_at).await.expect("replay"), 1);
            let replayed = store
                .event(&failed[0].id)
                .await
                .expect("get")
                .expect("exists");
            assert_eq!(
                (replayed.status, replayed.attempts),
                (EventStatus::Received, 0)
            );
            assert!(
                store
                    .replay_event(&StripeEventId::parse("evt_404").expect("id"), at)
                    .await
                    .is_ok_and(|found| !found)
            );
            let all = store
                .events(
                    None,
                    Page {
                        limit: 10,
                        before: None,
                    },
                )
                .await
                .expect("list");
            assert_eq!(
                all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                vec!["evt_2", "evt_1"],
                "newest first"
            );
        }
    );

    contract!(
        events_page_newest_first_by_cursor_with_or_without_a_status,
        |store| async move {
            let t = now();
            let ms = time::Duration::milliseconds;
            // c and d arrive in the same millisecond: the id breaks the tie.
            for (id, at) in [
                ("evt_a", t),
                ("evt_b", t + ms(1)),
                ("evt_c", t + ms(2)),
                ("evt_d", t + ms(2)),
                ("evt_e", t + ms(3)),
            ] {
                assert!(store.record_event(&event(id, at)).await.expect("insert"));
            }
            for id in ["evt_b", "evt_d"] {
                let id = StripeEventId::parse(id).expect("id");
                store
                    .settle_event(&id, EventStatus::Failed, Some("gave up"), None, t)
                    .await
                    .expect("settle");
            }
            let pages = |status: Option<EventStatus>, limit: u32| {
                let store = store.clone();
                async move {
                    let mut pages = Vec::new();
                    let mut before = None;
                    loop {
                        let page = store
                            .events(status, Page { limit, before })
                            .await
                            .expect("list");
                        let ids: Vec<String> =
                            page.iter().map(|e| e.id.as_str().to_string()).collect();
                        before = page.last().map(|e| e.id.clone());
                        if ids.is_empty() {
                            break pages;
                        }
                        pages.push(ids);
                    }
                }
            };
            assert_eq!(
                pages(None, 2).await,
                vec![
                    vec!["evt_e", "evt_d"],
                    vec!["evt_c", "evt_b"],
                    vec!["evt_a"]
                ]
            );
            assert_eq!(
                pages(Some(EventStatus::Failed), 1).await,
                vec![vec!["evt_d"], vec!["evt_b"]]
            );
            assert_eq!(
                pages(Some(EventStatus::Received), 2).await,
                vec![vec!["evt_e", "evt_c"], vec!["evt_a"]]
            );
        }
    );

    contract!(
        a_batch_stores_each_new_event_once_and_reports_every_repeat_as_a_duplicate,
        |store| async move {
            let at = now();
            assert!(
                store
                    .record_event(&event("evt_old", at))
                    .await
                    .expect("insert")
            );
            let mut ignored = event("evt_b", at);
            ignored.status = EventStatus::Ignored;
            let batch = [
                event("evt_a", at),
                ignored,
                event("evt_old", at),
                event("evt_a", at + Duration::seconds(1)),
                event("evt_c", at),
            ];
            assert_eq!(
                store.record_events(batch.to_vec()).await.expect("batch"),
                vec![true, true, false, false, true],
                "stored once: an id already stored, or earlier in the batch, is a duplicate"
            );
            assert_eq!(
                store.record_events(Vec::new()).await.expect("empty batch"),
                Vec::<bool>::new()
            );
            let stored = store
                .event(&batch[0].id)
                .await
                .expect("get")
                .expect("stored");
            assert_eq!(
                (stored.received_at, stored.payload.as_str(), stored.status),
                (at, batch[0].payload.as_str(), EventStatus::Received),
                "the first of the repeated id is the one stored"
            );
            let all = store
                .events(
                    None,
                    Page {
                        limit: 10,
                        before: None,
                    },
                )
                .await
                .expect("list");
            assert_eq!(all.len(), 4, "evt_old, evt_a, evt_b, evt_c");
            let claimed = store
                .claim_events(at + Duration::seconds(1), Duration::seconds(30), 10)
                .await
                .expect("claim");
            assert_eq!(
                claimed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                vec!["evt_a", "evt_c", "evt_old"],
                "a batch's ignored event is stored settled, the rest due"
            );
        }
    );

    contract!(
        a_batch_of_outcomes_is_settled_together_each_as_its_own,
        |store| async move {
            let at = now();
            let ids = ["evt_s1", "evt_s2", "evt_s3"];
            let batch: Vec<_> = ids.iter().map(|id| event(id, at)).collect();
            store.record_events(batch.clone()).await.expect("insert");
            let claimed = store
                .claim_events(at, Duration::seconds(30), 10)
                .await
                .expect("claim");
            assert_eq!(claimed.len(), 3);
            let retry_at = at + Duration::seconds(8);
            let settlement = |i: usize, status, error: &str, next| Settlement {
                id: batch[i].id.clone(),
                status,
                error: Some(error.to_string()),
                next_attempt_at: next,
            };
            store
                .settle_events(
                    &[
                        settlement(0, EventStatus::Ignored, "no such invoice", None),
                        settlement(1, EventStatus::Received, "stripe down", Some(retry_at)),
                        settlement(2, EventStatus::Failed, "gave up", None),
                    ],
                    at,
                )
                .await
                .expect("settle");
            store
                .settle_events(&[], at)
                .await
                .expect("nothing to settle");
            let mut outcomes = Vec::new();
            for new in &batch {
                let stored = store.event(&new.id).await.expect("get").expect("stored");
                outcomes.push((stored.status, stored.last_error, stored.processed_at));
            }
            assert_eq!(
                outcomes,
                vec![
                    (
                        EventStatus::Ignored,
                        Some("no such invoice".into()),
                        Some(at)
                    ),
                    (EventStatus::Received, Some("stripe down".into()), None),
                    (EventStatus::Failed, Some("gave up".into()), None),
                ]
            );
            assert!(
                store
                    .claim_events(retry_at - Duration::seconds(1), Duration::seconds(30), 10)
                    .await
                    .expect("claim")
                    .is_empty(),
                "the retry is not due yet and the other two are settled"
            );
            let again = store
                .claim_events(retry_at, Duration::seconds(30), 10)
                .await
                .expect("claim");
            assert_eq!(
                again
                    .iter()
                    .map(|e| (e.id.as_str(), e.attempts))
                    .collect::<Vec<_>>(),
                vec![("evt_s2", 2)]
            );
        }
    );

    contract!(
        applying_an_event_marks_it_processed_and_writes_each_notification_once,
        |store| async move {
            let at = now();
            let user = insert(&store, "n@example.com", at).await;
            store
                .record_event(&event("evt_9", at))
                .await
                .expect("insert");
            store
                .record_checkout_session(
                    &CheckoutSessionId::parse("cs_test_1").expect("id"),
                    user.id,
                    "subscription",
                    Some("pro"),
                    at,
                )
                .await
                .expect("checkout");
            let messages = OutboxMessage::fan_out(
                Topic::SubscriptionActivated,
                "sub_1",
                user.id,
                serde_json::json!({"x": 1}),
                &[
                    "email:admins".to_string(),
                    "webhook:http://127.0.0.1:1/h".to_string(),
                ],
                at,
            );
            let changes = SyncChanges {
                fetched_at: Some(at),
                customer_link: Some((user.id, customer(1))),
                checkout_status: Some((
                    CheckoutSessionId::parse("cs_test_1").expect("id"),
                    "complete".into(),
                )),
                subscription: Some(subscription(user.id, SubscriptionStatus::Active, at)),
                messages,
                ..SyncChanges::default()
            };
            let id = StripeEventId::parse("evt_9").expect("id");
            store.apply_sync(Some(&id), &changes).await.expect("apply");
            store
                .apply_sync(Some(&id), &changes)
                .await
                .expect("apply again");
            let stored = store.event(&id).await.expect("get").expect("exists");
            assert_eq!(stored.status, EventStatus::Processed);
            assert!(stored.processed_at.is_some());
            assert_eq!(
                store
                    .checkout_session_owner(&CheckoutSessionId::parse("cs_test_1").expect("id"))
                    .await
                    .expect("owner"),
                Some(user.id)
            );

            let pending = store
                .claim_messages(at, Duration::seconds(30), 10)
                .await
                .expect("claim");
            assert_eq!(
                pending.len(),
                2,
                "one message per channel, not per application"
            );
            store
                .settle_message(&pending[0].id, true, None, None, at)
                .await
                .expect("delivered");
            store
                .settle_message(
                    &pending[1].id,
                    false,
                    Some("503"),
                    Some(at + Duration::seconds(2)),
                    at,
                )
                .await
                .expect("retry");
            assert!(
                store
                    .claim_messages(at, Duration::seconds(30), 10)
                    .await
                    .expect("claim")
                    .is_empty()
            );
            let retried = store
                .claim_messages(at + Duration::seconds(2), Duration::seconds(30), 10)
                .await
                .expect("claim");
            assert_eq!((retried.len(), retried[0].attempts), (1, 2));
            assert_eq!(retried[0].message.topic, Topic::SubscriptionActivated);
        }
    );
}

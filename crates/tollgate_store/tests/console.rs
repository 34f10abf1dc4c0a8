//! The admin console's store commands (issue 6): mentors and their guarded assignment, the
//! derived member rows that `apply_sync` keeps, the members table's search, filter, sort and
//! pages, the overview counts; on SQLite always and on PostgreSQL when
//! TOLLGATE_TEST_POSTGRES_URL is set.

use time::{Duration, OffsetDateTime};
use tollgate_core::account::{NewUser, Role, User};
use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::inbox::{EventStatus, NewEvent};
use tollgate_core::invoice::Invoice;
use tollgate_core::member::{MemberQuery, MemberSort};
use tollgate_core::mentor::{AssignOutcome, Mentor};
use tollgate_core::store::SyncChanges;
use tollgate_core::stripe::{
    StripeCustomerId, StripeEventId, StripeInvoiceId, StripePriceId, StripeSubscriptionId,
    SubscriptionStatus,
};
use tollgate_core::subscription::{PaymentStatus, Subscription};
use tollgate_core::{
    AccountStore, BillingStore, ConsoleStore, Email, InboxStore, MentorId, MentorStore, StoreError,
    UserId,
};
use tollgate_store::SqlStore;
use tollgate_store::testing::TestDatabase;

macro_rules! contract {
    ($name:ident, $check:expr) => {
        #[tokio::test]
        async fn $name() {
            for database in TestDatabase::all().await {
                let store = database.store().await;
                let check: fn(SqlStore) -> _ = $check;
                check(store.clone()).await;
                store.close().await;
            }
        }
    };
}

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .expect("valid")
}

async fn insert(store: &SqlStore, email: &str, at: OffsetDateTime) -> User {
    let user = NewUser {
        id: UserId::new(),
        email: Some(Email::parse(email).expect("valid email")),
        password_hash: Some("$argon2id$stub".to_string()),
        external_id: None,
        role: Role::User,
        tenant_id: None,
        created_at: at,
        signup: Default::default(),
    };
    let audit = AuditEntry::new(
        Actor::User(user.id),
        "user.signup",
        format!("user:{}", user.id),
        serde_json::json!({}),
        at,
    );
    store.insert_user(&user, &audit).await.expect("insert user")
}

fn subscription(
    user: UserId,
    n: u32,
    status: SubscriptionStatus,
    at: OffsetDateTime,
) -> Subscription {
    Subscription {
        id: StripeSubscriptionId::parse(&format!("sub_{n}")).expect("id"),
        user_id: user,
        customer: StripeCustomerId::parse(&format!("cus_{n}")).expect("id"),
        status,
        price: StripePriceId::parse("price_1").expect("id"),
        plan: Some("membership".into()),
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

fn paid_invoice(user: UserId, n: u32, paid_at: OffsetDateTime, amount: i64) -> Invoice {
    Invoice {
        id: StripeInvoiceId::parse(&format!("in_{n}")).expect("id"),
        user_id: user,
        subscription: Some(StripeSubscriptionId::parse(&format!("sub_{n}")).expect("id")),
        status: "paid".into(),
        amount_due: amount,
        amount_paid: amount,
        currency: "usd".into(),
        paid_at: Some(paid_at),
        hosted_invoice_url: None,
        created_at: paid_at,
    }
}

/// What the worker applies when Stripe says a member paid.
async fn pay(store: &SqlStore, user: UserId, n: u32, at: OffsetDateTime) {
    let changes = SyncChanges {
        fetched_at: Some(at),
        subscription: Some(subscription(user, n, SubscriptionStatus::Active, at)),
        invoice: Some(paid_invoice(user, n, at, 4900)),
        ..SyncChanges::default()
    };
    store.apply_sync(None, &changes).await.expect("apply");
}

fn mentor(name: &str, at: OffsetDateTime) -> Mentor {
    Mentor {
        id: MentorId::new(),
        name: name.into(),
        email: None,
        created_at: at,
        members: 0,
    }
}

fn audit(action: &str, target: String, at: OffsetDateTime) -> AuditEntry {
    AuditEntry::new(Actor::System, action, target, serde_json::json!({}), at)
}

fn query(status: Option<PaymentStatus>) -> MemberQuery {
    MemberQuery {
        search: None,
        status,
        sort: MemberSort::Newest,
        offset: 0,
        limit: 50,
    }
}

contract!(
    a_synced_payment_updates_the_members_row_in_the_same_transaction,
    |store| async move {
        let at = now();
        let member = insert(&store, "m@example.com", at).await;
        let before = store.member(member.id).await.expect("row").expect("exists");
        assert_eq!(before.billing.payment_status, PaymentStatus::Preapproved);
        pay(&store, member.id, 1, at).await;
        let after = store.member(member.id).await.expect("row").expect("exists");
        assert_eq!(after.billing.payment_status, PaymentStatus::Paid);
        assert_eq!(after.billing.payment_date, Some(at));
        assert_eq!(after.billing.plan.as_deref(), Some("membership"));
        let failed = SyncChanges {
            fetched_at: Some(at + Duration::seconds(1)),
            subscription: Some(subscription(member.id, 1, SubscriptionStatus::PastDue, at)),
            ..SyncChanges::default()
        };
        store.apply_sync(None, &failed).await.expect("apply");
        let row = store.member(member.id).await.expect("row").expect("exists");
        assert_eq!(row.billing.payment_status, PaymentStatus::PaymentFailed);
    }
);

contract!(
    a_mentor_is_assigned_only_to_a_paid_member_and_the_assignment_is_audited,
    |store| async move {
        let at = now();
        let member = insert(&store, "m@example.com", at).await;
        let grace = mentor("Grace", at);
        store
            .insert_mentor(
                &grace,
                &audit("mentor.create", format!("mentor:{}", grace.id), at),
            )
            .await
            .expect("mentor");
        let assign_audit = audit("mentor.assign", format!("user:{}", member.id), at);
        assert_eq!(
            store
                .assign_mentor(member.id, grace.id, at, &assign_audit)
                .await
                .expect("assign"),
            AssignOutcome::NotPaid
        );
        assert_eq!(
            store
                .member(member.id)
                .await
                .expect("row")
                .expect("row")
                .mentor,
            None
        );
        assert!(
            store
                .audit_about(&format!("user:{}", member.id), 10)
                .await
                .expect("audit")
                .iter()
                .all(|e| e.action != "mentor.assign"),
            "a refused assignment writes no audit entry"
        );
        assert_eq!(
            store
                .assign_mentor(member.id, MentorId::new(), at, &assign_audit)
                .await
                .expect("assign"),
            AssignOutcome::UnknownMentor
        );
        assert_eq!(
            store
                .assign_mentor(UserId::new(), grace.id, at, &assign_audit)
                .await
                .expect("assign"),
            AssignOutcome::UnknownMember
        );

        pay(&store, member.id, 1, at).await;
        assert_eq!(
            store
                .assign_mentor(member.id, grace.id, at, &assign_audit)
                .await
                .expect("assign"),
            AssignOutcome::Assigned
        );
        let row = store.member(member.id).await.expect("row").expect("row");
        assert_eq!(row.mentor, Some((grace.id, "Grace".to_string())));
        let mentors = store.mentors().await.expect("mentors");
        assert_eq!(mentors.len(), 1);
        assert_eq!(mentors[0].members, 1);
        let entries = store
            .audit_about(&format!("user:{}", member.id), 10)
            .await
            .expect("audit");
        assert!(entries.iter().any(|e| e.action == "mentor.assign"));
    }
);

contract!(
    mentor_names_are_unique_whatever_their_case,
    |store| async move {
        let at = now();
        let first = mentor("Grace", at);
        store
            .insert_mentor(&first, &audit("mentor.create", "m".into(), at))
            .await
            .expect("first");
        let again = mentor("grace", at);
        assert!(matches!(
            store
                .insert_mentor(&again, &audit("mentor.create", "m".into(), at))
                .await,
            Err(StoreError::Conflict(_))
        ));
    }
);

contract!(
    the_members_table_searches_filters_sorts_and_pages,
    |store| async move {
        let at = now();
        let mut ids = Vec::new();
        for (i, email) in [
            "b@example.com",
            "a_1@example.com",
            "c@example.com",
            "a%2@other.org",
        ]
        .iter()
        .enumerate()
        {
            ids.push(
                insert(&store, email, at + Duration::seconds(i as i64))
                    .await
                    .id,
            );
        }
        pay(&store, ids[2], 1, at + Duration::seconds(60)).await;
        pay(&store, ids[0], 2, at + Duration::seconds(30)).await;

        let all = store.members(&query(None)).await.expect("members");
        assert_eq!(all.total, 4);
        assert_eq!(all.rows[0].id, ids[3], "newest first");

        let paid = store
            .members(&query(Some(PaymentStatus::Paid)))
            .await
            .expect("paid");
        assert_eq!(paid.total, 2);
        let unpaid = store
            .members(&query(Some(PaymentStatus::Preapproved)))
            .await
            .expect("unpaid");
        assert_eq!(
            unpaid.total, 2,
            "members who never subscribed count as preapproved"
        );

        let by_payment = store
            .members(&MemberQuery {
                sort: MemberSort::PaymentDate,
                ..query(None)
            })
            .await
            .expect("sorted");
        assert_eq!(by_payment.rows[0].id, ids[2], "latest payment first");
        assert_eq!(by_payment.rows[1].id, ids[0]);

        let by_email = store
            .members(&MemberQuery {
                sort: MemberSort::Email,
                ..query(None)
            })
            .await
            .expect("sorted");
        let emails: Vec<String> = by_email
            .rows
            .iter()
            .map(|r| r.email.as_ref().expect("email").as_str().to_string())
            .collect();
        assert_eq!(
            emails,
            [
                "a%2@other.org",
                "a_1@example.com",
                "b@example.com",
                "c@example.com"
            ]
        );

        // LIKE's wildcards in a search are literal characters.
        let literal = store
            .members(&MemberQuery {
                search: Some("A_".into()),
                ..query(None)
            })
            .await
            .expect("search");
        assert_eq!(literal.total, 1);
        assert_eq!(literal.rows[0].id, ids[1]);
        let percent = store
            .members(&MemberQuery {
                search: Some("%".into()),
                ..query(None)
            })
            .await
            .expect("search");
        assert_eq!(percent.total, 1);

        let second_page = store
            .members(&MemberQuery {
                offset: 3,
                limit: 2,
                ..query(None)
            })
            .await
            .expect("page");
        assert_eq!(second_page.total, 4);
        assert_eq!(second_page.rows.len(), 1);
        assert_eq!(second_page.rows[0].id, ids[0], "oldest is last");
    }
);

contract!(
    the_overview_counts_subscriptions_revenue_per_day_and_statuses,
    |store| async move {
        let at = now();
        let a = insert(&store, "a@example.com", at).await;
        let b = insert(&store, "b@example.com", at).await;
        insert(&store, "c@example.com", at).await;
        pay(&store, a.id, 1, at).await;
        pay(&store, b.id, 2, at).await;
        let ended = SyncChanges {
            fetched_at: Some(at + Duration::seconds(1)),
            subscription: Some(Subscription {
                ended_at: Some(at),
                ..subscription(b.id, 2, SubscriptionStatus::Canceled, at)
            }),
            ..SyncChanges::default()
        };
        store.apply_sync(None, &ended).await.expect("apply");
        let facts = store
            .overview(at - Duration::days(30), at - Duration::days(90))
            .await
            .expect("overview");
        assert_eq!(
            facts.entitled_by_plan,
            vec![(Some("membership".to_string()), 1)]
        );
        assert_eq!(facts.new_subscriptions, 2);
        assert_eq!(facts.churned_subscriptions, 1);
        let day = at.unix_timestamp().div_euclid(86_400);
        assert_eq!(facts.revenue_by_day, vec![(day, "usd".to_string(), 9800)]);
        let mut statuses = facts.members_by_status.clone();
        statuses.sort_by_key(|(s, _)| s.as_str());
        assert_eq!(
            statuses,
            vec![
                (PaymentStatus::Cancelled, 1),
                (PaymentStatus::Paid, 1),
                (PaymentStatus::Preapproved, 1)
            ]
        );
    }
);

contract!(
    a_members_events_are_found_by_their_stripe_ids,
    |store| async move {
        let at = now();
        let event = |id: &str, object: &str| NewEvent {
            id: StripeEventId::parse(id).expect("id"),
            event_type: "customer.subscription.updated".into(),
            account: None,
            created: at.unix_timestamp(),
            api_version: None,
            livemode: false,
            payload: format!(r#"{{"id":"{id}","data":{{"object":{{"id":"{object}"}}}}}}"#),
            status: EventStatus::Received,
            received_at: at,
        };
        store
            .record_event(&event("evt_1", "sub_AbC1"))
            .await
            .expect("record");
        store
            .record_event(&event("evt_2", "sub_AbC10"))
            .await
            .expect("record");
        store
            .record_event(&event("evt_3", "cus_Other"))
            .await
            .expect("record");
        let found = store
            .events_mentioning(&["sub_AbC1".to_string()], 10)
            .await
            .expect("events");
        let ids: Vec<&str> = found.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["evt_1"], "exact ids only, case kept");
        assert!(
            store
                .events_mentioning(&[], 10)
                .await
                .expect("none")
                .is_empty()
        );
    }
);

//! The credit ledger's guarantees on both databases: a fact is credited once, a payment's
//! status never moves back, refunds reverse once each, concurrent spends never overdraw, and
//! for any sequence of grants, spends and refunds the balance is the sum of the entries.

use std::collections::BTreeSet;

use proptest::prelude::*;
use time::OffsetDateTime;
use tollgate_core::account::{NewUser, Role, Signup};
use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::money::{Currency, Money};
use tollgate_core::payment::{
    NewPayment, PaymentKind, PaymentOutcome, PaymentStatus, RefundOutcome, RefundStatus,
};
use tollgate_core::store::{Page, SyncChanges};
use tollgate_core::stripe::StripeRefundId;
use tollgate_core::usage::{Meter, UsageOutcome, UsageRequest};
use tollgate_core::{
    AccountStore, BillingStore, Email, LedgerStore, PaymentId, PaymentStore, UserId,
};
use tollgate_store::SqlStore;
use tollgate_store::testing::TestDatabase;

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::parse("usd").expect("usd"))
}

async fn member(store: &SqlStore) -> UserId {
    let now = OffsetDateTime::now_utc();
    let user = NewUser {
        id: UserId::new(),
        email: Some(Email::parse(&format!("{}@example.com", UserId::new())).expect("email")),
        password_hash: None,
        external_id: None,
        role: Role::User,
        tenant_id: None,
        created_at: now,
        signup: Signup::default(),
    };
    let audit = AuditEntry::new(
        Actor::System,
        "user.signup",
        format!("user:{}", user.id),
        serde_json::json!({}),
        now,
    );
    store.insert_user(&user, &audit).await.expect("user").id
}

async fn pending_payment(store: &SqlStore, user: UserId, amount: i64, credits: i64) -> PaymentId {
    let payment = NewPayment {
        id: PaymentId::new(),
        user_id: user,
        kind: PaymentKind::Checkout,
        package: None,
        amount: usd(amount),
        credits,
        description: None,
        created_at: OffsetDateTime::now_utc(),
    };
    store.insert_payment(&payment).await.expect("payment");
    payment.id
}

async fn settle(store: &SqlStore, payment: PaymentId, status: PaymentStatus) {
    let changes = SyncChanges {
        payment: Some(PaymentOutcome {
            payment,
            status,
            amount_paid: None,
            payment_intent: None,
            charge: None,
            referral: None,
            at: OffsetDateTime::now_utc(),
        }),
        ..SyncChanges::default()
    };
    store.apply_sync(None, &changes).await.expect("apply");
}

async fn refunded(store: &SqlStore, payment: PaymentId, stripe_id: &str, amount: i64) {
    let changes = SyncChanges {
        refunds: vec![RefundOutcome {
            stripe_refund: StripeRefundId::parse(stripe_id).expect("id"),
            refund: None,
            payment,
            amount,
            status: RefundStatus::Succeeded,
            reason: None,
            at: OffsetDateTime::now_utc(),
        }],
        ..SyncChanges::default()
    };
    store
        .apply_sync(None, &changes)
        .await
        .expect("apply refund");
}

async fn spend(store: &SqlStore, user: UserId, credits: i64, key: &str) -> UsageOutcome {
    store
        .consume(&UsageRequest {
            user,
            feature: "credits".into(),
            quantity: credits,
            idempotency_key: key.into(),
            meter: Meter::Credits { credits },
            at: OffsetDateTime::now_utc(),
        })
        .await
        .expect("consume")
        .outcome
}

async fn credits(store: &SqlStore, user: UserId) -> i64 {
    store.balance(user).await.expect("balance").credits
}

#[tokio::test]
async fn a_payment_is_credited_once_and_its_status_never_moves_back() {
    for database in TestDatabase::all().await {
        let store = database.store().await;
        let user = member(&store).await;
        let payment = pending_payment(&store, user, 1000, 1000).await;
        settle(&store, payment, PaymentStatus::Failed).await;
        settle(&store, payment, PaymentStatus::Completed).await;
        settle(&store, payment, PaymentStatus::Completed).await;
        settle(&store, payment, PaymentStatus::Expired).await;
        settle(&store, payment, PaymentStatus::Failed).await;
        let stored = store.payment(payment).await.expect("read").expect("exists");
        assert_eq!(stored.status, PaymentStatus::Completed);
        assert_eq!(credits(&store, user).await, 1000);
        assert!(store.verify_ledger().await.expect("verify").is_empty());
        store.close().await;
    }
}

#[tokio::test]
async fn each_refund_reverses_its_share_once_and_the_last_one_refunds_the_payment() {
    for database in TestDatabase::all().await {
        let store = database.store().await;
        let user = member(&store).await;
        let payment = pending_payment(&store, user, 1000, 1000).await;
        settle(&store, payment, PaymentStatus::Completed).await;
        refunded(&store, payment, "re_first", 400).await;
        refunded(&store, payment, "re_first", 400).await;
        assert_eq!(credits(&store, user).await, 600);
        let partly = store.payment(payment).await.expect("read").expect("exists");
        assert_eq!(partly.status, PaymentStatus::PartiallyRefunded);
        refunded(&store, payment, "re_second", 600).await;
        refunded(&store, payment, "re_first", 400).await;
        assert_eq!(credits(&store, user).await, 0);
        let whole = store.payment(payment).await.expect("read").expect("exists");
        assert_eq!(whole.status, PaymentStatus::Refunded);
        assert_eq!(whole.refunded_amount, 1000);
        let refunds = store.refunds_of(payment).await.expect("refunds");
        assert_eq!(
            refunds
                .iter()
                .map(|r| r.credits_reversed)
                .collect::<Vec<_>>(),
            vec![400, 600]
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_refund_of_spent_credits_goes_negative_and_is_flagged() {
    for database in TestDatabase::all().await {
        let store = database.store().await;
        let user = member(&store).await;
        let payment = pending_payment(&store, user, 1000, 1000).await;
        settle(&store, payment, PaymentStatus::Completed).await;
        assert!(matches!(
            spend(&store, user, 700, "job").await,
            UsageOutcome::Spent { balance: 300, .. }
        ));
        refunded(&store, payment, "re_all", 1000).await;
        let balance = store.balance(user).await.expect("balance");
        assert_eq!(balance.credits, -700);
        assert!(balance.negative_since.is_some());
        let flagged = store.negative_balances(10).await.expect("flagged");
        assert_eq!(
            flagged.iter().map(|b| b.user_id).collect::<Vec<_>>(),
            vec![user]
        );
        assert!(store.verify_ledger().await.expect("verify").is_empty());
        store.close().await;
    }
}

#[tokio::test]
async fn concurrent_spends_never_overdraw_and_a_key_spends_once() {
    for database in TestDatabase::all().await {
        let store = database.store().await;
        let user = member(&store).await;
        let payment = pending_payment(&store, user, 50, 50).await;
        settle(&store, payment, PaymentStatus::Completed).await;
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { spend(&store, user, 1, &format!("k{i}")).await })
            })
            .collect();
        let mut spent = 0;
        for task in tasks {
            if matches!(task.await.expect("task"), UsageOutcome::Spent { .. }) {
                spent += 1;
            }
        }
        assert_eq!(spent, 50);
        assert_eq!(credits(&store, user).await, 0);
        // A key that spent replays its answer and spends nothing more; one that was refused
        // left nothing behind, so it may succeed once there are credits again.
        assert!(matches!(
            spend(&store, user, 1, "k100").await,
            UsageOutcome::Insufficient {
                needed: 1,
                balance: 0
            }
        ));
        let refill = pending_payment(&store, user, 5, 5).await;
        settle(&store, refill, PaymentStatus::Completed).await;
        assert!(matches!(
            spend(&store, user, 1, "k100").await,
            UsageOutcome::Spent { balance: 4, .. }
        ));
        assert!(matches!(
            spend(&store, user, 1, "k100").await,
            UsageOutcome::Spent { balance: 4, .. }
        ));
        assert_eq!(credits(&store, user).await, 4);
        let entries = store
            .ledger(
                user,
                Page {
                    limit: 200,
                    before: None,
                },
            )
            .await
            .expect("ledger");
        assert_eq!(entries.iter().filter(|e| e.delta == -1).count(), 51);
        assert!(store.verify_ledger().await.expect("verify").is_empty());
        store.close().await;
    }
}

#[derive(Clone, Debug)]
enum Op {
    Buy {
        amount: i64,
        twice: bool,
    },
    Spend {
        credits: i64,
        key: u8,
    },
    Refund {
        payment: usize,
        percent: i64,
        twice: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1_i64..5000, any::<bool>()).prop_map(|(amount, twice)| Op::Buy { amount, twice }),
        (1_i64..3000, 0_u8..6).prop_map(|(credits, key)| Op::Spend { credits, key }),
        (0_usize..8, 1_i64..=100, any::<bool>()).prop_map(|(payment, percent, twice)| Op::Refund {
            payment,
            percent,
            twice
        }),
    ]
}

/// Applies `ops` to a fresh member; returns (member, facts applied).
async fn run(store: &SqlStore, ops: &[Op]) -> (UserId, usize) {
    let user = member(store).await;
    let mut payments: Vec<(PaymentId, i64, i64)> = Vec::new(); // id, amount, refunded
    let mut facts = BTreeSet::new();
    for (index, op) in ops.iter().enumerate() {
        match op {
            Op::Buy { amount, twice } => {
                let id = pending_payment(store, user, *amount, *amount).await;
                settle(store, id, PaymentStatus::Completed).await;
                if *twice {
                    settle(store, id, PaymentStatus::Completed).await;
                }
                facts.insert(format!("payment:{id}"));
                payments.push((id, *amount, 0));
            }
            Op::Spend { credits, key } => {
                if let UsageOutcome::Spent { .. } =
                    spend(store, user, *credits, &format!("key{key}")).await
                {
                    facts.insert(format!("usage:{key}"));
                }
            }
            Op::Refund {
                payment,
                percent,
                twice,
            } => {
                let count = payments.len().max(1);
                let Some((id, amount, refunded_so_far)) = payments.get_mut(*payment % count) else {
                    continue;
                };
                let refund = (*amount * percent / 100).min(*amount - *refunded_so_far);
                if refund < 1 {
                    continue;
                }
                let stripe_id = format!("re_{index}_{}", id.as_uuid().simple());
                refunded(store, *id, &stripe_id, refund).await;
                if *twice {
                    refunded(store, *id, &stripe_id, refund).await;
                }
                *refunded_so_far += refund;
                facts.insert(stripe_id);
            }
        }
    }
    (user, facts.len())
}

#[test]
fn for_any_grants_spends_and_refunds_the_balance_is_the_sum_of_entries_and_no_fact_repeats() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let databases = runtime.block_on(TestDatabase::all());
    let stores: Vec<SqlStore> = databases
        .iter()
        .map(|d| runtime.block_on(d.store()))
        .collect();
    let config = ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..25))| {
        for store in &stores {
            let (user, facts) = runtime.block_on(run(store, &ops));
            let entries = runtime
                .block_on(store.ledger(user, Page { limit: 200, before: None }))
                .expect("ledger");
            prop_assert_eq!(entries.len(), facts, "one entry per fact");
            let sum: i64 = entries.iter().map(|e| e.delta).sum();
            let cached = runtime.block_on(store.balance(user)).expect("balance");
            prop_assert_eq!(cached.credits, sum);
            prop_assert_eq!(cached.negative_since.is_some(), sum < 0);
            prop_assert!(runtime.block_on(store.verify_ledger()).expect("verify").is_empty());
        }
    });
    for store in stores {
        runtime.block_on(store.close());
    }
    drop(databases);
}

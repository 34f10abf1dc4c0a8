//! The members table of the admin console at 100,000 members: every page the console asks
//! for answers well under a second on both databases. Ignored by default (it takes a while to
//! fill); run with
//! `cargo test -p tollgate_store --test members_at_scale -- --ignored --nocapture`.

use std::time::{Duration, Instant};
use tollgate_core::ConsoleStore;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use tollgate_core::member::{MemberQuery, MemberSort};
use tollgate_core::subscription::PaymentStatus;
use tollgate_store::testing::TestDatabase;

const MEMBERS: usize = 100_000;
const BATCH: usize = 500;

async fn fill(url: &str) {
    install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("connect");
    let base: i64 = 1_700_000_000_000;
    let mut tx = pool.begin().await.expect("begin");
    for start in (0..MEMBERS).step_by(BATCH) {
        let mut users = String::from(
            "INSERT INTO users (id, email, password_hash, external_id, role, tenant_id, created_at, updated_at) VALUES ",
        );
        let mut billing = String::from(
            "INSERT INTO member_billing (user_id, payment_status, plan_id, payment_date, current_period_end, \
             cancel_at_period_end, updated_at) VALUES ",
        );
        let mut first_billing = true;
        for i in start..start + BATCH {
            let id = uuid::Uuid::new_v4();
            let at = base + i as i64 * 1000;
            if i > start {
                users.push(',');
            }
            users.push_str(&format!(
                "('{id}', 'member{i}@example.com', NULL, NULL, 'user', NULL, {at}, {at})"
            ));
            // Two thirds pay, one in a hundred failed, the rest never subscribed.
            let status = match i % 100 {
                0 => Some("payment_failed"),
                n if n % 3 != 0 => Some("paid"),
                _ => None,
            };
            if let Some(status) = status {
                if !first_billing {
                    billing.push(',');
                }
                first_billing = false;
                billing.push_str(&format!(
                    "('{id}', '{status}', 'membership', {}, {}, 0, {at})",
                    at + 60_000,
                    at + 2_592_000_000
                ));
            }
        }
        sqlx::query(&users).execute(&mut *tx).await.expect("users");
        sqlx::query(&billing)
            .execute(&mut *tx)
            .await
            .expect("billing");
    }
    tx.commit().await.expect("commit");
    pool.close().await;
}

#[tokio::test]
#[ignore = "fills 100,000 members; run on purpose"]
async fn every_members_page_answers_within_a_second_at_100_000_members() {
    for database in TestDatabase::all().await {
        let store = database.store().await;
        let filled = Instant::now();
        fill(&database.url).await;
        println!(
            "{}: filled {MEMBERS} members in {:?}",
            database.backend.name(),
            filled.elapsed()
        );
        let page = |sort, status, search: Option<&str>, offset| MemberQuery {
            search: search.map(str::to_string),
            status,
            sort,
            offset,
            limit: 50,
        };
        let cases = [
            (
                "newest, first page",
                page(MemberSort::Newest, None, None, 0),
            ),
            (
                "newest, last page",
                page(MemberSort::Newest, None, None, 99_950),
            ),
            (
                "paid, first page",
                page(MemberSort::Newest, Some(PaymentStatus::Paid), None, 0),
            ),
            (
                "payment failed (1 in 100), page 10",
                page(
                    MemberSort::Newest,
                    Some(PaymentStatus::PaymentFailed),
                    None,
                    450,
                ),
            ),
            (
                "email A-Z, page 1000",
                page(MemberSort::Email, None, None, 49_950),
            ),
            (
                "latest payment first",
                page(MemberSort::PaymentDate, None, None, 0),
            ),
            (
                "search 'member4242'",
                page(MemberSort::Newest, None, Some("member4242"), 0),
            ),
        ];
        for (name, query) in cases {
            // The first run warms the cache; the second is measured.
            store.members(&query).await.expect("members");
            let started = Instant::now();
            let result = store.members(&query).await.expect("members");
            let took = started.elapsed();
            println!(
                "{}: {name}: {} rows of {} in {took:?}",
                database.backend.name(),
                result.rows.len(),
                result.total
            );
            assert!(!result.rows.is_empty(), "{name} finds members");
            assert!(took < Duration::from_secs(1), "{name} took {took:?}");
        }
        store.close().await;
    }
}

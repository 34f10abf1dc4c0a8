//! The SQLite inbox journal seen through the `Store`: what a served SQLite file does with
//! webhook events (appended and synced, then folded into rows before any read).

use time::{Duration, OffsetDateTime};
use tollgate_core::InboxStore;
use tollgate_core::inbox::{EventStatus, NewEvent};
use tollgate_core::store::Page;
use tollgate_core::stripe::StripeEventId;
use tollgate_store::SqlStore;
use tollgate_store::testing::TestDatabase;

fn event(id: &str, at: OffsetDateTime) -> NewEvent {
    NewEvent {
        id: StripeEventId::parse(id).expect("id"),
        event_type: "invoice.paid".into(),
        account: None,
        created: at.unix_timestamp(),
        api_version: Some("2026-09-30.endive".into()),
        livemode: false,
        payload: format!(r#"{{"id":"{id}","data":{{"object":{{"id":"in_1"}}}}}}"#),
        status: EventStatus::Received,
        received_at: at,
    }
}

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .expect("ms")
}

async fn journaled(database: &TestDatabase) -> SqlStore {
    database
        .store()
        .await
        .with_inbox_journal(std::time::Duration::ZERO)
        .await
        .expect("open the inbox journal")
}

async fn listed(store: &SqlStore) -> Vec<String> {
    let mut ids: Vec<String> = store
        .events(
            None,
            Page {
                limit: 100,
                before: None,
            },
        )
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.id.as_str().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_journaled_event_is_read_as_a_row_and_a_redelivery_is_a_duplicate_before_and_after_it_is_folded()
 {
    let database = TestDatabase::sqlite();
    let store = journaled(&database).await;
    let at = now();
    let answers = store
        .record_events(vec![
            event("evt_a", at),
            event("evt_b", at),
            event("evt_a", at),
        ])
        .await
        .expect("record");
    assert_eq!(
        answers,
        vec![true, true, false],
        "a repeat within the batch"
    );
    // Still in the journal: a re-delivery is a duplicate.
    assert_eq!(
        store
            .record_events(vec![event("evt_b", at), event("evt_c", at)])
            .await
            .expect("record"),
        vec![false, true]
    );
    // Any read folds first: the events are rows, each once.
    assert_eq!(listed(&store).await, vec!["evt_a", "evt_b", "evt_c"]);
    let stored = store
        .event(&StripeEventId::parse("evt_c").expect("id"))
        .await
        .expect("find")
        .expect("a row");
    assert_eq!(stored.payload, event("evt_c", at).payload);
    assert_eq!(stored.received_at, at);
    // Folded: a re-delivery is found among the rows.
    assert_eq!(
        store
            .record_events(vec![event("evt_a", at)])
            .await
            .expect("record"),
        vec![false]
    );
    let claimed = store
        .claim_events(at + Duration::seconds(1), Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3, "each acknowledged event is claimed once");
    store.close().await;
}

#[tokio::test]
async fn an_event_stored_as_a_row_before_the_journal_opened_is_a_duplicate_for_it() {
    let database = TestDatabase::sqlite();
    let at = now();
    let plain = database.store().await;
    assert_eq!(
        plain
            .record_events(vec![event("evt_row", at)])
            .await
            .expect("record"),
        vec![true]
    );
    plain.close().await;
    // The journal learns the table's ids when it opens, so it does not take the row for new.
    let store = journaled(&database).await;
    assert_eq!(
        store
            .record_events(vec![event("evt_row", at), event("evt_new", at)])
            .await
            .expect("record"),
        vec![false, true]
    );
    assert_eq!(listed(&store).await, vec!["evt_new", "evt_row"]);
    store.close().await;
}

#[tokio::test]
async fn events_a_stopped_server_left_in_the_journal_are_rows_for_the_next_one() {
    let database = TestDatabase::sqlite();
    let at = now();
    {
        let store = journaled(&database).await;
        store
            .record_events(vec![event("evt_1", at), event("evt_2", at)])
            .await
            .expect("record");
        store.close().await;
    }
    // Without the journal nothing has been folded yet.
    let plain = database.store().await;
    assert!(listed(&plain).await.is_empty());
    plain.close().await;

    let store = journaled(&database).await;
    assert_eq!(
        store
            .record_events(vec![event("evt_2", at)])
            .await
            .expect("record"),
        vec![false],
        "still pending after the restart"
    );
    assert_eq!(listed(&store).await, vec!["evt_1", "evt_2"]);
    store.close().await;
}

#[tokio::test]
async fn a_database_that_refuses_rows_keeps_events_pending_until_it_accepts_them() {
    let database = TestDatabase::sqlite();
    let store = journaled(&database).await;
    let at = now();
    let refuse = |sql: &'static str| {
        let url = database.url.clone();
        async move {
            let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
            sqlx::query(sql).execute(&pool).await.expect("trigger");
            pool.close().await;
        }
    };
    refuse(
        "CREATE TRIGGER refuse_inbox BEFORE INSERT ON stripe_events \
         BEGIN SELECT RAISE(ABORT, 'inbox unavailable'); END",
    )
    .await;
    assert_eq!(
        store
            .record_events(vec![event("evt_x", at)])
            .await
            .expect("acknowledged: the journal took it"),
        vec![true]
    );
    assert!(
        store
            .events(
                None,
                Page {
                    limit: 10,
                    before: None
                }
            )
            .await
            .is_err(),
        "a read that cannot fold says so rather than leave an event out"
    );
    refuse("DROP TRIGGER refuse_inbox").await;
    assert_eq!(listed(&store).await, vec!["evt_x"]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_of_one_event_are_journaled_once_whichever_groups_they_share() {
    let database = TestDatabase::sqlite();
    let store = std::sync::Arc::new(journaled(&database).await);
    let at = now();
    // Three deliveries of each of 40 events, all in flight at once: the journal's thread
    // gathers them into groups as they come, so copies of one id meet both within a group and
    // across groups.
    let mut deliveries = tokio::task::JoinSet::new();
    for copy in 0..3 {
        for n in 0..40 {
            let store = std::sync::Arc::clone(&store);
            let id = format!("evt_concurrent_{n}");
            deliveries.spawn(async move {
                let stored = store
                    .record_events(vec![event(&id, at)])
                    .await
                    .expect("record");
                (id, copy, stored)
            });
        }
    }
    let mut new_per_id = std::collections::BTreeMap::<String, usize>::new();
    while let Some(outcome) = deliveries.join_next().await {
        let (id, _, stored) = outcome.expect("delivery task");
        assert_eq!(stored.len(), 1, "one answer per event");
        *new_per_id.entry(id).or_default() += usize::from(stored[0]);
    }
    assert_eq!(new_per_id.len(), 40);
    assert!(
        new_per_id.values().all(|&new| new == 1),
        "each event is new exactly once: {new_per_id:?}"
    );
    assert_eq!(listed(&store).await.len(), 40);
    store.close().await;
}

//! An inbox that cannot write: the webhook answers 5xx (never a 2xx without a durable
//! record), and the event is applied exactly once when Stripe retries. On a journaled SQLite
//! inbox, a database that refuses rows only delays an acknowledged event.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Executor;
use tollgate_core::InboxStore;
use tollgate_core::store::Page;
use tollgate_store::Backend;
use tollgate_store::testing::TestDatabase;

use crate::support::{TestApp, browser, eventually};

/// Makes the write that comes before the 2xx fail, or stop failing: on a journaled SQLite
/// inbox the journal's append (a failing disk, which a test cannot cause for real), otherwise
/// the database's insert.
async fn refuse_inbox_writes(app: &TestApp, refuse: bool) {
    if !app.store.refuse_journal_writes(refuse) {
        refuse_inbox_rows(app, refuse).await;
    }
}

/// Makes every insert into the inbox table fail, or stop failing. A real refusal by the
/// database: a trigger on SQLite, a constraint that no row satisfies on PostgreSQL.
async fn refuse_inbox_rows(app: &TestApp, refuse: bool) {
    let url = app.database_url();
    let pool = sqlx::AnyPool::connect(url)
        .await
        .expect("second connection");
    let statement = match (Backend::of_url(url).expect("backend"), refuse) {
        (Backend::Sqlite, true) => {
            "CREATE TRIGGER refuse_inbox BEFORE INSERT ON stripe_events BEGIN SELECT RAISE(ABORT, 'inbox unavailable'); END"
        }
        (Backend::Sqlite, false) => "DROP TRIGGER refuse_inbox",
        (Backend::Postgres, true) => {
            "ALTER TABLE stripe_events ADD CONSTRAINT refuse_inbox CHECK (false) NOT VALID"
        }
        (Backend::Postgres, false) => "ALTER TABLE stripe_events DROP CONSTRAINT refuse_inbox",
    };
    pool.execute(statement).await.expect("alter the inbox");
    pool.close().await;
}

#[tokio::test]
async fn a_refused_inbox_write_answers_5xx_and_the_retry_is_applied_once() {
    sqlx::any::install_default_drivers();
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("outage@example.com").await;
        let (_, url) = app.start_checkout(&client, &csrf).await;
        refuse_inbox_writes(&app, true).await;
        assert_eq!(
            app.pay(&url, "4242424242424242").await.status(),
            StatusCode::SEE_OTHER
        );
        let emulator = app.running().emulator_url().expect("emulated").to_string();
        eventually(30, "a delivery answered with a server error", || {
            completed_delivery(&emulator, |d| {
                d["status"].as_u64().is_some_and(|s| s >= 500)
            })
        })
        .await;
        assert_eq!(
            app.summary(&client).await["subscription_status"],
            "preapproved",
            "nothing was acknowledged, nothing applied"
        );

        refuse_inbox_writes(&app, false).await;
        let summary = app.wait_for_status(&client, "paid").await;
        assert!(summary["payment_date"].is_string());
        // The refused delivery comes back on Stripe's retry schedule: wait for its success.
        eventually(60, "the refused delivery to succeed on a retry", || {
            completed_delivery(&emulator, |d| d["outcome"] == "succeeded")
        })
        .await;
        assert_eq!(
            stored_completions(&app).await,
            1,
            "stored once though delivered more than once"
        );
        app.stop().await;
    }
}

/// Whether the emulator's log of `checkout.session.completed` deliveries has one that `matches`.
async fn completed_delivery(emulator: &str, matches: impl Fn(&Value) -> bool) -> Option<()> {
    let log: Value = browser()
        .get(format!(
            "{emulator}/_emulator/deliveries?type=checkout.session.completed"
        ))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    log["data"].as_array()?.iter().any(matches).then_some(())
}

/// How many `checkout.session.completed` events the inbox holds.
async fn stored_completions(app: &TestApp) -> usize {
    app.store
        .events(
            None,
            Page {
                limit: 200,
                before: None,
            },
        )
        .await
        .expect("events")
        .iter()
        .filter(|e| e.event_type == "checkout.session.completed")
        .count()
}

#[tokio::test]
async fn a_journaled_event_waits_out_a_database_that_refuses_rows_and_is_applied_once() {
    sqlx::any::install_default_drivers();
    // The journal is SQLite's alone: PostgreSQL answers 5xx instead (the test above).
    let app = TestApp::spawn(TestDatabase::sqlite(), |_| {}).await;
    assert!(
        app.store.refuse_journal_writes(false),
        "a served SQLite file has an inbox journal"
    );
    let (client, csrf) = app.signup("patient@example.com").await;
    let (_, url) = app.start_checkout(&client, &csrf).await;
    refuse_inbox_rows(&app, true).await;
    assert_eq!(
        app.pay(&url, "4242424242424242").await.status(),
        StatusCode::SEE_OTHER
    );
    let emulator = app.running().emulator_url().expect("emulated").to_string();
    // Acknowledged at once: the journal holds it, whatever the table does.
    eventually(30, "the delivery to be acknowledged", || {
        completed_delivery(&emulator, |d| d["outcome"] == "succeeded")
    })
    .await;
    assert_eq!(
        app.summary(&client).await["subscription_status"],
        "preapproved",
        "not applied while the database refuses the row"
    );
    refuse_inbox_rows(&app, false).await;
    app.wait_for_status(&client, "paid").await;
    assert_eq!(stored_completions(&app).await, 1, "stored once");
    app.stop().await;
}

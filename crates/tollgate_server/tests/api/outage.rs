//! A database that refuses the inbox write: the webhook answers 5xx (never a 2xx without a
//! durable row), and the event is applied exactly once when Stripe retries.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Executor;
use tollgate_core::Store;
use tollgate_core::store::Page;
use tollgate_store::Backend;

use crate::support::{TestApp, browser, eventually};

/// Makes every insert into the inbox fail, or stop failing. A real refusal by the database:
/// a trigger on SQLite, a constraint that no row satisfies on PostgreSQL.
async fn refuse_inbox_writes(app: &TestApp, refuse: bool) {
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
        eventually(30, "a delivery answered with a server error", || async {
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
            log["data"]
                .as_array()?
                .iter()
                .any(|d| d["status"].as_u64().is_some_and(|s| s >= 500))
                .then_some(())
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
        eventually(60, "the refused delivery to succeed on a retry", || async {
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
            log["data"]
                .as_array()?
                .iter()
                .any(|d| d["outcome"] == "succeeded")
                .then_some(())
        })
        .await;
        let events = app
            .store
            .events(
                None,
                Page {
                    limit: 200,
                    before: None,
                },
            )
            .await
            .expect("events");
        let completed: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == "checkout.session.completed")
            .collect();
        assert_eq!(
            completed.len(),
            1,
            "stored once though delivered more than once"
        );
        app.stop().await;
    }
}

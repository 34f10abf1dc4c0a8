//! The same journeys under the emulator's chaos knobs (duplicated, reordered, delayed and
//! failed-first deliveries) end in exactly the state of a clean run.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, browser, settle};

/// Pays, cancels at period end and resumes; returns the member's final state without ids or times.
async fn journey(app: &TestApp, email: &str) -> Value {
    let (client, csrf) = app.signup(email).await;
    let (_, url) = app.start_checkout(&client, &csrf).await;
    assert_eq!(
        app.pay(&url, "4242424242424242").await.status(),
        StatusCode::SEE_OTHER
    );
    app.wait_for_status(&client, "paid").await;
    let cancel = client
        .post(app.url("/api/v1/subscription/cancel"))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "at_period_end": true }))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancel.status(), StatusCode::OK);
    let resume = client
        .post(app.url("/api/v1/subscription/resume"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("resume");
    assert_eq!(resume.status(), StatusCode::OK);
    settle(app).await;
    let summary = app.summary(&client).await;
    let invoices: Value = client
        .get(app.url("/api/v1/invoices"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    json!({
        "subscription_status": summary["subscription_status"],
        "subscription_active": summary["subscription_active"],
        "tier": summary["tier"],
        "has_payment_date": summary["payment_date"].is_string(),
        "status": summary["subscription"]["status"],
        "plan": summary["subscription"]["plan"],
        "cancel_at_period_end": summary["subscription"]["cancel_at_period_end"],
        "invoices": invoices["data"].as_array().expect("data").iter().map(|i| json!([i["status"], i["amount_paid"]])).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn duplicated_reordered_delayed_and_failed_first_deliveries_end_in_the_clean_state() {
    for app in TestApp::all().await {
        let clean = journey(&app, "clean@example.com").await;
        let emulator = app.running().emulator_url().expect("emulated").to_string();
        app.set_chaos("0.5").await;
        let chaotic = journey(&app, "chaos@example.com").await;
        assert_eq!(chaotic, clean);
        assert_eq!(clean["subscription_status"], "paid");
        assert_eq!(clean["invoices"], json!([["paid", 4900]]));

        let log: Value = browser()
            .get(format!("{emulator}/_emulator/deliveries"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let chaos_applied = log["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|d| !d["chaos"].is_null() && d["chaos"] != json!([]) && d["chaos"] != "")
            .count();
        assert!(chaos_applied > 0, "the knobs did something: {log}");
        app.stop().await;
    }
}

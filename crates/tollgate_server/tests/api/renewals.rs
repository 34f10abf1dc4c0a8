//! Renewals by test clock: a renewal keeps the member paid and moves the payment date; a card
//! that fails off-session turns the member to payment_failed, then cancelled after the
//! retries; cancel-at-period-end ends when the clock passes the period end.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::{TestApp, admin};

fn unix(summary: &Value, field: &str) -> i64 {
    let text = summary[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {summary}"));
    OffsetDateTime::parse(text, &Rfc3339)
        .expect("rfc3339")
        .unix_timestamp()
}

async fn advance(app: &TestApp, admin: &Client, csrf: &str, to: i64) {
    let response = admin
        .post(app.url("/api/v1/admin/test-clock/advance"))
        .header("x-csrf-token", csrf)
        .json(&json!({ "to": to }))
        .send()
        .await
        .expect("advance");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

async fn paid_member(app: &TestApp, email: &str, card: &str) -> (Client, String, Value) {
    let (client, csrf) = app.signup(email).await;
    let (_, url) = app.start_checkout(&client, &csrf).await;
    assert_eq!(app.pay(&url, card).await.status(), StatusCode::SEE_OTHER);
    let summary = app.wait_for_status(&client, "paid").await;
    (client, csrf, summary)
}

fn clocked() -> impl Fn(&mut tollgate_server::Config) {
    |c| c.stripe.test_clock = Some("new".into())
}

#[tokio::test]
async fn a_renewal_by_test_clock_keeps_the_member_paid_and_moves_the_payment_date() {
    for app in TestApp::all_with(clocked()).await {
        let (member, _, first) = paid_member(&app, "renews@example.com", "4242424242424242").await;
        let (ops, ops_csrf) = admin(&app, "ops@example.com").await;
        let period_end = unix(&first, "current_period_end");
        let first_payment = unix(&first, "payment_date");
        advance(&app, &ops, &ops_csrf, period_end + 2 * 3600).await;
        let renewed = crate::support::eventually(30, "the renewal to be synced", || async {
            let summary = app.summary(&member).await;
            (unix(&summary, "current_period_end") > period_end
                && unix(&summary, "payment_date") > first_payment)
                .then_some(summary)
        })
        .await;
        assert_eq!(renewed["subscription_status"], "paid");
        assert_eq!(renewed["subscription_active"], true);
        let invoices: Value = member
            .get(app.url("/api/v1/invoices"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(
            invoices["data"]
                .as_array()
                .expect("data")
                .iter()
                .filter(|i| i["status"] == "paid")
                .count(),
            2
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_renewal_that_keeps_failing_turns_payment_failed_then_cancelled() {
    for app in TestApp::all_with(clocked()).await {
        let (member, _, first) = paid_member(&app, "fails@example.com", "4000000000000341").await;
        let (ops, ops_csrf) = admin(&app, "ops@example.com").await;
        let period_end = unix(&first, "current_period_end");
        advance(&app, &ops, &ops_csrf, period_end + 2 * 3600).await;
        let failed = app.wait_for_status(&member, "payment_failed").await;
        assert_eq!(failed["subscription_active"], false);
        assert_eq!(failed["subscription"]["status"], "past_due");
        // Retries 3, 5 and 7 days apart; after the last one the subscription is canceled.
        advance(&app, &ops, &ops_csrf, period_end + 16 * 86_400).await;
        let cancelled = app.wait_for_status(&member, "cancelled").await;
        assert_eq!(cancelled["tier"], "free");
        assert_eq!(
            unix(&cancelled, "payment_date"),
            unix(&first, "payment_date"),
            "no later payment"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn cancel_at_period_end_ends_the_subscription_when_the_clock_passes_the_end() {
    for app in TestApp::all_with(clocked()).await {
        let (member, csrf, first) =
            paid_member(&app, "leaves@example.com", "4242424242424242").await;
        let cancel = member
            .post(app.url("/api/v1/subscription/cancel"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "at_period_end": true }))
            .send()
            .await
            .expect("cancel");
        assert_eq!(cancel.status(), StatusCode::OK);
        assert_eq!(app.summary(&member).await["subscription_status"], "paid");
        let (ops, ops_csrf) = admin(&app, "ops@example.com").await;
        advance(
            &app,
            &ops,
            &ops_csrf,
            unix(&first, "current_period_end") + 3600,
        )
        .await;
        let ended = app.wait_for_status(&member, "cancelled").await;
        assert_eq!(ended["subscription_active"], false);
        app.stop().await;
    }
}

#[tokio::test]
async fn without_a_test_clock_advancing_is_refused() {
    for app in TestApp::all().await {
        let (ops, ops_csrf) = admin(&app, "ops@example.com").await;
        let response = ops
            .post(app.url("/api/v1/admin/test-clock/advance"))
            .header("x-csrf-token", &ops_csrf)
            .json(&json!({ "to": 2_000_000_000 }))
            .send()
            .await
            .expect("advance");
        assert_eq!(response.status(), StatusCode::CONFLICT);
        app.stop().await;
    }
}

//! Subscriptions end to end against the emulator over real HTTP: checkout, the hosted page,
//! verified webhooks into the inbox, the worker's sync, and the member's derived status.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::{BillingStore, InboxStore};

use crate::support::{TestApp, browser, error_of, settle};

#[tokio::test]
async fn paying_with_4242_makes_the_member_paid_only_through_the_webhook() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("member@example.com").await;
        let before = app.summary(&client).await;
        assert_eq!(before["subscription_status"], "preapproved");
        assert_eq!(before["subscription_active"], false);

        let (session_id, url) = app.start_checkout(&client, &csrf).await;
        assert!(session_id.starts_with("cs_test_"));
        assert!(
            url.starts_with(app.running().emulator_url().expect("emulated")),
            "{url}"
        );
        assert_eq!(
            app.summary(&client).await["subscription_status"],
            "preapproved",
            "a checkout pays nothing"
        );

        let paid = app.pay(&url, "4242424242424242").await;
        assert_eq!(paid.status(), StatusCode::SEE_OTHER);
        let success = paid.headers()["location"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(
            success.starts_with(&app.url("/?checkout=success&session_id=cs_test_")),
            "{success}"
        );

        let summary = app.wait_for_status(&client, "paid").await;
        assert_eq!(summary["subscription_active"], true);
        assert_eq!(summary["tier"], "pro");
        assert!(
            summary["payment_date"].is_string(),
            "the payment date comes from the paid invoice: {summary}"
        );
        assert_eq!(summary["subscription"]["plan"], "membership");
        assert_eq!(summary["subscription"]["status"], "active");

        let entitlements: Value = client
            .get(app.url("/api/v1/entitlements"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(entitlements["active"], true);
        assert_eq!(entitlements["features"], json!(["mentor"]));

        let invoices: Value = client
            .get(app.url("/api/v1/invoices"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(invoices["data"][0]["status"], "paid");
        assert_eq!(invoices["data"][0]["amount_paid"], 4900);

        let session: Value = client
            .get(app.url(&format!("/api/v1/checkout/sessions/{session_id}")))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(
            (
                session["status"].as_str(),
                session["payment_status"].as_str()
            ),
            (Some("complete"), Some("paid"))
        );

        let again = client
            .post(app.url("/api/v1/checkout/subscription"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "plan": "membership" }))
            .send()
            .await
            .expect("checkout");
        let (status, error) = error_of(again).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_subscribed"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_declined_card_leaves_the_member_unpaid() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("declined@example.com").await;
        let (_, url) = app.start_checkout(&client, &csrf).await;
        let declined = app.pay(&url, "4000000000000002").await;
        assert_eq!(declined.status(), StatusCode::PAYMENT_REQUIRED);
        let page = declined.text().await.expect("page");
        assert!(
            page.to_lowercase().contains("declined"),
            "the page shows the decline"
        );
        // Whatever the decline emitted is processed before we look.
        crate::support::eventually(10, "an idle inbox", || async {
            let pending = app
                .store
                .events(
                    Some(tollgate_core::inbox::EventStatus::Received),
                    tollgate_core::store::Page {
                        limit: 10,
                        before: None,
                    },
                )
                .await
                .expect("events");
            pending.is_empty().then_some(())
        })
        .await;
        let summary = app.summary(&client).await;
        assert_eq!(summary["subscription_status"], "preapproved");
        assert!(summary["payment_date"].is_null());
        app.stop().await;
    }
}

#[tokio::test]
async fn fifty_concurrent_checkouts_by_a_new_user_make_one_stripe_customer() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("eager@example.com").await;
        let mut requests = Vec::new();
        for _ in 0..50 {
            let client = client.clone();
            let csrf = csrf.clone();
            let url = app.url("/api/v1/checkout/subscription");
            requests.push(tokio::spawn(async move {
                client
                    .post(url)
                    .header("x-csrf-token", csrf)
                    .json(&json!({ "plan": "membership" }))
                    .send()
                    .await
                    .expect("checkout")
                    .status()
            }));
        }
        for request in requests {
            assert_eq!(request.await.expect("join"), StatusCode::CREATED);
        }
        let emulator = app.running().emulator_url().expect("emulated").to_string();
        let customers: Value = browser()
            .get(format!(
                "{emulator}/v1/customers?email=eager@example.com&limit=100"
            ))
            .bearer_auth("sk_test_tollgate_emulator")
            .send()
            .await
            .expect("list customers")
            .json()
            .await
            .expect("json");
        assert_eq!(
            customers["data"].as_array().expect("data").len(),
            1,
            "{customers}"
        );
        let user = app.user_id(&client).await;
        let linked = app
            .store
            .stripe_customer_of(user)
            .await
            .expect("lookup")
            .expect("linked");
        assert_eq!(customers["data"][0]["id"], linked.as_str());
        app.stop().await;
    }
}

#[tokio::test]
async fn cancel_at_period_end_keeps_access_and_resume_undoes_it() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("canceller@example.com").await;
        let (_, url) = app.start_checkout(&client, &csrf).await;
        app.pay(&url, "4242424242424242").await;
        app.wait_for_status(&client, "paid").await;

        let cancel = client
            .post(app.url("/api/v1/subscription/cancel"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "at_period_end": true }))
            .send()
            .await
            .expect("cancel");
        assert_eq!(cancel.status(), StatusCode::OK);
        let answer: Value = cancel.json().await.expect("json");
        assert_eq!(answer["subscription"]["cancel_at_period_end"], true);
        // The answer is Stripe's snapshot at once; the stored state may lag it for a moment
        // while the worker applies a webhook of the step before, whose fetch reached Stripe
        // before this change did (their windows overlap, so the worker fetches it again:
        // docs/inbox.md), so this waits for where it ends.
        let summary = app
            .wait_for_summary(&client, "cancel_at_period_end", |summary| {
                summary["subscription"]["cancel_at_period_end"] == true
            })
            .await;
        assert_eq!(
            summary["subscription_status"], "paid",
            "access lasts until the period ends"
        );

        let resume = client
            .post(app.url("/api/v1/subscription/resume"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("resume");
        assert_eq!(resume.status(), StatusCode::OK);
        let answer: Value = resume.json().await.expect("json");
        assert_eq!(answer["subscription"]["cancel_at_period_end"], false);
        app.wait_for_summary(&client, "resumed", |summary| {
            summary["subscription"]["cancel_at_period_end"] == false
        })
        .await;

        let portal: Value = client
            .post(app.url("/api/v1/billing-portal"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("portal")
            .json()
            .await
            .expect("json");
        assert!(
            portal["url"]
                .as_str()
                .expect("url")
                .starts_with(app.running().emulator_url().expect("emulated"))
        );

        let now = client
            .post(app.url("/api/v1/subscription/cancel"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "at_period_end": false }))
            .send()
            .await
            .expect("cancel");
        assert_eq!(now.status(), StatusCode::OK);
        let summary = app.wait_for_status(&client, "cancelled").await;
        assert_eq!(summary["subscription_active"], false);
        assert_eq!(summary["tier"], "free");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_seed_routes_refuse_to_act_for_another_user() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("honest@example.com").await;
        let (other, _) = app.signup("victim@example.com").await;
        let victim_id = app.user_id(&other).await.to_string();

        let spoof_000 = client
            .post(app.url("/api/stripe/create-checkout-session"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "userId": victim_id }))
            .send()
            .await
            .expect("post");
        assert_eq!(spoof_000.status(), StatusCode::FORBIDDEN);
        let plans: Value = browser()
            .get(app.url("/api/v1/plans"))
            .send()
            .await
            .expect("plans")
            .json()
            .await
            .expect("json");
        let price = plans["data"][0]["price_id"]
            .as_str()
            .expect("resolved price")
            .to_string();
        let spoof_001 = client
            .post(app.url("/api/create-checkout-session"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "priceId": price, "userId": victim_id, "userEmail": "victim@example.com" }))
            .send()
            .await
            .expect("post");
        assert_eq!(spoof_001.status(), StatusCode::FORBIDDEN);
        let peek = client
            .get(app.url(&format!("/api/subscription/{victim_id}")))
            .send()
            .await
            .expect("get");
        assert_eq!(peek.status(), StatusCode::FORBIDDEN);

        let own: Value = client
            .post(app.url("/api/stripe/create-checkout-session"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("post")
            .json()
            .await
            .expect("json");
        assert!(
            own["url"]
                .as_str()
                .is_some_and(|u| u.contains("/checkout/")),
            "{own}"
        );
        let open_redirect = client
            .post(app.url("/api/create-checkout-session"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "priceId": price, "successUrl": "https://evil.example/steal" }))
            .send()
            .await
            .expect("post");
        assert_eq!(open_redirect.status(), StatusCode::BAD_REQUEST);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_cancellation_made_in_the_billing_portal_reaches_tollgate_through_the_webhook() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("portal@example.com").await;
        let (_, url) = app.start_checkout(&client, &csrf).await;
        app.pay(&url, "4242424242424242").await;
        let paid = app.wait_for_status(&client, "paid").await;
        let subscription = paid["subscription"]["id"].as_str().expect("id").to_string();
        let portal: Value = client
            .post(app.url("/api/v1/billing-portal"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "return_path": "/account" }))
            .send()
            .await
            .expect("portal")
            .json()
            .await
            .expect("json");
        let portal_url = portal["url"].as_str().expect("url");
        // The person cancels on Stripe's page; tollgate is not called.
        let page = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let cancelled = page
            .post(portal_url)
            .form(&[
                ("action", "cancel_now"),
                ("subscription", subscription.as_str()),
            ])
            .send()
            .await
            .expect("portal form");
        assert!(
            cancelled.status().is_success() || cancelled.status().is_redirection(),
            "{}",
            cancelled.status()
        );
        let summary = app.wait_for_status(&client, "cancelled").await;
        assert_eq!(summary["subscription"]["status"], "canceled");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_stale_snapshot_whose_fetch_overlapped_the_stored_one_gives_way_to_a_fresh_fetch() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("overlap@example.com").await;
        let (_, url) = app.start_checkout(&client, &csrf).await;
        app.pay(&url, "4242424242424242").await;
        app.wait_for_status(&client, "paid").await;
        settle(&app).await;
        let user = app.user_id(&client).await;
        let current = app.store.subscriptions_of(user).await.expect("subs")[0].clone();
        assert!(!current.cancel_at_period_end);
        // The true state, fetched in a window that is still open…
        let now = time::OffsetDateTime::now_utc();
        app.store
            .apply_sync(
                None,
                &tollgate_core::store::SyncChanges {
                    fetched_at: Some(now - time::Duration::seconds(1)),
                    fetched_until: Some(now + time::Duration::seconds(1)),
                    subscription: Some(current.clone()),
                    ..Default::default()
                },
            )
            .await
            .expect("apply");
        // …and a fetch sent after it whose answer is stale (it reached Stripe first): its
        // later stamp wins the guard, the overlap has it fetched again from the emulator.
        let stale = tollgate_core::subscription::Subscription {
            cancel_at_period_end: true,
            ..current.clone()
        };
        let refetched = app
            .running()
            .state
            .billing()
            .apply_fetched::<tollgate_core::billing::BillingError>(
                None,
                &tollgate_core::store::SyncChanges {
                    fetched_at: Some(now),
                    fetched_until: Some(now + time::Duration::seconds(2)),
                    subscription: Some(stale),
                    ..Default::default()
                },
            )
            .await
            .expect("apply");
        assert_eq!(
            refetched.map(|s| s.cancel_at_period_end),
            Some(false),
            "fetched again"
        );
        let stored = app.store.subscriptions_of(user).await.expect("subs")[0].clone();
        assert!(
            !stored.cancel_at_period_end,
            "the stale snapshot did not stay"
        );
        app.stop().await;
    }
}

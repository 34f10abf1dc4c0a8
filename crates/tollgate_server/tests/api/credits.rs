//! Credits end to end against the emulator: buying packs, the ledger granting once whatever
//! the events do, expiry and declines, referrals, coupons, usage, refunds and seed 002's routes.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, admin, browser, error_of, eventually, settle};

const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";

impl TestApp {
    /// Starts a Checkout purchase of a pack; returns the answer's body.
    async fn buy(&self, client: &Client, csrf: &str, package: &str) -> Value {
        let response = client
            .post(self.url("/api/v1/checkout/credits"))
            .header("x-csrf-token", csrf)
            .json(&json!({ "package": package }))
            .send()
            .await
            .expect("checkout");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("json")
    }

    /// Buys a pack and pays it with the Visa test card; returns the payment id.
    async fn buy_and_pay(&self, client: &Client, csrf: &str, package: &str) -> String {
        let started = self.buy(client, csrf, package).await;
        let url = started["url"].as_str().expect("url");
        assert_eq!(self.pay(url, VISA).await.status(), StatusCode::SEE_OTHER);
        let payment = started["payment_id"].as_str().expect("id").to_string();
        self.wait_for_payment(client, &payment, "completed").await;
        payment
    }

    async fn get_json(&self, client: &Client, path: &str) -> Value {
        client
            .get(self.url(path))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    async fn credits(&self, client: &Client) -> i64 {
        self.get_json(client, "/api/v1/balance").await["credits"]
            .as_i64()
            .expect("credits")
    }

    async fn wait_for_payment(&self, client: &Client, id: &str, status: &str) -> Value {
        eventually(30, &format!("payment {status}"), || async {
            let payment = self
                .get_json(client, &format!("/api/v1/payments/{id}"))
                .await;
            (payment["status"] == status).then_some(payment)
        })
        .await
    }

    async fn wait_for_credits(&self, client: &Client, credits: i64) {
        eventually(30, &format!("{credits} credits"), || async {
            (self.credits(client).await == credits).then_some(())
        })
        .await;
    }

    /// Re-processes every stored event, as a redelivery of all of them would.
    async fn replay_all_events(&self, admin: &Client, csrf: &str) {
        let events = self.get_json(admin, "/api/v1/admin/events?limit=200").await;
        for event in events["data"].as_array().expect("data") {
            let id = event["id"].as_str().expect("id");
            let replay = admin
                .post(self.url(&format!("/api/v1/admin/events/{id}/replay")))
                .header("x-csrf-token", csrf)
                .send()
                .await
                .expect("replay");
            assert!(replay.status().is_success(), "replay {id}");
        }
        settle(self).await;
    }

    async fn post(
        &self,
        client: &Client,
        csrf: &str,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        client
            .post(self.url(path))
            .header("x-csrf-token", csrf)
            .json(&body)
            .send()
            .await
            .expect("post")
    }

    /// The ledger is whole: `tollgate ledger verify`'s check finds nothing.
    async fn assert_ledger_whole(&self) {
        let discrepancies = tollgate_core::LedgerStore::verify_ledger(&self.store)
            .await
            .expect("verify");
        assert!(discrepancies.is_empty(), "{discrepancies:?}");
    }
}

#[tokio::test]
async fn a_ten_dollar_pack_paid_with_4242_grants_exactly_1000_credits_however_often_events_arrive()
{
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("buyer@example.com").await;
        let started = app.buy(&client, &csrf, "credits_1000").await;
        assert_eq!(started["status"], "pending");
        assert_eq!(started["amount"], 1000);
        assert_eq!(started["credits"], 1000);
        let payment = started["payment_id"].as_str().expect("id");
        let pending = app
            .get_json(&client, &format!("/api/v1/payments/{payment}"))
            .await;
        assert_eq!(pending["status"], "pending");
        let url = started["url"].as_str().expect("url");
        assert_eq!(app.pay(url, VISA).await.status(), StatusCode::SEE_OTHER);
        let paid = app.wait_for_payment(&client, payment, "completed").await;
        assert!(paid["completed_at"].is_string());
        assert!(paid["stripe_payment_intent_id"].is_string());
        app.wait_for_credits(&client, 1000).await;
        settle(&app).await;

        // checkout.session.completed and payment_intent.succeeded both arrived and overlap;
        // now every event is delivered again.
        let (admin, admin_csrf) = admin(&app, "admin@example.com").await;
        app.replay_all_events(&admin, &admin_csrf).await;
        assert_eq!(app.credits(&client).await, 1000);
        let ledger = app.get_json(&client, "/api/v1/ledger").await;
        let entries = ledger["data"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "{ledger}");
        assert_eq!(entries[0]["source"], "payment");
        assert_eq!(entries[0]["delta"], 1000);
        app.assert_ledger_whole().await;
        app.stop().await;
    }
}

#[tokio::test]
async fn duplicated_and_reordered_deliveries_still_grant_the_credits_once() {
    for app in TestApp::all().await {
        app.set_chaos("1.0").await;
        let (client, csrf) = app.signup("chaos-buyer@example.com").await;
        app.buy_and_pay(&client, &csrf, "credits_1000").await;
        settle(&app).await;
        assert_eq!(app.credits(&client).await, 1000);
        app.assert_ledger_whole().await;
        app.stop().await;
    }
}

#[tokio::test]
async fn an_expired_session_expires_the_payment_and_grants_nothing() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("late@example.com").await;
        let started = app.buy(&client, &csrf, "credits_1000").await;
        let session = started["session_id"].as_str().expect("session");
        let emulator = app.running().emulator_url().expect("emulated").to_string();
        let expire = browser()
            .post(format!("{emulator}/v1/checkout/sessions/{session}/expire"))
            .bearer_auth("sk_test_tollgate_tests")
            .send()
            .await
            .expect("expire");
        assert_eq!(expire.status(), StatusCode::OK);
        let payment = started["payment_id"].as_str().expect("id");
        let expired = app.wait_for_payment(&client, payment, "expired").await;
        assert!(expired["completed_at"].is_null());
        settle(&app).await;
        assert_eq!(app.credits(&client).await, 0);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_and_grants_nothing() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("declined@example.com").await;
        let started = app.buy(&client, &csrf, "credits_1000").await;
        let url = started["url"].as_str().expect("url");
        let answer = app.pay(url, DECLINED).await;
        assert_eq!(answer.status(), StatusCode::PAYMENT_REQUIRED);
        let payment = started["payment_id"].as_str().expect("id");
        app.wait_for_payment(&client, payment, "failed").await;
        settle(&app).await;
        assert_eq!(app.credits(&client).await, 0);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_payment_intent_confirmed_by_the_app_grants_its_credits() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("intent@example.com").await;
        let response = app
            .post(
                &client,
                &csrf,
                "/api/v1/payment-intents",
                json!({ "amount": 2500, "currency": "usd" }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let intent: Value = response.json().await.expect("json");
        assert!(
            intent["client_secret"]
                .as_str()
                .is_some_and(|s| s.contains("_secret_"))
        );
        let id = intent["id"].as_str().expect("id");
        // What Stripe.js does in the browser with the client secret.
        let emulator = app.running().emulator_url().expect("emulated").to_string();
        let confirm = browser()
            .post(format!("{emulator}/v1/payment_intents/{id}/confirm"))
            .bearer_auth("sk_test_tollgate_tests")
            .form(&[("payment_method", "pm_card_visa")])
            .send()
            .await
            .expect("confirm");
        assert_eq!(confirm.status(), StatusCode::OK);
        let payment = intent["payment_id"].as_str().expect("payment");
        app.wait_for_payment(&client, payment, "completed").await;
        app.wait_for_credits(&client, 2500).await;
        let shown = app
            .get_json(&client, &format!("/api/v1/payment-intents/{id}"))
            .await;
        assert_eq!(shown["status"], "succeeded");
        // Another member cannot see it.
        let (other, _) = app.signup("other@example.com").await;
        let hidden = other
            .get(app.url(&format!("/api/v1/payment-intents/{id}")))
            .send()
            .await
            .expect("get");
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
        app.stop().await;
    }
}

#[tokio::test]
async fn amounts_outside_the_rules_are_refused_before_stripe_is_asked() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("rules@example.com").await;
        for (body, field) in [
            (json!({ "amount": 50, "currency": "usd" }), "amount"),
            (
                json!({ "amount": 100_000_000, "currency": "usd" }),
                "amount",
            ),
            (json!({ "amount": 1000, "currency": "xyz" }), "currency"),
            (json!({ "package": "no_such_pack" }), "package"),
            (
                json!({ "package": "credits_1000", "amount": 1000 }),
                "package",
            ),
        ] {
            let (status, error) = error_of(
                app.post(&client, &csrf, "/api/v1/checkout/credits", body.clone())
                    .await,
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error["field"], field, "{body}: {error}");
        }
        let fractional = app
            .post(
                &client,
                &csrf,
                "/api/v1/checkout/credits",
                json!({ "amount": 10.5, "currency": "usd" }),
            )
            .await;
        assert_eq!(fractional.status(), StatusCode::BAD_REQUEST);
        let payments = app.get_json(&client, "/api/v1/payments").await;
        assert_eq!(payments["data"], json!([]), "nothing half-written");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_referral_bonus_goes_to_both_on_the_first_ten_dollar_purchase_only() {
    for app in TestApp::all().await {
        let (referrer, _) = app.signup("referrer@example.com").await;
        let code = app.get_json(&referrer, "/api/v1/referral").await["code"]
            .as_str()
            .expect("code")
            .to_string();
        let unknown = browser()
            .post(app.url("/api/v1/auth/signup"))
            .json(&json!({ "email": "typo@example.com", "password": crate::support::PASSWORD, "referral_code": "NOSUCHCODE" }))
            .send()
            .await
            .expect("signup");
        assert_eq!(error_of(unknown).await.1["field"], "referral_code");

        let buyer = browser();
        let signup = buyer
            .post(app.url("/api/v1/auth/signup"))
            .json(&json!({ "email": "referred@example.com", "password": crate::support::PASSWORD, "referral_code": code.to_lowercase() }))
            .send()
            .await
            .expect("signup");
        assert_eq!(signup.status(), StatusCode::CREATED);
        let csrf = signup.json::<Value>().await.expect("json")["csrf_token"]
            .as_str()
            .expect("csrf")
            .to_string();
        app.buy_and_pay(&buyer, &csrf, "credits_1000").await;
        app.wait_for_credits(&buyer, 2000).await;
        app.wait_for_credits(&referrer, 1000).await;
        assert_eq!(
            app.get_json(&referrer, "/api/v1/referral").await["referred"],
            1
        );

        // A second purchase earns no further bonus.
        app.buy_and_pay(&buyer, &csrf, "credits_1000").await;
        app.wait_for_credits(&buyer, 3000).await;
        settle(&app).await;
        assert_eq!(app.credits(&buyer).await, 3000);
        assert_eq!(app.credits(&referrer).await, 1000);
        app.assert_ledger_whole().await;
        app.stop().await;
    }
}

#[tokio::test]
async fn a_coupon_is_redeemed_once_per_member_and_never_past_its_maximum() {
    for app in TestApp::all().await {
        let (admin, admin_csrf) = admin(&app, "admin@example.com").await;
        let created = app
            .post(
                &admin,
                &admin_csrf,
                "/api/v1/admin/coupons",
                json!({ "code": "welcome", "credits": 300, "max_redemptions": 2 }),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let expired = app
            .post(
                &admin,
                &admin_csrf,
                "/api/v1/admin/coupons",
                json!({ "code": "old", "credits": 300, "expires_at": "2020-01-01T00:00:00Z" }),
            )
            .await;
        assert_eq!(expired.status(), StatusCode::CREATED);

        let (first, first_csrf) = app.signup("first@example.com").await;
        let redeem = |client: Client, csrf: String, code: &'static str| {
            let app = &app;
            async move {
                app.post(
                    &client,
                    &csrf,
                    "/api/v1/coupons/redeem",
                    json!({ "code": code }),
                )
                .await
            }
        };
        let ok = redeem(first.clone(), first_csrf.clone(), "WELCOME").await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.json::<Value>().await.expect("json")["balance"], 300);
        let (status, error) =
            error_of(redeem(first.clone(), first_csrf.clone(), "welcome").await).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::CONFLICT, Some("coupon_already_redeemed"))
        );
        let (status, error) =
            error_of(redeem(first.clone(), first_csrf.clone(), "old").await).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::GONE, Some("coupon_expired"))
        );
        let (status, _) = error_of(redeem(first.clone(), first_csrf.clone(), "nope").await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (second, second_csrf) = app.signup("second@example.com").await;
        assert_eq!(
            redeem(second, second_csrf, "welcome").await.status(),
            StatusCode::OK
        );
        let (third, third_csrf) = app.signup("third@example.com").await;
        let (status, error) = error_of(redeem(third.clone(), third_csrf, "welcome").await).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::CONFLICT, Some("coupon_exhausted"))
        );
        assert_eq!(app.credits(&third).await, 0);
        assert_eq!(app.credits(&first).await, 300);
        let coupons = app.get_json(&admin, "/api/v1/admin/coupons").await;
        let welcome = coupons["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|c| c["code"] == "WELCOME")
            .expect("listed")
            .clone();
        assert_eq!(welcome["redemptions"], 2);
        app.assert_ledger_whole().await;
        app.stop().await;
    }
}

/// A member with `credits` credits, from a coupon.
async fn member_with_credits(app: &TestApp, email: &str, credits: i64) -> (Client, String) {
    let (admin, admin_csrf) = admin(app, &format!("admin-{email}")).await;
    let code = format!("GIFT{}", credits);
    let created = app
        .post(
            &admin,
            &admin_csrf,
            "/api/v1/admin/coupons",
            json!({ "code": code, "credits": credits }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let (client, csrf) = app.signup(email).await;
    let redeemed = app
        .post(
            &client,
            &csrf,
            "/api/v1/coupons/redeem",
            json!({ "code": code }),
        )
        .await;
    assert_eq!(redeemed.status(), StatusCode::OK);
    (client, csrf)
}

#[tokio::test]
async fn a_hundred_parallel_consumes_of_one_credit_with_fifty_available_spend_exactly_fifty() {
    for app in TestApp::all().await {
        let (client, csrf) = member_with_credits(&app, "spender@example.com", 50).await;
        let attempts = (0..100).map(|i| {
            let client = client.clone();
            let csrf = csrf.clone();
            let url = app.url("/api/v1/usage/consume");
            async move {
                client
                    .post(url)
                    .header("x-csrf-token", csrf)
                    .json(&json!({ "feature": "credits", "quantity": 1, "idempotency_key": format!("k-{i}") }))
                    .send()
                    .await
                    .expect("consume")
                    .status()
            }
        });
        let statuses = futures_join_all(attempts).await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::PAYMENT_REQUIRED)
            .count();
        assert_eq!((ok, refused), (50, 50));
        assert_eq!(app.credits(&client).await, 0);
        app.assert_ledger_whole().await;
        app.stop().await;
    }
}

/// Runs the futures concurrently, each on its own task, and collects their outputs in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn the_same_idempotency_key_spends_once_and_a_refusal_says_what_remains() {
    for app in TestApp::all().await {
        let (client, csrf) = member_with_credits(&app, "careful@example.com", 10).await;
        let body = json!({ "feature": "credits", "quantity": 4, "idempotency_key": "job-1" });
        let first: Value = app
            .post(&client, &csrf, "/api/v1/usage/consume", body.clone())
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(first["outcome"], "spent");
        assert_eq!(first["balance"], 6);
        assert_eq!(first["replayed"], false);
        let again: Value = app
            .post(&client, &csrf, "/api/v1/usage/consume", body)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(again["replayed"], true);
        assert_eq!(again["balance"], 6);
        assert_eq!(app.credits(&client).await, 6);
        let short = app
            .post(
                &client,
                &csrf,
                "/api/v1/usage/consume",
                json!({ "feature": "credits", "quantity": 7, "idempotency_key": "job-2" }),
            )
            .await;
        assert_eq!(short.status(), StatusCode::PAYMENT_REQUIRED);
        let short: Value = short.json().await.expect("json");
        assert_eq!(short["error"]["code"], "insufficient_credits");
        assert_eq!(
            (short["needed"].as_i64(), short["balance"].as_i64()),
            (Some(7), Some(6))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn the_free_tier_quota_counts_per_period_and_answers_402_when_used_up() {
    for app in TestApp::all_with(|config| {
        config.usage.free_limits.insert("generations".into(), 3);
    })
    .await
    {
        let (client, csrf) = app.signup("free@example.com").await;
        for i in 0..3 {
            let used = app
                .post(
                    &client,
                    &csrf,
                    "/api/v1/usage/consume",
                    json!({ "feature": "generations", "idempotency_key": format!("g-{i}") }),
                )
                .await;
            assert_eq!(used.status(), StatusCode::OK);
        }
        let over = app
            .post(
                &client,
                &csrf,
                "/api/v1/usage/consume",
                json!({ "feature": "generations", "idempotency_key": "g-3" }),
            )
            .await;
        assert_eq!(over.status(), StatusCode::PAYMENT_REQUIRED);
        let over: Value = over.json().await.expect("json");
        assert_eq!(over["error"]["code"], "usage_limit_reached");
        let usage = app.get_json(&client, "/api/v1/usage").await;
        assert_eq!(
            usage["features"],
            json!([{ "feature": "generations", "used": 3, "limit": 3, "remaining": 0 }])
        );
        app.stop().await;
    }
}

async fn refund(
    app: &TestApp,
    admin: &Client,
    csrf: &str,
    payment: &str,
    amount: Option<i64>,
) -> reqwest::Response {
    let mut body = json!({ "payment_id": payment, "reason": "customer asked" });
    if let Some(amount) = amount {
        body["amount"] = json!(amount);
    }
    app.post(admin, csrf, "/api/v1/admin/refunds", body).await
}

#[tokio::test]
async fn a_partial_refund_then_the_rest_reverse_the_credits_in_two_steps() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("refundee@example.com").await;
        let payment = app.buy_and_pay(&client, &csrf, "credits_1000").await;
        app.wait_for_credits(&client, 1000).await;
        let (admin, admin_csrf) = admin(&app, "admin@example.com").await;

        let too_much = refund(&app, &admin, &admin_csrf, &payment, Some(1001)).await;
        let (status, error) = error_of(too_much).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("refund_exceeds_remaining"))
        );

        let partial = refund(&app, &admin, &admin_csrf, &payment, Some(400)).await;
        assert_eq!(partial.status(), StatusCode::CREATED);
        let partial: Value = partial.json().await.expect("json");
        assert!(partial["stripe_refund_id"].is_string(), "{partial}");
        app.wait_for_payment(&client, &payment, "partially_refunded")
            .await;
        app.wait_for_credits(&client, 600).await;

        let rest = refund(&app, &admin, &admin_csrf, &payment, None).await;
        assert_eq!(rest.status(), StatusCode::CREATED);
        let refunded = app.wait_for_payment(&client, &payment, "refunded").await;
        app.wait_for_credits(&client, 0).await;
        assert_eq!(refunded["refunded_amount"], 1000);
        let refunds = refunded["refunds"].as_array().expect("refunds");
        assert_eq!(
            refunds
                .iter()
                .map(|r| (
                    r["amount"].clone(),
                    r["credits_reversed"].clone(),
                    r["status"].clone()
                ))
                .collect::<Vec<_>>(),
            vec![
                (json!(400), json!(400), json!("succeeded")),
                (json!(600), json!(600), json!("succeeded"))
            ]
        );
        let nothing_left = refund(&app, &admin, &admin_csrf, &payment, Some(1)).await;
        assert_eq!(nothing_left.status(), StatusCode::BAD_REQUEST);

        // Every refund event delivered again: reversed once.
        settle(&app).await;
        app.replay_all_events(&admin, &admin_csrf).await;
        assert_eq!(app.credits(&client).await, 0);
        let audit = app.get_json(&admin, "/api/v1/admin/audit").await;
        let refunds_audited = audit["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|e| e["action"] == "payment.refund")
            .count();
        assert_eq!(refunds_audited, 2);
        // A member cannot refund.
        let forbidden = refund(&app, &client, &csrf, &payment, Some(1)).await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        app.assert_ledger_whole().await;
        app.stop().await;
    }
}

#[tokio::test]
async fn refunding_credits_already_spent_leaves_a_flagged_negative_balance() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("spent@example.com").await;
        let payment = app.buy_and_pay(&client, &csrf, "credits_1000").await;
        app.wait_for_credits(&client, 1000).await;
        let spend = app
            .post(
                &client,
                &csrf,
                "/api/v1/usage/consume",
                json!({ "feature": "credits", "quantity": 800, "idempotency_key": "big-job" }),
            )
            .await;
        assert_eq!(spend.status(), StatusCode::OK);
        let (admin, admin_csrf) = admin(&app, "admin@example.com").await;
        assert_eq!(
            refund(&app, &admin, &admin_csrf, &payment, None)
                .await
                .status(),
            StatusCode::CREATED
        );
        app.wait_for_credits(&client, -800).await;
        let balance = app.get_json(&client, "/api/v1/balance").await;
        assert_eq!(balance["negative"], true);
        assert!(balance["negative_since"].is_string());
        let flagged = app
            .get_json(&admin, "/api/v1/admin/balances/negative")
            .await;
        assert_eq!(flagged["data"][0]["credits"], -800);
        app.assert_ledger_whole().await;
        app.stop().await;
    }
}

#[tokio::test]
async fn seed_002_routes_keep_their_request_and_response_shapes() {
    for app in TestApp::all().await {
        let packages: Value = browser()
            .get(app.url("/api/stripe/credit-packages"))
            .send()
            .await
            .expect("packages")
            .json()
            .await
            .expect("json");
        assert_eq!(packages["data"][0]["credits"], 1000);
        assert_eq!(packages["data"][0]["price"], "$10.00");

        let (client, csrf) = app.signup("seed2@example.com").await;
        let created = app
            .post(
                &client,
                &csrf,
                "/api/stripe/checkout-session",
                json!({ "amount": 1000, "currency": "usd", "description": "1000 credits purchase" }),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: Value = created.json().await.expect("json");
        for key in [
            "session_id",
            "url",
            "payment_id",
            "status",
            "amount",
            "expires_at",
        ] {
            assert!(!created[key].is_null(), "{key} in {created}");
        }
        assert_eq!(created["status"], "pending");
        assert_eq!(created["amount"], 1000);
        let session = created["session_id"].as_str().expect("session");
        let shown = app
            .get_json(&client, &format!("/api/stripe/checkout-session/{session}"))
            .await;
        assert_eq!(shown["status"], "open");
        assert_eq!(
            app.pay(created["url"].as_str().expect("url"), VISA)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        let payment = created["payment_id"].as_str().expect("payment");
        eventually(30, "completed", || async {
            let shown = app
                .get_json(&client, &format!("/api/stripe/payments/{payment}"))
                .await;
            (shown["status"] == "completed").then_some(())
        })
        .await;
        let list = app.get_json(&client, "/api/stripe/payments").await;
        assert_eq!(list["data"][0]["description"], "1000 credits purchase");
        let balance = app.get_json(&client, "/user/balance").await;
        assert_eq!(balance["credits"], 1000);

        let intent = app
            .post(
                &client,
                &csrf,
                "/api/stripe/payment-intent",
                json!({ "amount": 500, "currency": "usd" }),
            )
            .await;
        assert_eq!(intent.status(), StatusCode::CREATED);
        let intent: Value = intent.json().await.expect("json");
        let intent_id = intent["id"].as_str().expect("id");
        let fetched = app
            .get_json(&client, &format!("/api/stripe/payment-intent/{intent_id}"))
            .await;
        assert_eq!(fetched["status"], "requires_payment_method");

        let refused = app
            .post(
                &client,
                &csrf,
                "/api/stripe/refund",
                json!({ "payment_id": payment }),
            )
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let (admin, admin_csrf) = admin(&app, "admin@example.com").await;
        let refunded = app
            .post(
                &admin,
                &admin_csrf,
                "/api/stripe/refund",
                json!({ "payment_id": payment }),
            )
            .await;
        assert_eq!(refunded.status(), StatusCode::CREATED);
        app.wait_for_credits(&client, 0).await;

        // Another member sees neither the payment nor the session.
        let (other, _) = app.signup("nosy@example.com").await;
        for path in [
            format!("/api/stripe/payments/{payment}"),
            format!("/api/stripe/checkout-session/{session}"),
        ] {
            let hidden = other.get(app.url(&path)).send().await.expect("get");
            assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "{path}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn signup_credits_are_the_free_trial() {
    for app in TestApp::all_with(|config| config.credits.signup_credits = 250).await {
        let (client, _) = app.signup("trial@example.com").await;
        assert_eq!(app.credits(&client).await, 250);
        let ledger = app.get_json(&client, "/api/v1/ledger").await;
        assert_eq!(ledger["data"][0]["source"], "trial");
        app.stop().await;
    }
}

/// Issue 24, finding 9: a coupon of `i64::MAX` credits redeemed on a balance of 1 was a 500 on
/// SQLite (the sum became REAL) and a 503 on PostgreSQL; so was a usage quantity of `i64::MAX`.
#[tokio::test]
async fn amounts_that_would_overflow_a_counter_are_refused_up_front() {
    for app in TestApp::all().await {
        let (admin, admin_csrf) = admin(&app, "admin@example.com").await;
        let (status, error) = error_of(
            app.post(
                &admin,
                &admin_csrf,
                "/api/v1/admin/coupons",
                json!({ "code": "huge", "credits": i64::MAX }),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["field"], "credits");
        let (member, csrf) = app.signup("counter@example.com").await;
        let (status, error) = error_of(
            app.post(
                &member,
                &csrf,
                "/api/v1/usage/consume",
                json!({ "feature": "generations", "quantity": i64::MAX, "idempotency_key": "k1" }),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["field"], "quantity");
    }
}

/// Admits a refund the way `Billing::refund` does, then stops: what a process killed between
/// its commit and its Stripe call leaves behind.
async fn admitted_only(app: &TestApp, admin: &Client, payment: &str, amount: i64) -> String {
    use tollgate_core::PaymentStore;
    let id = tollgate_core::RefundId::new();
    let admin_id = app.user_id(admin).await;
    let now = time::OffsetDateTime::now_utc();
    let admitted = app
        .store
        .admit_refund(
            &tollgate_core::payment::NewRefund {
                id,
                payment_id: tollgate_core::PaymentId::parse(payment).expect("payment id"),
                amount,
                reason: Some("crashed before Stripe".into()),
                admin_id,
                created_at: now,
            },
            &tollgate_core::audit::AuditEntry::new(
                tollgate_core::audit::Actor::User(admin_id),
                "payment.refund",
                format!("payment:{payment}"),
                json!({ "refund": id, "amount": amount }),
                now,
            ),
        )
        .await
        .expect("admit");
    assert_eq!(admitted, tollgate_core::store::RefundAdmission::Admitted);
    id.to_string()
}

async fn refunds_at_stripe(app: &TestApp, payment: &Value) -> Vec<Value> {
    let intent = payment["stripe_payment_intent_id"]
        .as_str()
        .expect("intent");
    let emulator = app.running().emulator_url().expect("emulated");
    let list: Value = browser()
        .get(format!(
            "{emulator}/v1/refunds?payment_intent={intent}&limit=100"
        ))
        .bearer_auth("sk_test_tollgate_emulator")
        .send()
        .await
        .expect("list refunds")
        .json()
        .await
        .expect("json");
    list["data"].as_array().expect("data").clone()
}

#[tokio::test]
async fn a_refund_a_crash_left_unsent_is_made_once_even_by_two_sweeps_at_once() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("crashed@example.com").await;
        let payment = app.buy_and_pay(&client, &csrf, "credits_1000").await;
        app.wait_for_credits(&client, 1000).await;
        let (admin_client, _) = admin(&app, "admin@example.com").await;
        let refund = admitted_only(&app, &admin_client, &payment, 300).await;
        // Held back while unsent: no more than the rest can be refunded meanwhile.
        let paid = app
            .get_json(&client, &format!("/api/v1/payments/{payment}"))
            .await;
        assert!(refunds_at_stripe(&app, &paid).await.is_empty());

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // Two instances sweeping at once: the idempotency key makes it one refund at Stripe.
        let state = &app.running().state;
        let (one, other) = (state.billing(), state.billing());
        let (first, second) = tokio::join!(
            one.resend_unsent_refunds(time::Duration::ZERO),
            other.resend_unsent_refunds(time::Duration::ZERO)
        );
        let (first, second) = (first.expect("sweep"), second.expect("sweep"));
        assert_eq!((first.refused, second.refused), (0, 0));
        assert!(first.sent + second.sent >= 1, "{first:?} {second:?}");
        let settled = app
            .wait_for_payment(&client, &payment, "partially_refunded")
            .await;
        app.wait_for_credits(&client, 700).await;
        let made = refunds_at_stripe(&app, &settled).await;
        assert_eq!(made.len(), 1, "{made:?}");
        assert_eq!(made[0]["amount"], 300);
        assert_eq!(made[0]["metadata"]["tollgate_refund_id"], refund.as_str());
        assert_eq!(settled["refunds"][0]["status"], "succeeded", "{settled}");

        // Settled by its event: a later sweep leaves it alone.
        let later = state
            .billing()
            .resend_unsent_refunds(time::Duration::ZERO)
            .await
            .expect("sweep");
        assert_eq!(later, Default::default());
        assert_eq!(refunds_at_stripe(&app, &settled).await.len(), 1);
        assert_eq!(app.credits(&client).await, 700);
        app.stop().await;
    }
}

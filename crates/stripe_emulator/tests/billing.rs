//! Time travel and money: renewals, failed renewals, trials, refunds, payment intents, portal, coupons.

mod common;

use common::Emu;

const DAY: i64 = 86_400;

#[tokio::test]
async fn advancing_a_test_clock_past_the_period_end_renews_and_charges_the_card() {
    let emu = Emu::start().await;
    let (clock, _, sub, start) = emu.subscribed_on_clock("4242424242424242", &[]).await;
    let before = emu.event_types().await.len();
    let ready = emu.advance(&clock, start + 32 * DAY).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["frozen_time"], start + 32 * DAY);
    assert_eq!(
        emu.event_types_since(before).await,
        vec![
            "test_helpers.test_clock.advancing",
            "invoice.upcoming",
            "customer.subscription.updated",
            "invoice.created",
            "invoice.finalized",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "invoice.paid",
            "invoice.payment_succeeded",
            "test_helpers.test_clock.ready",
        ]
    );
    let s = emu.fetch(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(s["status"], "active");
    // 2026-01-01 + one month = 2026-02-01; the next period ends 2026-03-01.
    assert_eq!(
        s["items"]["data"][0]["current_period_start"],
        start + 31 * DAY
    );
    assert_eq!(
        s["items"]["data"][0]["current_period_end"],
        start + 59 * DAY
    );
    let invoices = emu.fetch(&format!("/v1/invoices?subscription={sub}")).await;
    assert_eq!(invoices["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(invoices["data"][0]["billing_reason"], "subscription_cycle");
    assert_eq!(invoices["data"][0]["status"], "paid");
    assert_eq!(invoices["data"][0]["created"], start + 31 * DAY);
}

#[tokio::test]
async fn a_renewal_invoice_stays_a_draft_for_an_hour_before_it_is_finalized_and_charged() {
    let emu = Emu::start().await;
    let (clock, _, sub, start) = emu.subscribed_on_clock("4242424242424242", &[]).await;
    let renewal = start + 31 * DAY;
    emu.advance(&clock, renewal + 60).await;
    let s = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    assert_eq!(s["latest_invoice"]["status"], "draft");
    assert_eq!(
        s["latest_invoice"]["automatically_finalizes_at"],
        renewal + 3600
    );
    let before = emu.event_types().await.len();
    emu.advance(&clock, renewal + 3600).await;
    let types = emu.event_types_since(before).await;
    assert_eq!(types[1], "invoice.finalized");
    let s = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    assert_eq!(s["latest_invoice"]["status"], "paid");
    assert_eq!(
        s["latest_invoice"]["status_transitions"]["paid_at"],
        renewal + 3600
    );
}

#[tokio::test]
async fn a_failing_renewal_goes_past_due_retries_on_schedule_and_finally_cancels() {
    let emu = Emu::start().await;
    let (clock, _, sub, start) = emu.subscribed_on_clock("4000000000000341", &[]).await;
    let renewal = start + 31 * DAY;
    let before = emu.event_types().await.len();
    // The renewal invoice stays a draft for an hour, then is finalized and charged.
    emu.advance(&clock, renewal + 3600 + 60).await;
    let failed: Vec<String> = emu.event_types_since(before).await;
    assert_eq!(
        failed,
        vec![
            "test_helpers.test_clock.advancing",
            "invoice.upcoming",
            "customer.subscription.updated",
            "invoice.created",
            "invoice.finalized",
            "payment_intent.created",
            "charge.failed",
            "payment_intent.payment_failed",
            "invoice.payment_failed",
            "customer.subscription.updated",
            "test_helpers.test_clock.ready",
        ]
    );
    let s = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    assert_eq!(s["status"], "past_due");
    assert_eq!(s["latest_invoice"]["status"], "open");
    assert_eq!(s["latest_invoice"]["attempt_count"], 1);
    assert_eq!(
        s["latest_invoice"]["next_payment_attempt"],
        renewal + 3600 + 3 * DAY
    );

    // Retries 3, 5 and 7 days after each previous attempt, then the subscription is canceled.
    let mid = emu.event_types().await.len();
    emu.advance(&clock, renewal + 16 * DAY).await;
    let later = emu.event_types_since(mid).await;
    assert_eq!(
        later
            .iter()
            .filter(|t| *t == "invoice.payment_failed")
            .count(),
        3,
        "{later:?}"
    );
    assert_eq!(
        later.iter().rev().nth(1).map(String::as_str),
        Some("customer.subscription.deleted")
    );
    let s = emu.fetch(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(s["status"], "canceled");
    assert_eq!(s["cancellation_details"]["reason"], "payment_failed");
    assert_eq!(s["ended_at"], renewal + 3600 + 15 * DAY);
}

#[tokio::test]
async fn with_the_unpaid_setting_a_subscription_whose_retries_fail_becomes_unpaid() {
    let mut config = common::config();
    config.billing = stripe_emulator::BillingConfig {
        retry_days: vec![1],
        final_action: stripe_emulator::FinalAction::Unpaid,
    };
    let emu = Emu::start_with(config).await;
    let (clock, _, sub, start) = emu.subscribed_on_clock("4000000000000341", &[]).await;
    emu.advance(&clock, start + 33 * DAY).await;
    let s = emu.fetch(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(s["status"], "unpaid");
}

#[tokio::test]
async fn a_past_due_subscription_recovers_when_the_card_is_changed_in_the_portal_and_the_retry_succeeds()
 {
    let emu = Emu::start().await;
    let (clock, cus, sub, start) = emu.subscribed_on_clock("4000000000000341", &[]).await;
    emu.advance(&clock, start + 31 * DAY + 3660).await;
    let portal = emu
        .ok(
            "/v1/billing_portal/sessions",
            &[
                ("customer", &cus),
                ("return_url", "https://app.test/account"),
            ],
        )
        .await;
    let resp = emu
        .http
        .post(portal["url"].as_str().expect("url"))
        .form(&[
            ("action", "update_card"),
            ("card_number", "4242424242424242"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    emu.advance(&clock, start + 35 * DAY).await;
    let s = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    assert_eq!(s["status"], "active");
    assert_eq!(s["latest_invoice"]["status"], "paid");
    assert_eq!(s["latest_invoice"]["attempt_count"], 2);
}

#[tokio::test]
async fn a_trial_warns_three_days_ahead_then_converts_to_a_paid_active_subscription() {
    let emu = Emu::start().await;
    let (clock, _, sub, start) = emu
        .subscribed_on_clock(
            "4242424242424242",
            &[("subscription_data[trial_period_days]", "7")],
        )
        .await;
    let s = emu.fetch(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(s["status"], "trialing");
    let before = emu.event_types().await.len();
    emu.advance(&clock, start + 5 * DAY).await;
    assert!(
        emu.event_types_since(before)
            .await
            .contains(&"customer.subscription.trial_will_end".to_owned())
    );
    emu.advance(&clock, start + 8 * DAY).await;
    let s = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    assert_eq!(s["status"], "active");
    assert_eq!(s["latest_invoice"]["amount_paid"], 2000);
    assert_eq!(
        s["items"]["data"][0]["current_period_start"],
        start + 7 * DAY
    );
}

#[tokio::test]
async fn cancel_at_period_end_ends_the_subscription_when_the_clock_reaches_it() {
    let emu = Emu::start().await;
    let (clock, _, sub, start) = emu.subscribed_on_clock("4242424242424242", &[]).await;
    let s = emu
        .ok(
            &format!("/v1/subscriptions/{sub}"),
            &[("cancel_at_period_end", "true")],
        )
        .await;
    assert_eq!(s["cancel_at_period_end"], true);
    assert_eq!(s["status"], "active");
    let resumed = emu
        .ok(&format!("/v1/subscriptions/{sub}/resume"), &[])
        .await;
    assert_eq!(resumed["cancel_at_period_end"], false);
    emu.ok(
        &format!("/v1/subscriptions/{sub}"),
        &[("cancel_at_period_end", "true")],
    )
    .await;
    emu.advance(&clock, start + 40 * DAY).await;
    let s = emu.fetch(&format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(s["status"], "canceled");
    assert_eq!(s["ended_at"], start + 31 * DAY);
    let listed = emu.fetch("/v1/subscriptions").await;
    assert!(
        listed["data"].as_array().is_some_and(Vec::is_empty),
        "canceled subscriptions are hidden by default"
    );
    let all = emu.fetch("/v1/subscriptions?status=all").await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_price_swap_prorates_onto_the_next_invoice() {
    let emu = Emu::start().await;
    let (clock, _, sub, start) = emu.subscribed_on_clock("4242424242424242", &[]).await;
    let (_, bigger) = emu.product_and_price("5100", Some("month")).await;
    let s = emu.fetch(&format!("/v1/subscriptions/{sub}")).await;
    let item = s["items"]["data"][0]["id"]
        .as_str()
        .expect("item")
        .to_owned();
    let swapped = emu
        .ok(
            &format!("/v1/subscriptions/{sub}"),
            &[("items[0][id]", &item), ("items[0][price]", &bigger)],
        )
        .await;
    assert_eq!(swapped["items"]["data"][0]["price"]["id"], bigger);
    emu.advance(&clock, start + 31 * DAY + 3660).await;
    let s = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    // The whole old period is unused (the swap happened at its start): -2000 + 5100 prorated, plus 5100 ahead.
    assert_eq!(s["latest_invoice"]["amount_paid"], 5100 + 5100 - 2000);
}

#[tokio::test]
async fn the_portal_cancels_now_with_customer_subscription_deleted() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("4900", Some("month")).await;
    let session = emu.checkout("subscription", &price, &[]).await;
    emu.pay(&session, "4242424242424242").await;
    let sub = emu.fetch("/v1/subscriptions").await["data"][0].clone();
    let cus = sub["customer"].as_str().expect("customer");
    let portal = emu
        .ok(
            "/v1/billing_portal/sessions",
            &[
                ("customer", cus),
                ("return_url", "https://app.test/account"),
            ],
        )
        .await;
    assert!(portal["id"].as_str().is_some_and(|i| i.starts_with("bps_")));
    let html = emu
        .http
        .get(portal["url"].as_str().expect("url"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("Cancel now") && html.contains("https://app.test/account"));
    let before = emu.event_types().await.len();
    let resp = emu
        .http
        .post(portal["url"].as_str().expect("url"))
        .form(&[
            ("action", "cancel_at_period_end"),
            ("subscription", sub["id"].as_str().expect("id")),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        emu.event_types_since(before).await,
        vec!["customer.subscription.updated"]
    );
    let resp = emu
        .http
        .post(portal["url"].as_str().expect("url"))
        .form(&[
            ("action", "cancel_now"),
            ("subscription", sub["id"].as_str().expect("id")),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        emu.event_types().await.last().map(String::as_str),
        Some("customer.subscription.deleted")
    );
    let s = emu
        .fetch(&format!(
            "/v1/subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(s["status"], "canceled");
}

#[tokio::test]
async fn the_portal_switches_plan() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("4900", Some("month")).await;
    let (_, yearly) = emu.product_and_price("49000", Some("year")).await;
    let session = emu.checkout("subscription", &price, &[]).await;
    emu.pay(&session, "4242424242424242").await;
    let sub = emu.fetch("/v1/subscriptions").await["data"][0].clone();
    let portal = emu
        .ok(
            "/v1/billing_portal/sessions",
            &[("customer", sub["customer"].as_str().expect("c"))],
        )
        .await;
    let resp = emu
        .http
        .post(portal["url"].as_str().expect("url"))
        .form(&[
            ("action", "switch"),
            ("subscription", sub["id"].as_str().expect("id")),
            ("price", &yearly),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    let s = emu
        .fetch(&format!(
            "/v1/subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(s["items"]["data"][0]["price"]["id"], yearly);
}

#[tokio::test]
async fn a_partial_then_full_refund_accumulates_on_the_charge_with_events_in_order() {
    let emu = Emu::start().await;
    let pi = emu
        .ok(
            "/v1/payment_intents",
            &[
                ("amount", "5000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(pi["status"], "succeeded");
    let pi_id = pi["id"].as_str().expect("id");
    let before = emu.event_types().await.len();
    let first = emu
        .ok(
            "/v1/refunds",
            &[("payment_intent", pi_id), ("amount", "1500")],
        )
        .await;
    assert!(first["id"].as_str().is_some_and(|i| i.starts_with("re_")));
    assert_eq!(first["amount"], 1500);
    let charge_id = first["charge"].as_str().expect("charge");
    let charge = emu.fetch(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["amount_refunded"], 1500);
    assert_eq!(charge["refunded"], false);
    let (status, body) = emu
        .post("/v1/refunds", &[("charge", charge_id), ("amount", "4000")])
        .await;
    assert_eq!(status, 400, "more than is left: {body}");
    let rest = emu.ok("/v1/refunds", &[("charge", charge_id)]).await;
    assert_eq!(rest["amount"], 3500);
    let charge = emu.fetch(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["amount_refunded"], 5000);
    assert_eq!(charge["refunded"], true);
    assert_eq!(
        emu.event_types_since(before).await,
        vec![
            "refund.created",
            "charge.refunded",
            "refund.created",
            "charge.refunded"
        ]
    );
    let refunds = emu
        .fetch(&format!("/v1/refunds?payment_intent={pi_id}"))
        .await;
    assert_eq!(refunds["data"].as_array().map(Vec::len), Some(2));
    let (status, body) = emu.post("/v1/refunds", &[("charge", charge_id)]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "charge_already_refunded");
}

#[tokio::test]
async fn payment_intents_confirm_with_test_payment_methods_and_decline_with_card_errors() {
    let emu = Emu::start().await;
    let (status, body) = emu
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_chargeDeclinedInsufficientFunds"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(body["error"]["code"], "card_declined");
    assert_eq!(body["error"]["decline_code"], "insufficient_funds");
    assert_eq!(
        body["error"]["payment_intent"]["status"],
        "requires_payment_method"
    );
    let (status, body) = emu
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"]["decline_code"].as_str()),
        (402, Some("generic_decline"))
    );
    let pi = emu
        .ok(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_authenticationRequired"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(pi["status"], "requires_action");
    let pi_id = pi["id"].as_str().expect("id");
    let challenge = pi["next_action"]["redirect_to_url"]["url"]
        .as_str()
        .expect("url");
    let resp = emu
        .http
        .post(challenge)
        .form(&[("action", "complete")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    let done = emu.fetch(&format!("/v1/payment_intents/{pi_id}")).await;
    assert_eq!(done["status"], "succeeded");
    let open = emu
        .ok(
            "/v1/payment_intents",
            &[("amount", "700"), ("currency", "usd")],
        )
        .await;
    let canceled = emu
        .ok(
            &format!(
                "/v1/payment_intents/{}/cancel",
                open["id"].as_str().expect("id")
            ),
            &[],
        )
        .await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(
        emu.event_types().await.last().map(String::as_str),
        Some("payment_intent.canceled")
    );
}

#[tokio::test]
async fn a_promotion_code_entered_on_the_page_discounts_a_once_coupon_on_the_first_invoice_only() {
    let emu = Emu::start().await;
    let coupon = emu
        .ok(
            "/v1/coupons",
            &[("percent_off", "50"), ("duration", "once")],
        )
        .await;
    let promo = emu
        .ok(
            "/v1/promotion_codes",
            &[
                ("promotion[type]", "coupon"),
                ("promotion[coupon]", coupon["id"].as_str().expect("id")),
                ("code", "HALF"),
                ("max_redemptions", "1"),
            ],
        )
        .await;
    assert!(
        promo["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("promo_"))
    );
    let start = 1_767_225_600;
    let clock = emu
        .ok(
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", &start.to_string())],
        )
        .await;
    let clock_id = clock["id"].as_str().expect("id");
    let customer = emu.ok("/v1/customers", &[("test_clock", clock_id)]).await;
    let (_, price) = emu.product_and_price("2000", Some("month")).await;
    let session = emu
        .checkout(
            "subscription",
            &price,
            &[
                ("customer", customer["id"].as_str().expect("id")),
                ("allow_promotion_codes", "true"),
            ],
        )
        .await;
    let url = session["url"].as_str().expect("url");
    let bad = emu
        .http
        .post(url)
        .form(&[
            ("action", "apply_promotion_code"),
            ("promotion_code", "NOPE"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status().as_u16(), 402);
    let good = emu
        .http
        .post(url)
        .form(&[
            ("action", "apply_promotion_code"),
            ("promotion_code", "half"),
        ])
        .send()
        .await
        .expect("post");
    assert!(good.text().await.expect("text").contains("−10.00 USD"));
    let (status, _, _) = emu.pay(&session, "4242424242424242").await;
    assert_eq!(status, 303);
    let done = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{}?expand[]=subscription.latest_invoice",
            session["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(done["amount_total"], 1000);
    assert_eq!(done["subscription"]["latest_invoice"]["amount_paid"], 1000);
    emu.advance(clock_id, start + 32 * DAY).await;
    let s = emu
        .fetch(&format!(
            "/v1/subscriptions/{}?expand[]=latest_invoice",
            done["subscription"]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(
        s["latest_invoice"]["amount_paid"], 2000,
        "a once coupon does not discount renewals"
    );
    let used = emu
        .fetch(&format!(
            "/v1/promotion_codes/{}",
            promo["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(used["times_redeemed"], 1);
    let second = emu
        .checkout("subscription", &price, &[("allow_promotion_codes", "true")])
        .await;
    let again = emu
        .http
        .post(second["url"].as_str().expect("url"))
        .form(&[
            ("action", "apply_promotion_code"),
            ("promotion_code", "HALF"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(again.status().as_u16(), 402, "max_redemptions reached");
}

#[tokio::test]
async fn a_repeating_amount_off_coupon_passed_as_a_discount_covers_its_months() {
    let emu = Emu::start().await;
    let coupon = emu
        .ok(
            "/v1/coupons",
            &[
                ("amount_off", "500"),
                ("currency", "usd"),
                ("duration", "repeating"),
                ("duration_in_months", "2"),
                ("id", "FIVE"),
            ],
        )
        .await;
    assert_eq!(coupon["id"], "FIVE");
    let (clock, _, sub, start) = emu
        .subscribed_on_clock("4242424242424242", &[("discounts[0][coupon]", "FIVE")])
        .await;
    let paid = |inv: &serde_json::Value| inv["amount_paid"].as_i64();
    let first = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    assert_eq!(paid(&first["latest_invoice"]), Some(1500));
    emu.advance(&clock, start + 32 * DAY).await;
    let second = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    assert_eq!(paid(&second["latest_invoice"]), Some(1500));
    emu.advance(&clock, start + 60 * DAY).await;
    let third = emu
        .fetch(&format!("/v1/subscriptions/{sub}?expand[]=latest_invoice"))
        .await;
    assert_eq!(paid(&third["latest_invoice"]), Some(2000));
}

#[tokio::test]
async fn an_expired_promotion_code_is_refused() {
    let emu = Emu::start_with(stripe_emulator::EmulatorConfig {
        fixed_time: Some(1_800_000_000),
        ..common::config()
    })
    .await;
    let coupon = emu.ok("/v1/coupons", &[("percent_off", "10")]).await;
    let promo = emu
        .ok(
            "/v1/promotion_codes",
            &[
                ("coupon", coupon["id"].as_str().expect("id")),
                ("expires_at", "1799999999"),
            ],
        )
        .await;
    let (_, price) = emu.product_and_price("1000", None).await;
    let (status, body) = emu
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", &price),
                ("success_url", "https://x.test"),
                (
                    "discounts[0][promotion_code]",
                    promo["id"].as_str().expect("id"),
                ),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "promotion_code");
}

#[tokio::test]
async fn subscriptions_created_over_the_api_charge_the_default_card_and_list_by_customer() {
    let emu = Emu::start().await;
    let customer = emu
        .ok(
            "/v1/customers",
            &[
                ("email", "api@example.com"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await;
    let cus = customer["id"].as_str().expect("id");
    let (_, price) = emu.product_and_price("1200", Some("month")).await;
    let sub = emu
        .ok(
            "/v1/subscriptions",
            &[
                ("customer", cus),
                ("items[0][price]", &price),
                ("metadata[k]", "v"),
                ("expand[]", "latest_invoice"),
            ],
        )
        .await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["latest_invoice"]["status"], "paid");
    let listed = emu
        .fetch(&format!("/v1/subscriptions?customer={cus}&status=active"))
        .await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    let (status, _) = emu
        .delete(&format!(
            "/v1/subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, 200);
    let invoices = emu.fetch(&format!("/v1/invoices?customer={cus}")).await;
    assert_eq!(invoices["data"].as_array().map(Vec::len), Some(1));
    let html = emu
        .http
        .get(
            invoices["data"][0]["hosted_invoice_url"]
                .as_str()
                .expect("url"),
        )
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("12.00 USD"));
}

#[tokio::test]
async fn an_open_invoice_can_be_voided_or_marked_uncollectible() {
    let emu = Emu::start().await;
    let customer = emu
        .ok(
            "/v1/customers",
            &[("payment_method", "pm_card_chargeDeclined")],
        )
        .await;
    let (_, price) = emu.product_and_price("1200", Some("month")).await;
    let sub = emu
        .ok(
            "/v1/subscriptions",
            &[
                ("customer", customer["id"].as_str().expect("id")),
                ("items[0][price]", &price),
            ],
        )
        .await;
    assert_eq!(sub["status"], "incomplete");
    let inv = sub["latest_invoice"].as_str().expect("invoice");
    let voided = emu.ok(&format!("/v1/invoices/{inv}/void"), &[]).await;
    assert_eq!(voided["status"], "void");
    let (status, _) = emu
        .post(&format!("/v1/invoices/{inv}/mark_uncollectible"), &[])
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_subscriptions_discount_is_an_id_unless_expanded() {
    let emu = Emu::start().await;
    emu.ok(
        "/v1/coupons",
        &[
            ("percent_off", "10"),
            ("duration", "forever"),
            ("id", "TEN"),
        ],
    )
    .await;
    let (_, _, sub, _) = emu
        .subscribed_on_clock("4242424242424242", &[("discounts[0][coupon]", "TEN")])
        .await;
    let plain = emu.fetch(&format!("/v1/subscriptions/{sub}")).await;
    assert!(
        plain["discounts"][0]
            .as_str()
            .is_some_and(|d| d.starts_with("di_"))
    );
    let expanded = emu
        .fetch(&format!(
            "/v1/subscriptions/{sub}?expand[]=discounts&expand[]=latest_invoice"
        ))
        .await;
    assert_eq!(expanded["discounts"][0]["source"]["coupon"], "TEN");
    assert_eq!(
        expanded["latest_invoice"]["total_discount_amounts"][0]["amount"],
        200
    );
    assert_eq!(expanded["latest_invoice"]["amount_paid"], 1800);
}

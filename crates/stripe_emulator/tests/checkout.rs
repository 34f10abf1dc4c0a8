//! Checkout Sessions and the hosted checkout page, driven by form posts for every test card.

mod common;

use common::Emu;

#[tokio::test]
async fn a_subscription_checkout_with_4242_completes_and_emits_stripes_events_in_order() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("4900", Some("month")).await;
    let before = emu.event_types().await.len();
    let session = emu
        .checkout(
            "subscription",
            &price,
            &[
                ("client_reference_id", "user_1"),
                ("metadata[userId]", "u1"),
                ("subscription_data[metadata][userId]", "u1"),
                ("customer_email", "new@example.com"),
            ],
        )
        .await;
    assert!(
        session["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("cs_test_"))
    );
    assert_eq!(session["status"], "open");
    assert_eq!(session["amount_total"], 4900);
    let (status, location, _) = emu.pay(&session, "4242 4242 4242 4242").await;
    assert_eq!(status, 303);
    let id = session["id"].as_str().expect("id");
    assert_eq!(
        location.as_deref(),
        Some(format!("https://app.test/success?session={id}").as_str())
    );
    assert_eq!(
        emu.event_types_since(before).await,
        vec![
            "customer.created",
            "payment_method.attached",
            "customer.updated",
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated",
            "checkout.session.completed",
        ]
    );
    let done = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{id}?expand[]=subscription&expand[]=subscription.latest_invoice"
        ))
        .await;
    assert_eq!(done["status"], "complete");
    assert_eq!(done["payment_status"], "paid");
    assert_eq!(done["client_reference_id"], "user_1");
    assert_eq!(done["metadata"]["userId"], "u1");
    let sub = &done["subscription"];
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["metadata"]["userId"], "u1");
    assert!(
        sub.get("current_period_end").is_none(),
        "periods live on items since basil"
    );
    assert!(
        sub["items"]["data"][0]["current_period_end"]
            .as_i64()
            .is_some()
    );
    let invoice = &sub["latest_invoice"];
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["amount_paid"], 4900);
    assert_eq!(
        invoice["parent"]["subscription_details"]["subscription"],
        sub["id"]
    );
    let customer = emu
        .fetch(&format!(
            "/v1/customers/{}",
            done["customer"].as_str().expect("customer")
        ))
        .await;
    assert_eq!(customer["email"], "new@example.com");
    assert!(
        customer["invoice_settings"]["default_payment_method"]
            .as_str()
            .is_some_and(|p| p.starts_with("pm_"))
    );
}

#[tokio::test]
async fn a_payment_checkout_creates_a_paid_payment_intent_and_charge_in_order() {
    let emu = Emu::start().await;
    let customer = emu
        .ok("/v1/customers", &[("email", "pay@example.com")])
        .await;
    let cus = customer["id"].as_str().expect("id");
    let before = emu.event_types().await.len();
    let created = emu
        .ok(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("customer", cus),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "1500"),
                (
                    "line_items[0][price_data][product_data][name]",
                    "100 credits",
                ),
                ("line_items[0][quantity]", "2"),
                (
                    "success_url",
                    "https://app.test/ok?cs={CHECKOUT_SESSION_ID}",
                ),
            ],
        )
        .await;
    assert_eq!(created["amount_total"], 3000);
    let skip = before + emu.event_types_since(before).await.len();
    let (status, _, _) = emu.pay(&created, "4242424242424242").await;
    assert_eq!(status, 303);
    assert_eq!(
        emu.event_types_since(skip).await,
        vec![
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed"
        ]
    );
    let id = created["id"].as_str().expect("id");
    let done = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{id}?expand[]=payment_intent&expand[]=line_items"
        ))
        .await;
    assert_eq!(done["payment_status"], "paid");
    assert_eq!(done["payment_intent"]["status"], "succeeded");
    assert_eq!(done["payment_intent"]["amount_received"], 3000);
    assert_eq!(done["line_items"]["data"][0]["quantity"], 2);
    let charge = emu
        .fetch(&format!(
            "/v1/charges/{}",
            done["payment_intent"]["latest_charge"]
                .as_str()
                .expect("charge")
        ))
        .await;
    assert_eq!(charge["amount"], 3000);
    assert_eq!(charge["paid"], true);
    let items = emu
        .fetch(&format!("/v1/checkout/sessions/{id}/line_items"))
        .await;
    assert_eq!(items["data"][0]["amount_total"], 3000);
}

async fn declined_then_retry(card: &str, message: &str) {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("1000", None).await;
    let session = emu.checkout("payment", &price, &[]).await;
    let (status, location, body) = emu.pay(&session, card).await;
    assert_eq!(status, 402, "a declined card stays on the page");
    assert!(location.is_none());
    assert!(body.contains(message), "page shows the decline: {body}");
    let types = emu.event_types().await;
    assert!(types.contains(&"charge.failed".to_owned()));
    assert!(types.contains(&"payment_intent.payment_failed".to_owned()));
    let (status, location, _) = emu.pay(&session, "4242424242424242").await;
    assert_eq!(status, 303, "the person can retry with another card");
    assert!(location.is_some_and(|l| l.starts_with("https://app.test/success")));
    let done = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{}",
            session["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(done["payment_status"], "paid");
}

#[tokio::test]
async fn card_4000000000000002_is_declined_and_the_person_can_retry() {
    declined_then_retry("4000000000000002", "Your card was declined.").await;
}

#[tokio::test]
async fn card_4000000000009995_is_declined_for_insufficient_funds() {
    declined_then_retry("4000000000009995", "Your card has insufficient funds.").await;
}

#[tokio::test]
async fn card_4000000000000069_is_declined_as_expired() {
    declined_then_retry("4000000000000069", "Your card has expired.").await;
}

#[tokio::test]
async fn card_4000002500003155_shows_a_challenge_that_completes_the_payment_when_approved() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("1000", None).await;
    let session = emu.checkout("payment", &price, &[]).await;
    let id = session["id"].as_str().expect("id");
    let (status, location, _) = emu.pay(&session, "4000002500003155").await;
    assert_eq!(status, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("/checkout/{id}/authenticate").as_str())
    );
    assert!(
        emu.event_types()
            .await
            .contains(&"payment_intent.requires_action".to_owned())
    );
    let page = emu
        .http
        .get(emu.url(&format!("/checkout/{id}/authenticate")))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains("Complete authentication"));
    let resp = emu
        .http
        .post(emu.url(&format!("/checkout/{id}/authenticate")))
        .form(&[("action", "complete")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 303);
    let done = emu.fetch(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(done["status"], "complete");
}

#[tokio::test]
async fn card_4000002500003155_failing_the_challenge_returns_to_checkout_with_an_error() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("4900", Some("month")).await;
    let session = emu.checkout("subscription", &price, &[]).await;
    let id = session["id"].as_str().expect("id");
    let (status, _, _) = emu.pay(&session, "4000002500003155").await;
    assert_eq!(status, 303);
    let resp = emu
        .http
        .post(emu.url(&format!("/checkout/{id}/authenticate")))
        .form(&[("action", "fail")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 402);
    assert!(
        resp.text()
            .await
            .expect("text")
            .contains("unable to authenticate")
    );
    let open = emu.fetch(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(open["status"], "open");
    assert!(
        emu.fetch("/v1/subscriptions").await["data"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
}

#[tokio::test]
async fn card_4000000000000341_succeeds_at_checkout() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("4900", Some("month")).await;
    let session = emu.checkout("subscription", &price, &[]).await;
    let (status, _, _) = emu.pay(&session, "4000000000000341").await;
    assert_eq!(status, 303);
    let subs = emu.fetch("/v1/subscriptions").await;
    assert_eq!(subs["data"][0]["status"], "active");
}

#[tokio::test]
async fn the_hosted_page_links_back_to_cancel_url_and_works_without_javascript() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("1000", None).await;
    let session = emu.checkout("payment", &price, &[]).await;
    let html = emu
        .http
        .get(session["url"].as_str().expect("url"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("href=\"https://app.test/cancel\""));
    assert!(html.contains("<form method=\"post\">"));
    assert!(!html.contains("<script"));
}

#[tokio::test]
async fn an_expired_session_cannot_be_paid_and_emits_checkout_session_expired() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("1000", None).await;
    let session = emu.checkout("payment", &price, &[]).await;
    let id = session["id"].as_str().expect("id");
    let expired = emu
        .ok(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(expired["status"], "expired");
    assert_eq!(
        emu.event_types().await.last().map(String::as_str),
        Some("checkout.session.expired")
    );
    let (status, body) = emu
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = emu.pay(&session, "4242424242424242").await;
    assert_eq!(status, 402);
}

#[tokio::test]
async fn a_trial_checkout_starts_trialing_with_a_zero_invoice() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("4900", Some("month")).await;
    let session = emu
        .checkout(
            "subscription",
            &price,
            &[("subscription_data[trial_period_days]", "14")],
        )
        .await;
    assert_eq!(session["amount_total"], 0);
    let (status, _, _) = emu.pay(&session, "4242424242424242").await;
    assert_eq!(status, 303);
    let done = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{}?expand[]=subscription",
            session["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(done["payment_status"], "no_payment_required");
    let sub = &done["subscription"];
    assert_eq!(sub["status"], "trialing");
    assert_eq!(
        sub["trial_end"].as_i64().unwrap_or(0) - sub["trial_start"].as_i64().unwrap_or(0),
        14 * 86_400
    );
    let invoice = emu
        .fetch(&format!(
            "/v1/invoices/{}",
            sub["latest_invoice"].as_str().expect("invoice")
        ))
        .await;
    assert_eq!(invoice["amount_due"], 0);
    assert_eq!(invoice["status"], "paid");
}

#[tokio::test]
async fn session_parameters_are_validated_like_stripe() {
    let emu = Emu::start().await;
    let (_, recurring) = emu.product_and_price("1000", Some("month")).await;
    let (status, body) = emu
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", &recurring),
                ("success_url", "https://x.test"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "line_items[0][price]");
    let (status, body) = emu
        .post(
            "/v1/checkout/sessions",
            &[("mode", "payment"), ("success_url", "https://x.test")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "line_items");
    let (status, body) = emu
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", &recurring),
                ("success_url", "https://x.test"),
                ("expires_at", "1"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "expires_at");
}

async fn pay_by_bank(emu: &Emu, account: &str) -> (String, Vec<String>) {
    let (_, price) = emu.product_and_price("2500", None).await;
    let session = emu
        .checkout("payment", &price, &[("customer_email", "bank@example.com")])
        .await;
    let before = emu.event_types().await.len();
    let resp = emu
        .http
        .post(session["url"].as_str().expect("url"))
        .form(&[("action", "pay_by_bank"), ("account_number", account)])
        .send()
        .await
        .expect("post");
    assert_eq!(
        resp.status().as_u16(),
        303,
        "the session completes before the money arrives"
    );
    let id = session["id"].as_str().expect("id").to_owned();
    let completed = emu.fetch(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(completed["status"], "complete");
    // Settlement happens on the emulator's next sweep (every second); poll with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let types = emu.event_types_since(before).await;
        if types
            .iter()
            .any(|t| t.starts_with("checkout.session.async_payment"))
            || std::time::Instant::now() > deadline
        {
            return (id, types);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_bank_debit_completes_unpaid_then_emits_async_payment_succeeded() {
    let emu = Emu::start().await;
    let (id, types) = pay_by_bank(&emu, "000123456789").await;
    assert_eq!(
        types,
        vec![
            "payment_intent.created",
            "charge.pending",
            "payment_intent.processing",
            "checkout.session.completed",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.async_payment_succeeded",
        ]
    );
    let completed = &emu
        .events()
        .await
        .iter()
        .find(|e| e["type"] == "checkout.session.completed")
        .cloned()
        .expect("event");
    assert_eq!(completed["data"]["object"]["payment_status"], "unpaid");
    let done = emu.fetch(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(done["payment_status"], "paid");
}

#[tokio::test]
async fn a_bank_debit_from_a_closed_account_emits_async_payment_failed() {
    let emu = Emu::start().await;
    let (id, types) = pay_by_bank(&emu, "000111111113").await;
    assert_eq!(
        types.last().map(String::as_str),
        Some("checkout.session.async_payment_failed")
    );
    assert!(
        types.contains(&"charge.failed".to_owned())
            && types.contains(&"payment_intent.payment_failed".to_owned())
    );
    let done = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{id}?expand[]=payment_intent"
        ))
        .await;
    assert_eq!(done["payment_status"], "unpaid");
    assert_eq!(done["payment_intent"]["status"], "requires_payment_method");
}

#[tokio::test]
async fn the_payment_pages_api_the_stripe_cli_uses_pays_a_session_with_a_payment_method() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("1500", None).await;
    let session = emu
        .checkout("payment", &price, &[("line_items[0][quantity]", "2")])
        .await;
    let id = session["id"].as_str().expect("id");
    let page = emu.fetch(&format!("/v1/payment_pages/{id}")).await;
    assert_eq!(page["id"], id);
    let pm = emu
        .ok(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[token]", "tok_visa"),
                ("billing_details[email]", "cli@example.com"),
            ],
        )
        .await;
    let pm = pm["id"].as_str().expect("pm");
    let confirm = format!("/v1/payment_pages/{id}/confirm");
    let (status, e) = emu
        .post(
            &confirm,
            &[("payment_method", pm), ("expected_amount", "1")],
        )
        .await;
    assert_eq!(status, 400, "a wrong expected_amount is refused: {e}");
    let paid = emu
        .ok(
            &confirm,
            &[("payment_method", pm), ("expected_amount", "3000")],
        )
        .await;
    assert_eq!(paid["status"], "complete");
    assert_eq!(paid["payment_status"], "paid");
    let types = emu.event_types().await;
    assert!(types.iter().any(|t| t == "checkout.session.completed"));
    let (status, _) = emu.post(&confirm, &[("payment_method", pm)]).await;
    assert_eq!(status, 400, "a complete session cannot be paid again");
}

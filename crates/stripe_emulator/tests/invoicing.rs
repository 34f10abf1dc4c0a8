//! One-off invoices and invoice items, saved cards (payment methods, SetupIntents, Checkout in setup mode),
//! over real HTTP.

mod common;

use common::{CLOCK_START, Emu};

async fn customer(emu: &Emu, extra: &[(&str, &str)]) -> String {
    let mut form = vec![("email", "client@example.com")];
    form.extend_from_slice(extra);
    let c = emu.ok("/v1/customers", &form).await;
    c["id"].as_str().expect("customer").to_owned()
}

async fn draft(emu: &Emu, cus: &str, amount: &str, extra: &[(&str, &str)]) -> serde_json::Value {
    emu.ok(
        "/v1/invoiceitems",
        &[
            ("customer", cus),
            ("amount", amount),
            ("currency", "usd"),
            ("description", "Onboarding audit"),
        ],
    )
    .await;
    let mut form = vec![
        ("customer", cus),
        ("pending_invoice_items_behavior", "include"),
    ];
    form.extend_from_slice(extra);
    emu.ok("/v1/invoices", &form).await
}

async fn post_card(emu: &Emu, url: &str, card: &str) -> (u16, String) {
    let resp = emu
        .http
        .post(url)
        .form(&[("action", "pay"), ("card_number", card)])
        .send()
        .await
        .expect("pay invoice");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn an_invoice_is_created_finalized_sent_and_paid_on_its_hosted_page() {
    let emu = Emu::start().await;
    let cus = customer(&emu, &[]).await;
    let before = emu.event_types().await.len();
    let inv = draft(
        &emu,
        &cus,
        "5000",
        &[
            ("collection_method", "send_invoice"),
            ("days_until_due", "30"),
        ],
    )
    .await;
    assert_eq!(inv["status"], "draft");
    assert_eq!(inv["amount_due"], 5000);
    assert_eq!(inv["lines"]["data"][0]["description"], "Onboarding audit");
    let id = inv["id"].as_str().expect("id");

    let open = emu.ok(&format!("/v1/invoices/{id}/finalize"), &[]).await;
    assert_eq!(open["status"], "open");
    assert!(open["number"].is_string());
    assert_eq!(
        open["due_date"].as_i64().expect("due")
            - open["status_transitions"]["finalized_at"]
                .as_i64()
                .expect("finalized"),
        30 * 86_400
    );
    let (status, _) = emu.post(&format!("/v1/invoices/{id}/finalize"), &[]).await;
    assert_eq!(status, 400, "an open invoice cannot be finalized again");
    emu.ok(&format!("/v1/invoices/{id}/send"), &[]).await;

    let url = open["hosted_invoice_url"].as_str().expect("hosted url");
    let page = emu
        .http
        .get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Pay invoice"));
    let (status, html) = post_card(&emu, url, "4242 4242 4242 4242").await;
    assert_eq!(status, 200, "{html}");
    let paid = emu.fetch(&format!("/v1/invoices/{id}")).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["amount_paid"], 5000);
    assert_eq!(
        emu.event_types_since(before).await,
        [
            "invoiceitem.created",
            "invoice.created",
            "invoice.finalized",
            "invoice.sent",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "invoice.paid",
            "invoice.payment_succeeded"
        ]
    );
}

#[tokio::test]
async fn a_declined_card_leaves_the_hosted_invoice_open() {
    let emu = Emu::start().await;
    let cus = customer(&emu, &[]).await;
    let inv = draft(
        &emu,
        &cus,
        "1200",
        &[
            ("collection_method", "send_invoice"),
            ("days_until_due", "7"),
        ],
    )
    .await;
    let id = inv["id"].as_str().expect("id");
    let open = emu.ok(&format!("/v1/invoices/{id}/finalize"), &[]).await;
    let (status, html) = post_card(
        &emu,
        open["hosted_invoice_url"].as_str().expect("url"),
        "4000000000000002",
    )
    .await;
    assert_eq!(status, 402);
    assert!(html.contains("Your card was declined."));
    let inv = emu.fetch(&format!("/v1/invoices/{id}")).await;
    assert_eq!(inv["status"], "open");
    assert!(
        emu.event_types()
            .await
            .iter()
            .any(|t| t == "invoice.payment_failed")
    );
}

#[tokio::test]
async fn a_voided_invoice_cannot_be_paid() {
    let emu = Emu::start().await;
    let cus = customer(&emu, &[("payment_method", "pm_card_visa")]).await;
    let inv = draft(&emu, &cus, "900", &[]).await;
    let id = inv["id"].as_str().expect("id");
    emu.ok(&format!("/v1/invoices/{id}/finalize"), &[]).await;
    let voided = emu.ok(&format!("/v1/invoices/{id}/void"), &[]).await;
    assert_eq!(voided["status"], "void");
    let (status, _) = emu.post(&format!("/v1/invoices/{id}/pay"), &[]).await;
    assert_eq!(status, 400);
    assert!(
        emu.event_types()
            .await
            .iter()
            .any(|t| t == "invoice.voided")
    );
}

#[tokio::test]
async fn pay_charges_the_default_card_or_records_payment_out_of_band() {
    let emu = Emu::start().await;
    let cus = customer(&emu, &[("payment_method", "pm_card_visa")]).await;
    let inv = draft(&emu, &cus, "2500", &[]).await;
    let paid = emu
        .ok(
            &format!("/v1/invoices/{}/pay", inv["id"].as_str().expect("id")),
            &[],
        )
        .await;
    assert_eq!(
        paid["status"], "paid",
        "a draft is finalized and charged to the default card"
    );
    assert!(paid["payments"]["data"][0]["payment"]["payment_intent"].is_string());

    let bare = customer(&emu, &[]).await;
    let inv = draft(&emu, &bare, "2500", &[]).await;
    let path = format!("/v1/invoices/{}/pay", inv["id"].as_str().expect("id"));
    let (status, e) = emu.post(&path, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "invoice_no_customer_payment_method");
    let oob = emu.ok(&path, &[("paid_out_of_band", "true")]).await;
    assert_eq!(oob["status"], "paid");
    assert_eq!(oob["payments"]["data"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn send_invoice_needs_a_due_date_and_items_follow_the_pending_behavior() {
    let emu = Emu::start().await;
    let cus = customer(&emu, &[]).await;
    let (status, e) = emu
        .post(
            "/v1/invoices",
            &[("customer", &cus), ("collection_method", "send_invoice")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "days_until_due");
    emu.ok(
        "/v1/invoiceitems",
        &[("customer", &cus), ("amount", "300"), ("currency", "usd")],
    )
    .await;
    let excluded = emu.ok("/v1/invoices", &[("customer", &cus)]).await;
    assert_eq!(
        excluded["amount_due"], 0,
        "pending items are excluded unless asked for"
    );
    let preview = emu
        .ok("/v1/invoices/create_preview", &[("customer", &cus)])
        .await;
    assert_eq!(preview["amount_due"], 300);
    let pending = emu
        .fetch(&format!("/v1/invoiceitems?customer={cus}&pending=true"))
        .await;
    assert_eq!(pending["data"].as_array().map(Vec::len), Some(1));
    let (status, e) = emu
        .post("/v1/invoices", &[("customer", "cus_missing")])
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "resource_missing");
}

#[tokio::test]
async fn an_invoice_on_a_connected_account_pays_its_application_fee() {
    let emu = Emu::start().await;
    let acct = emu.onboarded_account("MSP").await;
    let c = emu
        .ok_as(
            &acct,
            "/v1/customers",
            &[("email", "c@msp.test"), ("payment_method", "pm_card_visa")],
        )
        .await;
    let cus = c["id"].as_str().expect("customer");
    emu.ok_as(
        &acct,
        "/v1/invoiceitems",
        &[("customer", cus), ("amount", "10000"), ("currency", "usd")],
    )
    .await;
    let inv = emu
        .ok_as(
            &acct,
            "/v1/invoices",
            &[
                ("customer", cus),
                ("pending_invoice_items_behavior", "include"),
                ("application_fee_amount", "300"),
            ],
        )
        .await;
    let paid = emu
        .ok_as(
            &acct,
            &format!("/v1/invoices/{}/pay", inv["id"].as_str().expect("id")),
            &[],
        )
        .await;
    assert_eq!(paid["status"], "paid");
    let fees = emu.fetch("/v1/application_fees").await;
    assert_eq!(fees["data"][0]["amount"], 300);
    assert_eq!(fees["data"][0]["account"], acct.as_str());
    let (status, _) = emu
        .post(
            "/v1/invoices",
            &[("customer", "cus_any"), ("application_fee_amount", "1")],
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn cards_are_saved_from_tokens_attached_listed_and_detached() {
    let emu = Emu::start().await;
    let cus = customer(&emu, &[]).await;
    let pm = emu
        .ok(
            "/v1/payment_methods",
            &[("type", "card"), ("card[token]", "tok_visa")],
        )
        .await;
    let pm_id = pm["id"].as_str().expect("pm");
    assert!(pm["customer"].is_null());
    emu.ok(
        &format!("/v1/payment_methods/{pm_id}/attach"),
        &[("customer", &cus)],
    )
    .await;
    emu.ok(
        &format!("/v1/customers/{cus}"),
        &[("invoice_settings[default_payment_method]", pm_id)],
    )
    .await;
    let listed = emu
        .fetch(&format!("/v1/payment_methods?customer={cus}"))
        .await;
    assert_eq!(listed["data"][0]["id"], pm_id);
    let detached = emu
        .ok(&format!("/v1/payment_methods/{pm_id}/detach"), &[])
        .await;
    assert!(detached["customer"].is_null());
    let c = emu.fetch(&format!("/v1/customers/{cus}")).await;
    assert!(
        c["invoice_settings"]["default_payment_method"].is_null(),
        "detaching the default clears it"
    );
    let (status, _) = emu
        .post(&format!("/v1/payment_methods/{pm_id}/detach"), &[])
        .await;
    assert_eq!(status, 400);
    let (status, e) = emu
        .post(
            "/v1/payment_methods",
            &[("type", "card"), ("card[number]", "4242424242424242")],
        )
        .await;
    assert_eq!(status, 400, "raw card numbers are refused: {e}");
    let types = emu.event_types().await;
    assert!(types.iter().any(|t| t == "payment_method.attached"));
    assert!(types.iter().any(|t| t == "payment_method.detached"));
}

#[tokio::test]
async fn a_setup_intent_attaches_a_good_card_and_fails_a_declining_one() {
    let emu = Emu::start().await;
    let cus = customer(&emu, &[]).await;
    let si = emu
        .ok(
            "/v1/setup_intents",
            &[
                ("customer", &cus),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(si["status"], "succeeded");
    let pm = emu
        .fetch(&format!(
            "/v1/payment_methods/{}",
            si["payment_method"].as_str().expect("pm")
        ))
        .await;
    assert_eq!(pm["customer"], cus.as_str());

    let si = emu.ok("/v1/setup_intents", &[("customer", &cus)]).await;
    let (status, e) = emu
        .post(
            &format!(
                "/v1/setup_intents/{}/confirm",
                si["id"].as_str().expect("id")
            ),
            &[("payment_method", "pm_card_chargeDeclined")],
        )
        .await;
    assert_eq!(status, 402);
    assert_eq!(e["error"]["code"], "card_declined");
    let failed = emu
        .fetch(&format!(
            "/v1/setup_intents/{}",
            si["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(failed["status"], "requires_payment_method");
    assert_eq!(failed["last_setup_error"]["code"], "card_declined");
    let canceled = emu
        .ok(
            &format!(
                "/v1/setup_intents/{}/cancel",
                si["id"].as_str().expect("id")
            ),
            &[],
        )
        .await;
    assert_eq!(canceled["status"], "canceled");
    let types = emu.event_types().await;
    assert!(types.iter().any(|t| t == "setup_intent.succeeded"));
    assert!(types.iter().any(|t| t == "setup_intent.setup_failed"));
}

#[tokio::test]
async fn checkout_in_setup_mode_saves_the_card_to_the_customer() {
    let emu = Emu::start().await;
    let cus = customer(&emu, &[]).await;
    let session = emu
        .ok(
            "/v1/checkout/sessions",
            &[
                ("mode", "setup"),
                ("currency", "usd"),
                ("customer", &cus),
                ("success_url", "https://app.test/cards"),
            ],
        )
        .await;
    assert!(session["amount_total"].is_null());
    let (status, location, body) = emu.pay(&session, "5555 5555 5555 4444").await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location.as_deref(), Some("https://app.test/cards"));
    let done = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{}",
            session["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(done["status"], "complete");
    let si = emu
        .fetch(&format!(
            "/v1/setup_intents/{}",
            done["setup_intent"].as_str().expect("si")
        ))
        .await;
    assert_eq!(si["status"], "succeeded");
    let cards = emu
        .fetch(&format!("/v1/customers/{cus}/payment_methods"))
        .await;
    assert_eq!(cards["data"].as_array().map(Vec::len), Some(1));
    let (status, _) = emu
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "setup"),
                ("customer", &cus),
                ("success_url", "https://app.test/cards"),
            ],
        )
        .await;
    assert_eq!(status, 400, "setup mode needs a currency");
}

#[tokio::test]
async fn a_send_invoice_subscription_is_active_at_once_and_each_invoice_waits_for_the_customer() {
    const DAY: i64 = 86_400;
    let emu = Emu::start().await;
    let start = CLOCK_START;
    let clock = emu.test_clock(start).await;
    let cus = customer(&emu, &[("test_clock", &clock)]).await;
    let (_, price) = emu.product_and_price("9000", Some("month")).await;
    let base = [
        ("customer", cus.as_str()),
        ("items[0][price]", price.as_str()),
        ("items[0][quantity]", "2"),
    ];

    // Stripe refuses days_until_due on one side of the collection method and needs it on the other.
    let mut form = base.to_vec();
    form.push(("collection_method", "send_invoice"));
    let (status, body) = emu.post("/v1/subscriptions", &form).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "days_until_due");
    let mut form = base.to_vec();
    form.push(("days_until_due", "14"));
    let (status, body) = emu.post("/v1/subscriptions", &form).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "days_until_due");

    let mut form = base.to_vec();
    form.extend([
        ("collection_method", "send_invoice"),
        ("days_until_due", "14"),
    ]);
    let before = emu.event_types().await.len();
    let sub = emu.ok("/v1/subscriptions", &form).await;
    assert_eq!(sub["status"], "active", "no card is needed to start it");
    assert_eq!(sub["collection_method"], "send_invoice");
    assert_eq!(sub["days_until_due"], 14);
    let first = emu
        .fetch(&format!(
            "/v1/invoices/{}",
            sub["latest_invoice"].as_str().expect("invoice")
        ))
        .await;
    assert_eq!(first["status"], "open", "never charged automatically");
    assert_eq!(first["amount_due"], 18_000);
    assert_eq!(first["collection_method"], "send_invoice");
    assert_eq!(first["due_date"], start + 14 * DAY);
    let events = emu.event_types_since(before).await;
    assert!(events.contains(&"invoice.sent".to_string()), "{events:?}");
    assert!(
        !events.iter().any(|e| e.starts_with("payment_intent.")),
        "{events:?}"
    );

    let url = first["hosted_invoice_url"].as_str().expect("hosted url");
    let (status, html) = post_card(&emu, url, "4242 4242 4242 4242").await;
    assert_eq!(status, 200, "{html}");
    let id = first["id"].as_str().expect("id");
    assert_eq!(
        emu.fetch(&format!("/v1/invoices/{id}")).await["status"],
        "paid"
    );

    // The renewal is finalized an hour after the period ends, sent, and left open.
    emu.advance(&clock, start + 31 * DAY + 3660).await;
    let sub_id = sub["id"].as_str().expect("sub");
    let invoices = emu
        .fetch(&format!("/v1/invoices?subscription={sub_id}"))
        .await;
    let renewal = &invoices["data"][0];
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    assert_eq!(renewal["status"], "open");
    assert_eq!(renewal["due_date"], start + 31 * DAY + 3600 + 14 * DAY);
    let s = emu.fetch(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(s["status"], "active");
}

#[tokio::test]
async fn cancel_at_ends_the_subscription_then_and_charges_the_last_period_for_the_share_it_covers()
{
    const DAY: i64 = 86_400;
    let emu = Emu::start().await;
    let start = CLOCK_START;
    let clock = emu.test_clock(start).await;
    let cus = customer(&emu, &[("test_clock", &clock)]).await;
    let (_, price) = emu.product_and_price("3100", Some("month")).await;
    let past = (start - 1).to_string();
    let form = |cancel_at: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("customer", cus.clone()),
            ("items[0][price]", price.clone()),
            ("collection_method", "send_invoice".to_owned()),
            ("days_until_due", "7".to_owned()),
            ("cancel_at", cancel_at.to_owned()),
        ]
    };
    let create = |form: Vec<(&'static str, String)>| {
        let emu = &emu;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            emu.post("/v1/subscriptions", &form).await
        }
    };

    // A cancel_at in the past is refused, and nothing is made.
    let mut refused = form("");
    refused[4].1 = past;
    let (status, body) = create(refused).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "cancel_at");

    // Ends 10 days into the second month (January has 31 days).
    let cancel_at = start + 41 * DAY;
    let mut ending = form("");
    ending[4].1 = cancel_at.to_string();
    let (status, sub) = create(ending).await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["cancel_at"], cancel_at);
    let first = emu
        .fetch(&format!(
            "/v1/invoices/{}",
            sub["latest_invoice"].as_str().expect("invoice")
        ))
        .await;
    assert_eq!(first["amount_due"], 3_100, "the first month is whole");

    emu.advance(&clock, start + 31 * DAY + 3660).await;
    let sub_id = sub["id"].as_str().expect("sub");
    let renewed = emu.fetch(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(
        renewed["items"]["data"][0]["current_period_end"], cancel_at,
        "the last period ends at cancel_at"
    );
    let invoices = emu
        .fetch(&format!("/v1/invoices?subscription={sub_id}"))
        .await;
    let last = &invoices["data"][0];
    assert_eq!(last["billing_reason"], "subscription_cycle");
    // February 2026 has 28 days: 10 of them are charged.
    assert_eq!(last["amount_due"], 3_100 * 10 / 28, "{last}");

    emu.advance(&clock, cancel_at + 60).await;
    let ended = emu.fetch(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(ended["status"], "canceled");
    assert_eq!(ended["ended_at"], cancel_at);
    let invoices = emu
        .fetch(&format!("/v1/invoices?subscription={sub_id}"))
        .await;
    assert_eq!(
        invoices["data"].as_array().expect("invoices").len(),
        2,
        "nothing is invoiced after it ends"
    );
}

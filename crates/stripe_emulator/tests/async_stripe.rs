//! Compatibility with the `async-stripe` 1.0.0-rc.10 client (API version 2026-09-30.endive): it drives the main
//! flows against the emulator, and every object and event the emulator produced deserializes into its types.

mod common;

use std::collections::HashMap;

use common::{Emu, KEY, Receiver};
use serde_json::Value;
use stripe::{Client, ClientBuilder, StripeError};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::ListInvoice;
use stripe_billing::subscription::{ListSubscription, RetrieveSubscription, UpdateSubscription};
use stripe_billing::test_helpers_test_clock::{
    AdvanceTestHelpersTestClock, CreateTestHelpersTestClock,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, RetrieveCheckoutSession,
};
use stripe_core::customer::{CreateCustomer, SearchCustomer};
use stripe_core::event::ListEvent;
use stripe_core::payment_intent::CreatePaymentIntent;
use stripe_core::refund::CreateRefund;
use stripe_product::price::{CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval};
use stripe_product::product::CreateProduct;
use stripe_shared::CheckoutSessionMode;
use stripe_types::Currency;
use stripe_webhook::{EventObject, Webhook};

fn client(emu: &Emu) -> Client {
    ClientBuilder::new(KEY)
        .url(format!("{}/", emu.running.base_url()))
        .build()
        .expect("client")
}

/// Deserializes one emulator object into the async-stripe type for its `object` field.
fn deserialize(object: &Value) -> Result<(), String> {
    let kind = object["object"].as_str().unwrap_or_default();
    let v = object.clone();
    let r = match kind {
        "customer" => serde_json::from_value::<stripe_shared::Customer>(v).map(drop),
        "product" => serde_json::from_value::<stripe_shared::Product>(v).map(drop),
        "price" => serde_json::from_value::<stripe_shared::Price>(v).map(drop),
        "checkout.session" => serde_json::from_value::<stripe_shared::CheckoutSession>(v).map(drop),
        "subscription" => serde_json::from_value::<stripe_shared::Subscription>(v).map(drop),
        "invoice" => serde_json::from_value::<stripe_shared::Invoice>(v).map(drop),
        "payment_intent" => serde_json::from_value::<stripe_shared::PaymentIntent>(v).map(drop),
        "charge" => serde_json::from_value::<stripe_shared::Charge>(v).map(drop),
        "refund" => serde_json::from_value::<stripe_shared::Refund>(v).map(drop),
        "payment_method" => serde_json::from_value::<stripe_shared::PaymentMethod>(v).map(drop),
        "coupon" => serde_json::from_value::<stripe_shared::Coupon>(v).map(drop),
        "promotion_code" => serde_json::from_value::<stripe_shared::PromotionCode>(v).map(drop),
        "test_helpers.test_clock" => {
            serde_json::from_value::<stripe_shared::TestHelpersTestClock>(v).map(drop)
        }
        "billing_portal.session" => {
            serde_json::from_value::<stripe_billing::BillingPortalSession>(v).map(drop)
        }
        "event" => serde_json::from_value::<stripe_shared::Event>(v).map(drop),
        "account" => serde_json::from_value::<stripe_shared::Account>(v).map(drop),
        "capability" => serde_json::from_value::<stripe_shared::Capability>(v).map(drop),
        "account_link" => serde_json::from_value::<stripe_connect::AccountLink>(v).map(drop),
        "login_link" => serde_json::from_value::<stripe_connect::LoginLink>(v).map(drop),
        "application_fee" => serde_json::from_value::<stripe_shared::ApplicationFee>(v).map(drop),
        "fee_refund" => serde_json::from_value::<stripe_shared::ApplicationFeeRefund>(v).map(drop),
        "transfer" => serde_json::from_value::<stripe_shared::Transfer>(v).map(drop),
        "transfer_reversal" => {
            serde_json::from_value::<stripe_shared::TransferReversal>(v).map(drop)
        }
        "balance_transaction" => {
            serde_json::from_value::<stripe_shared::BalanceTransaction>(v).map(drop)
        }
        "payout" => serde_json::from_value::<stripe_shared::Payout>(v).map(drop),
        "setup_intent" => serde_json::from_value::<stripe_shared::SetupIntent>(v).map(drop),
        "invoiceitem" => serde_json::from_value::<stripe_billing::InvoiceItem>(v).map(drop),
        other => return Err(format!("no async-stripe type checked for {other}")),
    };
    r.map_err(|e| format!("{kind}: {e}"))
}

#[tokio::test]
async fn an_async_stripe_client_drives_a_subscription_lifecycle_and_every_object_deserializes() {
    let emu = Emu::start().await;
    let client = client(&emu);
    let product = CreateProduct::new("Pro")
        .send(&client)
        .await
        .expect("product");
    let price = CreatePrice::new(Currency::USD)
        .product(product.id.as_str())
        .unit_amount(4900)
        .recurring(CreatePriceRecurring::new(
            CreatePriceRecurringInterval::Month,
        ))
        .lookup_key("pro_monthly")
        .send(&client)
        .await
        .expect("price");
    let clock = CreateTestHelpersTestClock::new(1_767_225_600)
        .send(&client)
        .await
        .expect("clock");
    let customer = CreateCustomer::new()
        .email("rust@example.com")
        .metadata(HashMap::from([("userId".to_owned(), "u42".to_owned())]))
        .test_clock(clock.id.as_str())
        .send(&client)
        .await
        .expect("customer");
    let found = SearchCustomer::new("metadata['userId']:'u42'")
        .send(&client)
        .await
        .expect("search");
    assert_eq!(found.data.len(), 1);
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price = Some(price.id.to_string());
    line.quantity = Some(1);
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer.id.as_str())
        .line_items(vec![line])
        .success_url("https://app.test/ok?cs={CHECKOUT_SESSION_ID}")
        .cancel_url("https://app.test/cancel")
        .client_reference_id("u42")
        .send(&client)
        .await
        .expect("session");
    let (status, _, _) = emu
        .pay(
            &serde_json::json!({ "url": session.url }),
            "4242424242424242",
        )
        .await;
    assert_eq!(status, 303);
    let done = RetrieveCheckoutSession::new(session.id.clone())
        .expand(vec!["subscription".to_owned(), "line_items".to_owned()])
        .send(&client)
        .await
        .expect("retrieve session");
    assert_eq!(
        done.status,
        Some(stripe_shared::CheckoutSessionStatus::Complete)
    );
    let sub = done
        .subscription
        .expect("subscription")
        .into_object()
        .expect("expanded subscription");
    assert_eq!(sub.status, stripe_shared::SubscriptionStatus::Active);
    assert_eq!(sub.items.data[0].price.unit_amount, Some(4900));
    let subs = ListSubscription::new()
        .customer(customer.id.as_str())
        .send(&client)
        .await
        .expect("list subs");
    assert_eq!(subs.data.len(), 1);
    let updated = UpdateSubscription::new(sub.id.clone())
        .cancel_at_period_end(true)
        .send(&client)
        .await
        .expect("update");
    assert!(updated.cancel_at_period_end);
    let invoices = ListInvoice::new()
        .subscription(sub.id.as_str())
        .send(&client)
        .await
        .expect("invoices");
    let invoice = &invoices.data[0];
    assert_eq!(invoice.amount_paid, 4900);
    let parent = invoice.parent.as_ref().expect("parent");
    let details = parent
        .subscription_details
        .as_ref()
        .expect("subscription details");
    assert_eq!(details.subscription.id().as_str(), sub.id.as_str());
    let advanced = AdvanceTestHelpersTestClock::new(clock.id.clone(), 1_767_225_600 + 40 * 86_400)
        .send(&client)
        .await
        .expect("advance");
    assert_eq!(advanced.frozen_time, 1_767_225_600 + 40 * 86_400);
    let ended = RetrieveSubscription::new(sub.id.clone())
        .send(&client)
        .await
        .expect("retrieve sub");
    assert_eq!(ended.status, stripe_shared::SubscriptionStatus::Canceled);
    let portal = CreateBillingPortalSession::new()
        .customer(customer.id.as_str())
        .return_url("https://app.test")
        .send(&client)
        .await
        .expect("portal");
    assert!(portal.url.contains("/portal/bps_"));

    let pi = CreatePaymentIntent::new(2500, Currency::USD)
        .payment_method("pm_card_visa")
        .confirm(true)
        .send(&client)
        .await
        .expect("pi");
    assert_eq!(pi.status, stripe_shared::PaymentIntentStatus::Succeeded);
    let refund = CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .amount(1000)
        .send(&client)
        .await
        .expect("refund");
    assert_eq!(refund.amount, 1000);
    let declined = CreatePaymentIntent::new(2500, Currency::USD)
        .payment_method("pm_card_chargeDeclined")
        .confirm(true)
        .send(&client)
        .await;
    match declined {
        Err(StripeError::Stripe(error, 402)) => {
            assert_eq!(error.decline_code.as_deref(), Some("generic_decline"));
        }
        other => panic!("expected a 402 card error, got {other:?}"),
    }
    let events = ListEvent::new()
        .limit(100)
        .send(&client)
        .await
        .expect("events");
    assert!(events.data.len() > 20);

    // Everything stored, object by object, must deserialize, expanded or not.
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for path in [
        "/v1/customers",
        "/v1/products",
        "/v1/prices",
        "/v1/checkout/sessions",
        "/v1/subscriptions?status=all",
        "/v1/invoices",
        "/v1/payment_intents",
        "/v1/charges",
        "/v1/refunds",
        "/v1/events?limit=100",
        "/v1/test_helpers/test_clocks",
        &format!("/v1/customers/{}/payment_methods", customer.id.as_str()),
    ] {
        for object in emu.fetch(path).await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            kinds.insert(object["object"].as_str().unwrap_or_default().to_owned());
            if let Err(e) = deserialize(&object) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "objects that async-stripe rejects: {failures:#?}"
    );
    assert!(kinds.len() >= 12, "checked {kinds:?}");
}

#[tokio::test]
async fn every_event_of_the_main_flows_parses_as_a_typed_async_stripe_webhook_event() {
    let receiver = Receiver::start().await;
    let secret = "whsec_async_stripe";
    let mut config = common::config();
    config.webhook_endpoints = vec![receiver.endpoint(secret)];
    config.delivery = common::fast_delivery();
    let emu = Emu::start_with(config).await;
    // Subscription checkout, renewal that fails, retries, cancellation; payment checkout; refunds; portal.
    let (clock, cus, _, start) = emu.subscribed_on_clock("4000000000000341", &[]).await;
    emu.advance(&clock, start + 31 * 86_400 + 60).await;
    emu.advance(&clock, start + 50 * 86_400).await;
    let (_, one_time) = emu.product_and_price("1500", None).await;
    let session = emu.checkout("payment", &one_time, &[]).await;
    emu.pay(&session, "4000000000000002").await;
    emu.pay(&session, "4242424242424242").await;
    let pi = emu
        .fetch(&format!(
            "/v1/checkout/sessions/{}",
            session["id"].as_str().expect("id")
        ))
        .await["payment_intent"]
        .as_str()
        .expect("pi")
        .to_owned();
    emu.ok("/v1/refunds", &[("payment_intent", &pi), ("amount", "500")])
        .await;
    emu.ok("/v1/refunds", &[("payment_intent", &pi)]).await;
    emu.ok(&format!("/v1/customers/{cus}"), &[("name", "Renamed")])
        .await;
    let expired = emu.checkout("payment", &one_time, &[]).await;
    emu.ok(
        &format!(
            "/v1/checkout/sessions/{}/expire",
            expired["id"].as_str().expect("id")
        ),
        &[],
    )
    .await;

    for account in ["000123456789", "000111111113"] {
        let bank = emu
            .checkout(
                "payment",
                &one_time,
                &[("customer_email", "bank@example.com")],
            )
            .await;
        let resp = emu
            .http
            .post(bank["url"].as_str().expect("url"))
            .form(&[("action", "pay_by_bank"), ("account_number", account)])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status().as_u16(), 303);
    }
    // Bank debits settle on the emulator's next sweep (every second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !emu
        .event_types()
        .await
        .iter()
        .any(|t| t == "checkout.session.async_payment_failed")
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let emitted = emu.events().await.len();
    let received = receiver.wait_for(emitted).await;
    assert_eq!(received.len(), emitted);
    let mut failures = Vec::new();
    let mut types = std::collections::BTreeSet::new();
    for (signature, body) in &received {
        match Webhook::construct_event(body, signature, secret) {
            Ok(event) => {
                types.insert(event.type_.to_string());
                if let EventObject::Unknown(_) = event.data.object {
                    failures.push(format!("{}: not a typed object", event.type_));
                }
            }
            Err(e) => failures.push(format!("{e:?}: {}", &body[..body.len().min(200)])),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    for event in emu.events().await {
        if let Err(e) = deserialize(&event["data"]["object"]) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "event objects that async-stripe rejects: {failures:#?}"
    );
    for expected in [
        "checkout.session.completed",
        "checkout.session.expired",
        "customer.created",
        "customer.updated",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.upcoming",
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "refund.created",
    ] {
        assert!(
            types.contains(expected),
            "{expected} was delivered and parsed; got {types:?}"
        );
    }
}

#[test]
fn the_deserialization_check_rejects_an_object_missing_a_required_field() {
    let mut customer =
        serde_json::json!({ "id": "cus_1", "object": "customer", "created": 1, "livemode": false });
    assert!(
        deserialize(&customer).is_ok(),
        "a minimal customer is valid"
    );
    customer.as_object_mut().map(|o| o.remove("created"));
    assert!(
        deserialize(&customer).is_err(),
        "without `created` it is not"
    );
}

/// Every object a list returns, and the list's own objects when the response is one object.
fn objects(body: &Value) -> Vec<Value> {
    match body["object"].as_str() {
        Some("list") => body["data"].as_array().cloned().unwrap_or_default(),
        _ => vec![body.clone()],
    }
}

#[tokio::test]
async fn every_connect_invoicing_and_saved_card_object_deserializes_with_async_stripe_types() {
    let emu = Emu::start().await;
    let acct = emu.express_account("Typed").await;
    let mut seen: Vec<Value> = Vec::new();
    let link = emu
        .ok(
            "/v1/account_links",
            &[
                ("account", acct.as_str()),
                ("type", "account_onboarding"),
                ("refresh_url", "https://p.test/r"),
                ("return_url", "https://p.test/b"),
            ],
        )
        .await;
    seen.push(link.clone());
    emu.onboard(link["url"].as_str().expect("url"), "complete")
        .await;
    seen.push(emu.fetch(&format!("/v1/accounts/{acct}")).await);
    seen.extend(objects(
        &emu.fetch(&format!("/v1/accounts/{acct}/capabilities"))
            .await,
    ));
    seen.push(
        emu.ok(&format!("/v1/accounts/{acct}/login_links"), &[])
            .await,
    );
    let pi = emu
        .ok_as(
            &acct,
            "/v1/payment_intents",
            &[
                ("amount", "10000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_bypassPending"),
                ("confirm", "true"),
                ("application_fee_amount", "250"),
            ],
        )
        .await;
    let charge = pi["latest_charge"].as_str().expect("charge");
    emu.ok_as(
        &acct,
        "/v1/refunds",
        &[
            ("charge", charge),
            ("amount", "1000"),
            ("refund_application_fee", "true"),
        ],
    )
    .await;
    let destination = emu
        .ok(
            "/v1/payment_intents",
            &[
                ("amount", "5000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_bypassPending"),
                ("confirm", "true"),
                ("transfer_data[destination]", acct.as_str()),
            ],
        )
        .await;
    let tr = emu
        .fetch(&format!(
            "/v1/charges/{}",
            destination["latest_charge"].as_str().expect("charge")
        ))
        .await["transfer"]
        .as_str()
        .expect("transfer")
        .to_owned();
    seen.push(
        emu.ok(
            &format!("/v1/transfers/{tr}/reversals"),
            &[("amount", "100")],
        )
        .await,
    );
    let clock = emu
        .ok_as(
            &acct,
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", "1767225600")],
        )
        .await;
    emu.ok_as(
        &acct,
        &format!(
            "/v1/test_helpers/test_clocks/{}/advance",
            clock["id"].as_str().expect("clock")
        ),
        &[("frozen_time", "1767312000")],
    )
    .await;
    for path in [
        "/v1/application_fees",
        "/v1/transfers",
        "/v1/balance_transactions",
    ] {
        seen.extend(objects(&emu.fetch(path).await));
    }
    let fee = emu.fetch("/v1/application_fees").await["data"][0]["id"]
        .as_str()
        .expect("fee")
        .to_owned();
    seen.extend(objects(
        &emu.fetch(&format!("/v1/application_fees/{fee}/refunds"))
            .await,
    ));
    for path in ["/v1/balance_transactions", "/v1/payouts", "/v1/charges"] {
        let (status, body) = emu.get_as(&acct, path).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(objects(&body));
    }
    let customer = emu
        .ok("/v1/customers", &[("email", "typed@example.com")])
        .await;
    let cus = customer["id"].as_str().expect("customer");
    seen.push(
        emu.ok(
            "/v1/invoiceitems",
            &[("customer", cus), ("amount", "700"), ("currency", "usd")],
        )
        .await,
    );
    let si = emu
        .ok(
            "/v1/setup_intents",
            &[
                ("customer", cus),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    seen.push(si.clone());
    let invoice = emu
        .ok(
            "/v1/invoices",
            &[
                ("customer", cus),
                ("pending_invoice_items_behavior", "include"),
            ],
        )
        .await;
    seen.push(
        emu.ok(
            &format!("/v1/invoices/{}/pay", invoice["id"].as_str().expect("id")),
            &[("payment_method", si["payment_method"].as_str().expect("pm"))],
        )
        .await,
    );
    let kinds: std::collections::BTreeSet<String> = seen
        .iter()
        .map(|o| o["object"].as_str().unwrap_or_default().to_owned())
        .collect();
    for wanted in [
        "account",
        "account_link",
        "login_link",
        "capability",
        "charge",
        "application_fee",
        "fee_refund",
        "transfer",
        "transfer_reversal",
        "balance_transaction",
        "payout",
        "invoiceitem",
        "setup_intent",
        "invoice",
    ] {
        assert!(kinds.contains(wanted), "no {wanted} was checked: {kinds:?}");
    }
    let failures: Vec<String> = seen.iter().filter_map(|o| deserialize(o).err()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

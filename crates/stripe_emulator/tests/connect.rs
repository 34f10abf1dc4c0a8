//! Connect over real HTTP: accounts and onboarding, account scoping, money between accounts (direct and
//! destination charges, transfers, application fees, refunds), subscriptions on connected accounts, payouts,
//! and which endpoints hear which events.

mod common;

use common::{Emu, Receiver, config, fast_delivery};
use serde_json::Value;
use stripe_emulator::EmulatorConfig;

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A connected account's events, oldest first.
async fn account_events(emu: &Emu, acct: &str) -> Vec<Value> {
    let (status, page) = emu.get_as(acct, "/v1/events?limit=100").await;
    assert_eq!(status, 200, "{page}");
    let mut data = page["data"].as_array().cloned().unwrap_or_default();
    data.reverse();
    data
}

/// A succeeded payment intent on `acct` (the platform when `None`) paid with `pm`.
async fn paid_intent(emu: &Emu, acct: Option<&str>, pm: &str, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![
        ("amount", "10000"),
        ("currency", "usd"),
        ("payment_method", pm),
        ("confirm", "true"),
    ];
    form.extend_from_slice(extra);
    let pi = match acct {
        Some(a) => emu.ok_as(a, "/v1/payment_intents", &form).await,
        None => emu.ok("/v1/payment_intents", &form).await,
    };
    assert_eq!(pi["status"], "succeeded", "{pi}");
    pi
}

async fn charge_of(emu: &Emu, acct: Option<&str>, pi: &Value) -> Value {
    let path = format!(
        "/v1/charges/{}",
        pi["latest_charge"].as_str().expect("charge")
    );
    match acct {
        Some(a) => {
            let (status, ch) = emu.get_as(a, &path).await;
            assert_eq!(status, 200, "{ch}");
            ch
        }
        None => emu.fetch(&path).await,
    }
}

async fn txn(emu: &Emu, acct: Option<&str>, id: &Value) -> Value {
    let path = format!("/v1/balance_transactions/{}", id.as_str().expect("txn id"));
    let (status, t) = match acct {
        Some(a) => emu.get_as(a, &path).await,
        None => emu.get(&path).await,
    };
    assert_eq!(status, 200, "{t}");
    t
}

async fn receivers() -> (Emu, Receiver, Receiver) {
    let platform = Receiver::start().await;
    let connect = Receiver::start().await;
    let emu = Emu::start_with(EmulatorConfig {
        webhook_endpoints: vec![
            platform.endpoint("whsec_platform"),
            connect.connect_endpoint("whsec_connect"),
        ],
        delivery: fast_delivery(),
        ..config()
    })
    .await;
    (emu, platform, connect)
}

#[tokio::test]
async fn completing_onboarding_enables_the_account_and_emits_its_events_in_order() {
    let (emu, platform, connect) = receivers().await;
    let acct = emu.express_account("Acme IT").await;
    let fresh = emu.fetch(&format!("/v1/accounts/{acct}")).await;
    assert_eq!(fresh["charges_enabled"], false);
    assert_eq!(fresh["details_submitted"], false);
    assert_eq!(fresh["capabilities"]["card_payments"], "inactive");
    assert_eq!(
        fresh["requirements"]["disabled_reason"],
        "requirements.past_due"
    );
    assert!(
        !fresh["requirements"]["currently_due"]
            .as_array()
            .expect("due")
            .is_empty()
    );
    assert_eq!(fresh["controller"]["stripe_dashboard"]["type"], "express");

    let link = emu.onboarding_link(&acct).await;
    let back = emu.onboard(&link, "complete").await;
    assert_eq!(back, "https://platform.test/return");

    let account = emu.fetch(&format!("/v1/accounts/{acct}")).await;
    assert_eq!(account["charges_enabled"], true);
    assert_eq!(account["payouts_enabled"], true);
    assert_eq!(account["details_submitted"], true);
    assert_eq!(account["capabilities"]["card_payments"], "active");
    assert_eq!(account["capabilities"]["transfers"], "active");
    assert_eq!(
        account["requirements"]["currently_due"],
        serde_json::json!([])
    );
    assert!(account["requirements"]["disabled_reason"].is_null());
    assert_eq!(
        account["external_accounts"]["data"][0]["object"],
        "bank_account"
    );

    let events = account_events(&emu, &acct).await;
    assert_eq!(
        types(&events),
        [
            "account.updated",
            "capability.updated",
            "capability.updated",
            "account.external_account.created"
        ]
    );
    assert!(events.iter().all(|e| e["account"] == acct.as_str()));
    assert_eq!(
        events[0]["data"]["previous_attributes"]["charges_enabled"],
        false
    );

    let got = connect.wait_for(4).await;
    assert_eq!(
        got.len(),
        4,
        "the Connect endpoint hears the account's events"
    );
    let heard: Vec<String> = types(&connect.bodies());
    assert_eq!(heard, types(&events));
    assert!(
        platform.bodies().iter().all(|e| e["account"].is_null()),
        "the platform's own endpoint hears none of a connected account's events"
    );
}

#[tokio::test]
async fn onboarding_left_pending_waits_for_verification_then_enables_charges() {
    let emu = Emu::start().await;
    let acct = emu.express_account("Pending Co").await;
    let link = emu.onboarding_link(&acct).await;
    emu.onboard(&link, "pending").await;
    let account = emu.fetch(&format!("/v1/accounts/{acct}")).await;
    assert_eq!(account["details_submitted"], true);
    assert_eq!(account["charges_enabled"], false);
    assert_eq!(account["payouts_enabled"], false);
    assert_eq!(account["capabilities"]["card_payments"], "pending");
    assert_eq!(
        account["requirements"]["disabled_reason"],
        "requirements.pending_verification"
    );
    assert_eq!(
        account["requirements"]["pending_verification"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let verified = emu
        .ok(&format!("/_emulator/accounts/{acct}/verify"), &[])
        .await;
    assert_eq!(verified["charges_enabled"], true);
    assert_eq!(verified["capabilities"]["card_payments"], "active");
    let events = types(&account_events(&emu, &acct).await);
    assert_eq!(
        events,
        [
            "account.updated",
            "capability.updated",
            "capability.updated",
            "account.updated",
            "capability.updated",
            "capability.updated",
            "account.external_account.created"
        ]
    );
}

#[tokio::test]
async fn a_test_clock_advance_finishes_a_pending_verification() {
    let emu = Emu::start().await;
    let acct = emu.express_account("Clocked").await;
    let link = emu.onboarding_link(&acct).await;
    emu.onboard(&link, "pending").await;
    let clock = emu
        .ok(
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", "1767225600")],
        )
        .await;
    emu.advance(clock["id"].as_str().expect("clock"), 1_767_312_000)
        .await;
    let account = emu.fetch(&format!("/v1/accounts/{acct}")).await;
    assert_eq!(account["charges_enabled"], true);
}

#[tokio::test]
async fn leaving_onboarding_changes_nothing_and_a_spent_link_goes_to_refresh_url() {
    let emu = Emu::start().await;
    let acct = emu.express_account("Leaver").await;
    let link = emu.onboarding_link(&acct).await;
    let back = emu.onboard(&link, "leave").await;
    assert_eq!(back, "https://platform.test/return");
    let account = emu.fetch(&format!("/v1/accounts/{acct}")).await;
    assert_eq!(account["details_submitted"], false);
    assert!(account_events(&emu, &acct).await.is_empty());

    let again = emu.http.get(&link).send().await.expect("reopen");
    assert_eq!(again.status().as_u16(), 303);
    assert_eq!(
        again.headers()["location"].to_str().expect("location"),
        "https://platform.test/refresh"
    );
    let resubmit = emu
        .http
        .post(&link)
        .form(&[("action", "complete")])
        .send()
        .await
        .expect("resubmit");
    assert_eq!(
        resubmit.headers()["location"].to_str().expect("location"),
        "https://platform.test/refresh",
        "a spent link cannot complete onboarding"
    );
    let account = emu.fetch(&format!("/v1/accounts/{acct}")).await;
    assert_eq!(account["details_submitted"], false);
}

#[tokio::test]
async fn account_links_are_checked_as_stripe_checks_them() {
    let emu = Emu::start().await;
    let acct = emu.express_account("Links").await;
    let (status, e) = emu
        .post(
            "/v1/account_links",
            &[
                ("account", acct.as_str()),
                ("type", "account_update"),
                ("refresh_url", "https://p.test/r"),
                ("return_url", "https://p.test/b"),
            ],
        )
        .await;
    assert_eq!(
        status, 400,
        "Express accounts have no account_update links: {e}"
    );
    let (status, e) = emu
        .post(
            "/v1/account_links",
            &[
                ("account", "acct_doesnotexist"),
                ("type", "account_onboarding"),
                ("refresh_url", "https://p.test/r"),
                ("return_url", "https://p.test/b"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "resource_missing");
    assert_eq!(e["error"]["param"], "account");
    let (status, e) = emu
        .post(
            "/v1/account_links",
            &[("account", acct.as_str()), ("type", "account_onboarding")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "parameter_missing");
    let link = emu
        .ok(
            "/v1/account_links",
            &[
                ("account", acct.as_str()),
                ("type", "account_onboarding"),
                ("refresh_url", "https://p.test/r"),
                ("return_url", "https://p.test/b"),
                ("collection_options[fields]", "eventually_due"),
            ],
        )
        .await;
    assert_eq!(link["object"], "account_link");
    assert_eq!(
        link["expires_at"].as_i64().expect("expires") - link["created"].as_i64().expect("created"),
        300
    );
}

#[tokio::test]
async fn accounts_take_the_controller_form_and_map_it_to_a_type() {
    let emu = Emu::start().await;
    let account = emu
        .ok(
            "/v1/accounts",
            &[
                ("controller[stripe_dashboard][type]", "express"),
                ("controller[fees][payer]", "application"),
                ("controller[losses][payments]", "application"),
                ("controller[requirement_collection]", "stripe"),
                ("capabilities[transfers][requested]", "true"),
            ],
        )
        .await;
    assert_eq!(account["type"], "express");
    assert_eq!(account["controller"]["fees"]["payer"], "application");
    let (status, e) = emu.post("/v1/accounts", &[("country", "US")]).await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["param"], "type");
    let (status, _) = emu
        .post(
            "/v1/accounts",
            &[("controller[stripe_dashboard][type]", "sideways")],
        )
        .await;
    assert_eq!(status, 400);
    let own = emu.fetch("/v1/account").await;
    assert_eq!(own["charges_enabled"], true, "the platform's own account");
    let (status, mine) = emu
        .get_as(account["id"].as_str().expect("id"), "/v1/account")
        .await;
    assert_eq!(status, 200);
    assert_eq!(mine["id"], account["id"]);
}

#[tokio::test]
async fn objects_of_one_account_are_missing_from_another_and_from_the_platform() {
    let emu = Emu::start().await;
    let a = emu.express_account("A").await;
    let b = emu.express_account("B").await;
    let customer = emu
        .ok_as(&a, "/v1/customers", &[("email", "x@a.test")])
        .await;
    let path = format!("/v1/customers/{}", customer["id"].as_str().expect("id"));
    let (status, body) = emu.get_as(&b, &path).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "resource_missing");
    let (status, _) = emu.get(&path).await;
    assert_eq!(status, 404, "the platform does not see it either");
    let (status, _) = emu.get_as(&a, &path).await;
    assert_eq!(status, 200);
    let (status, body) = emu.get_as(&a, &format!("/v1/accounts/{b}")).await;
    assert_eq!(status, 404, "an account cannot read another: {body}");
}

#[tokio::test]
async fn an_unknown_or_deleted_account_is_account_invalid() {
    let (emu, _platform, connect) = receivers().await;
    let (status, body) = emu.get_as("acct_nosuchaccount", "/v1/customers").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "account_invalid");
    let acct = emu.express_account("Short-lived").await;
    let (status, deleted) = emu.delete(&format!("/v1/accounts/{acct}")).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["deleted"], true);
    let (status, body) = emu.get_as(&acct, "/v1/customers").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "account_invalid");
    connect.wait_for(1).await;
    let heard = connect.bodies();
    assert_eq!(heard[0]["type"], "account.application.deauthorized");
    assert_eq!(heard[0]["account"], acct.as_str());
}

#[tokio::test]
async fn a_direct_charge_of_100_dollars_with_a_2_5_percent_fee_nets_94_30() {
    let emu = Emu::start().await;
    let acct = emu.onboarded_account("Direct").await;
    let pi = paid_intent(
        &emu,
        Some(&acct),
        "pm_card_visa",
        &[("application_fee_amount", "250")],
    )
    .await;
    assert_eq!(pi["application_fee_amount"], 250);
    let ch = charge_of(&emu, Some(&acct), &pi).await;
    let t = txn(&emu, Some(&acct), &ch["balance_transaction"]).await;
    assert_eq!(t["amount"], 10_000);
    assert_eq!(t["fee"], 570);
    assert_eq!(t["net"], 9_430);
    let fees: Vec<(String, i64)> = t["fee_details"]
        .as_array()
        .expect("fee details")
        .iter()
        .map(|f| {
            (
                f["type"].as_str().expect("type").to_owned(),
                f["amount"].as_i64().expect("amount"),
            )
        })
        .collect();
    assert_eq!(
        fees,
        [
            ("stripe_fee".to_owned(), 320),
            ("application_fee".to_owned(), 250)
        ]
    );
    let fee = emu
        .fetch(&format!(
            "/v1/application_fees/{}",
            ch["application_fee"].as_str().expect("fee")
        ))
        .await;
    assert_eq!(fee["amount"], 250);
    assert_eq!(fee["account"], acct.as_str());
    assert_eq!(fee["charge"], ch["id"]);
    let platform_txn = txn(&emu, None, &fee["balance_transaction"]).await;
    assert_eq!(platform_txn["type"], "application_fee");
    assert_eq!(platform_txn["net"], 250);
    let (_, balance) = emu.get_as(&acct, "/v1/balance").await;
    assert_eq!(balance["pending"][0]["amount"], 9_430);
    assert_eq!(balance["available"][0]["amount"], 0);
    let (status, e) = emu
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("application_fee_amount", "10"),
            ],
        )
        .await;
    assert_eq!(
        status, 400,
        "the platform's own charge takes no application fee: {e}"
    );
}

#[tokio::test]
async fn refunds_give_back_the_application_fee_only_when_asked_and_in_proportion() {
    let emu = Emu::start().await;
    let acct = emu.onboarded_account("Refunds").await;
    let pi = paid_intent(
        &emu,
        Some(&acct),
        "pm_card_visa",
        &[("application_fee_amount", "250")],
    )
    .await;
    let ch = charge_of(&emu, Some(&acct), &pi).await;
    let fee_path = format!(
        "/v1/application_fees/{}",
        ch["application_fee"].as_str().expect("fee")
    );
    let charge = ch["id"].as_str().expect("id");

    let half = emu
        .ok_as(
            &acct,
            "/v1/refunds",
            &[
                ("charge", charge),
                ("amount", "5000"),
                ("refund_application_fee", "true"),
            ],
        )
        .await;
    let refund_txn = txn(&emu, Some(&acct), &half["balance_transaction"]).await;
    assert_eq!(refund_txn["type"], "refund");
    assert_eq!(refund_txn["net"], -5_000);
    let fee = emu.fetch(&fee_path).await;
    assert_eq!(
        fee["amount_refunded"], 125,
        "half the charge gives back half the fee"
    );
    assert_eq!(fee["refunded"], false);

    emu.ok_as(&acct, "/v1/refunds", &[("charge", charge)]).await;
    let fee = emu.fetch(&fee_path).await;
    assert_eq!(
        fee["amount_refunded"], 125,
        "without refund_application_fee the fee stays"
    );

    let pi = paid_intent(
        &emu,
        Some(&acct),
        "pm_card_visa",
        &[("application_fee_amount", "250")],
    )
    .await;
    let ch = charge_of(&emu, Some(&acct), &pi).await;
    emu.ok_as(
        &acct,
        "/v1/refunds",
        &[
            ("charge", ch["id"].as_str().expect("id")),
            ("refund_application_fee", "true"),
        ],
    )
    .await;
    let fee = emu
        .fetch(&format!(
            "/v1/application_fees/{}",
            ch["application_fee"].as_str().expect("fee")
        ))
        .await;
    assert_eq!(fee["amount_refunded"], 250);
    assert_eq!(fee["refunded"], true);
    let refunds = emu
        .fetch(&format!(
            "/v1/application_fees/{}/refunds",
            fee["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(refunds["data"][0]["amount"], 250);

    let direct = emu
        .fetch(&format!(
            "/v1/application_fees/{}",
            fee["id"].as_str().expect("id")
        ))
        .await;
    let (status, _) = emu
        .post(
            &format!(
                "/v1/application_fees/{}/refunds",
                direct["id"].as_str().expect("id")
            ),
            &[],
        )
        .await;
    assert_eq!(
        status, 400,
        "a fully refunded fee has nothing left to refund"
    );
}

#[tokio::test]
async fn a_destination_charge_transfers_to_the_account_and_a_refund_can_reverse_it() {
    let emu = Emu::start().await;
    let acct = emu.onboarded_account("Destination").await;
    let pi = paid_intent(
        &emu,
        None,
        "pm_card_visa",
        &[
            ("transfer_data[destination]", &acct),
            ("application_fee_amount", "1000"),
        ],
    )
    .await;
    let ch = charge_of(&emu, None, &pi).await;
    let tr = emu
        .fetch(&format!(
            "/v1/transfers/{}",
            ch["transfer"].as_str().expect("transfer")
        ))
        .await;
    assert_eq!(tr["amount"], 10_000);
    assert_eq!(tr["destination"], acct.as_str());
    assert_eq!(tr["source_transaction"], ch["id"]);
    let (status, payment) = emu
        .get_as(
            &acct,
            &format!(
                "/v1/charges/{}",
                tr["destination_payment"].as_str().expect("py")
            ),
        )
        .await;
    assert_eq!(status, 200);
    let incoming = txn(&emu, Some(&acct), &payment["balance_transaction"]).await;
    assert_eq!(incoming["type"], "payment");
    assert_eq!(
        incoming["net"], 9_000,
        "the account pays the application fee"
    );
    let platform = emu.fetch("/v1/balance").await;
    assert_eq!(
        platform["pending"][0]["amount"].as_i64().expect("pending")
            + platform["available"][0]["amount"]
                .as_i64()
                .expect("available"),
        10_000 - 320 - 10_000 + 1_000,
        "the platform keeps the fee and pays Stripe's"
    );

    emu.ok(
        "/v1/refunds",
        &[
            ("charge", ch["id"].as_str().expect("id")),
            ("amount", "5000"),
            ("reverse_transfer", "true"),
            ("refund_application_fee", "true"),
        ],
    )
    .await;
    let tr = emu
        .fetch(&format!("/v1/transfers/{}", tr["id"].as_str().expect("id")))
        .await;
    assert_eq!(tr["amount_reversed"], 5_000);
    assert_eq!(tr["reversed"], false);
    let fee = emu
        .fetch(&format!(
            "/v1/application_fees/{}",
            ch["application_fee"].as_str().expect("fee")
        ))
        .await;
    assert_eq!(fee["amount_refunded"], 500);
    let (_, balance) = emu.get_as(&acct, "/v1/balance").await;
    assert_eq!(
        balance["pending"][0]["amount"].as_i64().expect("pending")
            + balance["available"][0]["amount"]
                .as_i64()
                .expect("available"),
        9_000 - 5_000 + 500
    );

    let (status, e) = emu
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("transfer_data[destination]", "acct_nobody"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "resource_missing");
    assert_eq!(e["error"]["param"], "transfer_data[destination]");
}

#[tokio::test]
async fn a_separate_transfer_needs_available_funds_or_a_source_transaction() {
    let emu = Emu::start().await;
    let acct = emu.onboarded_account("Separate").await;
    let (status, e) = emu
        .post(
            "/v1/transfers",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("destination", &acct),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "balance_insufficient");

    let pending = paid_intent(&emu, None, "pm_card_visa", &[("transfer_group", "ORDER1")]).await;
    let ch = charge_of(&emu, None, &pending).await;
    let tr = emu
        .ok(
            "/v1/transfers",
            &[
                ("amount", "7000"),
                ("currency", "usd"),
                ("destination", &acct),
                ("source_transaction", ch["id"].as_str().expect("id")),
                ("transfer_group", "ORDER1"),
            ],
        )
        .await;
    assert_eq!(tr["transfer_group"], "ORDER1");
    let (status, _) = emu
        .post(
            "/v1/transfers",
            &[
                ("amount", "5000"),
                ("currency", "usd"),
                ("destination", &acct),
                ("source_transaction", ch["id"].as_str().expect("id")),
            ],
        )
        .await;
    assert_eq!(status, 400, "a source transaction cannot be spent twice");

    paid_intent(&emu, None, "pm_card_bypassPending", &[]).await;
    let direct = emu
        .ok(
            "/v1/transfers",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("destination", &acct),
            ],
        )
        .await;
    let reversal = emu
        .ok(
            &format!(
                "/v1/transfers/{}/reversals",
                direct["id"].as_str().expect("id")
            ),
            &[("amount", "500")],
        )
        .await;
    assert_eq!(reversal["object"], "transfer_reversal");
    assert_eq!(reversal["amount"], 500);
    let listed = emu
        .fetch(&format!("/v1/transfers?destination={acct}"))
        .await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(2));
    let types = emu.event_types().await;
    assert!(types.iter().any(|t| t == "transfer.created"));
    assert!(types.iter().any(|t| t == "transfer.reversed"));

    let unready = emu.express_account("Not onboarded").await;
    let (status, e) = emu
        .post(
            "/v1/transfers",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("destination", &unready),
            ],
        )
        .await;
    assert_eq!(status, 400, "transfers need the transfers capability: {e}");
}

#[tokio::test]
async fn a_connected_subscription_renewed_by_a_test_clock_pays_its_application_fee_each_time() {
    let emu = Emu::start().await;
    let acct = emu.onboarded_account("Contracts").await;
    let start = 1_767_225_600;
    let clock = emu
        .ok_as(
            &acct,
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", &start.to_string())],
        )
        .await;
    let clock_id = clock["id"].as_str().expect("clock");
    let customer = emu
        .ok_as(
            &acct,
            "/v1/customers",
            &[
                ("email", "client@example.com"),
                ("test_clock", clock_id),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await;
    let product = emu
        .ok_as(&acct, "/v1/products", &[("name", "Managed IT")])
        .await;
    let price = emu
        .ok_as(
            &acct,
            "/v1/prices",
            &[
                ("product", product["id"].as_str().expect("product")),
                ("unit_amount", "2000"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    let sub = emu
        .ok_as(
            &acct,
            "/v1/subscriptions",
            &[
                ("customer", customer["id"].as_str().expect("customer")),
                ("items[0][price]", price["id"].as_str().expect("price")),
                ("application_fee_percent", "10"),
            ],
        )
        .await;
    assert_eq!(sub["status"], "active", "{sub}");
    assert_eq!(sub["application_fee_percent"], 10.0);
    let (_, first) = emu
        .get_as(
            &acct,
            &format!(
                "/v1/invoices/{}",
                sub["latest_invoice"].as_str().expect("invoice")
            ),
        )
        .await;
    assert_eq!(first["application_fee_amount"], 200);

    emu.ok_as(
        &acct,
        &format!("/v1/test_helpers/test_clocks/{clock_id}/advance"),
        &[("frozen_time", &(start + 32 * 86_400).to_string())],
    )
    .await;
    let fees = emu.fetch("/v1/application_fees").await;
    let amounts: Vec<i64> = fees["data"]
        .as_array()
        .expect("fees")
        .iter()
        .map(|f| f["amount"].as_i64().expect("amount"))
        .collect();
    assert_eq!(
        amounts,
        [200, 200],
        "the first invoice and the renewal each pay 10%"
    );
    let (status, e) = emu
        .post(
            "/v1/subscriptions",
            &[
                ("customer", "cus_x"),
                ("items[0][price]", "price_x"),
                ("application_fee_percent", "10"),
            ],
        )
        .await;
    assert!(status >= 400, "{e}");
}

#[tokio::test]
async fn checkout_on_a_connected_account_takes_the_application_fee_and_shows_its_name() {
    let emu = Emu::start().await;
    let acct = emu.onboarded_account("Tenant Shop").await;
    let product = emu.ok_as(&acct, "/v1/products", &[("name", "Audit")]).await;
    let price = emu
        .ok_as(
            &acct,
            "/v1/prices",
            &[
                ("product", product["id"].as_str().expect("product")),
                ("unit_amount", "5000"),
                ("currency", "usd"),
            ],
        )
        .await;
    let session = emu
        .ok_as(
            &acct,
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", price["id"].as_str().expect("price")),
                ("line_items[0][quantity]", "1"),
                ("success_url", "https://t.test/ok"),
                ("payment_intent_data[application_fee_amount]", "125"),
            ],
        )
        .await;
    let page = emu
        .http
        .get(session["url"].as_str().expect("url"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Tenant Shop"),
        "the hosted page names the connected account"
    );
    let (status, _, body) = emu.pay(&session, "4242424242424242").await;
    assert_eq!(status, 303, "{body}");
    let fees = emu.fetch("/v1/application_fees").await;
    assert_eq!(fees["data"][0]["amount"], 125);
    assert_eq!(fees["data"][0]["account"], acct.as_str());
    let (status, e) = emu
        .post_as(
            &acct,
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", price["id"].as_str().expect("price")),
                ("line_items[0][quantity]", "1"),
                ("success_url", "https://t.test/ok"),
                ("payment_intent_data[application_fee_amount]", "999999"),
            ],
        )
        .await;
    assert_eq!(status, 400, "a fee above the total is refused: {e}");
}

#[tokio::test]
async fn payouts_go_out_on_a_clock_advance_and_a_failed_one_returns_the_money() {
    let (emu, _platform, connect) = receivers().await;
    let acct = emu.onboarded_account("Payouts").await;
    paid_intent(&emu, Some(&acct), "pm_card_bypassPending", &[]).await;
    let (_, balance) = emu.get_as(&acct, "/v1/balance").await;
    assert_eq!(balance["available"][0]["amount"], 10_000 - 320);
    let clock = emu
        .ok_as(
            &acct,
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", "1767225600")],
        )
        .await;
    let path = format!(
        "/v1/test_helpers/test_clocks/{}/advance",
        clock["id"].as_str().expect("clock")
    );
    emu.ok_as(&acct, &path, &[("frozen_time", "1767312000")])
        .await;
    let (_, payouts) = emu.get_as(&acct, "/v1/payouts").await;
    assert_eq!(payouts["data"][0]["amount"], 9_680);
    assert_eq!(payouts["data"][0]["status"], "paid");
    let (_, balance) = emu.get_as(&acct, "/v1/balance").await;
    assert_eq!(balance["available"][0]["amount"], 0);

    emu.ok(
        &format!("/_emulator/accounts/{acct}/payout_failure"),
        &[("fail", "true")],
    )
    .await;
    paid_intent(&emu, Some(&acct), "pm_card_bypassPending", &[]).await;
    emu.ok_as(&acct, &path, &[("frozen_time", "1767398400")])
        .await;
    let (_, payouts) = emu.get_as(&acct, "/v1/payouts").await;
    assert_eq!(payouts["data"][0]["status"], "failed");
    assert_eq!(payouts["data"][0]["failure_code"], "account_closed");
    let (_, balance) = emu.get_as(&acct, "/v1/balance").await;
    assert_eq!(
        balance["available"][0]["amount"], 9_680,
        "a failed payout returns the money"
    );
    let events = types(&account_events(&emu, &acct).await);
    let payout_events: Vec<&String> = events.iter().filter(|t| t.starts_with("payout.")).collect();
    assert_eq!(
        payout_events,
        [
            "payout.created",
            "payout.paid",
            "payout.created",
            "payout.failed"
        ]
    );
    let _ = connect.wait_for(1).await;
    assert!(connect.bodies().iter().any(|e| e["type"] == "payout.paid"));
}

#[tokio::test]
async fn platform_events_reach_only_the_platforms_endpoints() {
    let (emu, platform, connect) = receivers().await;
    let acct = emu.onboarded_account("Fees").await;
    paid_intent(
        &emu,
        Some(&acct),
        "pm_card_visa",
        &[("application_fee_amount", "100")],
    )
    .await;
    emu.ok("/v1/customers", &[("email", "platform@example.com")])
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while platform.bodies().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let on_platform = types(&platform.bodies());
    assert_eq!(on_platform, ["application_fee.created", "customer.created"]);
    let on_connect = connect.bodies();
    assert!(on_connect.iter().all(|e| e["account"] == acct.as_str()));
    assert!(on_connect.iter().any(|e| e["type"] == "charge.succeeded"));
}

#[tokio::test]
async fn login_links_open_the_express_dashboard_once_onboarding_is_done() {
    let emu = Emu::start().await;
    let acct = emu.express_account("Dashboard").await;
    let path = format!("/v1/accounts/{acct}/login_links");
    let (status, _) = emu.post(&path, &[]).await;
    assert_eq!(status, 400, "not before onboarding");
    let link = emu.onboarding_link(&acct).await;
    emu.onboard(&link, "complete").await;
    paid_intent(&emu, Some(&acct), "pm_card_visa", &[]).await;
    let login = emu.ok(&path, &[]).await;
    assert_eq!(login["object"], "login_link");
    let html = emu
        .http
        .get(login["url"].as_str().expect("url"))
        .send()
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Dashboard"));
    assert!(
        html.contains("96.80 USD"),
        "the pending balance is shown: {html}"
    );
    let standard = emu.ok("/v1/accounts", &[("type", "standard")]).await;
    let (status, _) = emu
        .post(
            &format!(
                "/v1/accounts/{}/login_links",
                standard["id"].as_str().expect("id")
            ),
            &[],
        )
        .await;
    assert_eq!(status, 400, "login links are for Express accounts");
}

#[tokio::test]
async fn a_destination_charge_is_paid_out_of_its_own_pending_funds_not_the_available_balance() {
    let emu = Emu::start().await;
    let acct = emu.onboarded_account("Pending destination").await;
    paid_intent(&emu, None, "pm_card_bypassPending", &[]).await;
    let before = emu.fetch("/v1/balance").await;
    let available = before["available"][0]["amount"].clone();
    assert_eq!(available, 10_000 - 320);
    paid_intent(
        &emu,
        None,
        "pm_card_visa",
        &[("transfer_data[destination]", &acct)],
    )
    .await;
    let after = emu.fetch("/v1/balance").await;
    assert_eq!(
        after["available"][0]["amount"], available,
        "the transfer leaves with the charge's funds, when they settle"
    );
    assert_eq!(after["pending"][0]["amount"], -320);
}

//! Recurring contracts (seed 003, phase 4) end to end on the emulator: a tenant's subscription on
//! its connected account with the platform's fee, each invoice emailed and paid on its hosted
//! page, a seat change prorated onto the renewal, the renewal made by the tenant's test clock,
//! and cancellation; another tenant sees none of it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::connect::{
    Caller, TEST_CONNECT_SECRET, invoice_of, onboarded_tenant, pay_invoice, platform_admin,
};
use crate::support::{TestApp, error_of, eventually};

fn unix(body: &Value, field: &str) -> i64 {
    let text = body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"));
    OffsetDateTime::parse(text, &Rfc3339)
        .expect("rfc3339")
        .unix_timestamp()
}

/// The contract's invoice records, oldest first.
async fn contract_invoices(app: &TestApp, caller: &Caller, contract: &str) -> Vec<Value> {
    let listed: Value = caller
        .get(app, "/api/v1/tenant/invoices")
        .await
        .json()
        .await
        .expect("json");
    let mut invoices: Vec<Value> = listed["data"]
        .as_array()
        .expect("invoices")
        .iter()
        .filter(|i| i["contract_id"] == contract)
        .cloned()
        .collect();
    invoices.reverse();
    invoices
}

/// The contract's `n`th invoice once Stripe has sent it (it has a pay link).
async fn sent_invoice(app: &TestApp, caller: &Caller, contract: &str, n: usize) -> Value {
    eventually(30, "the contract's invoice recorded and sent", || async {
        let invoices = contract_invoices(app, caller, contract).await;
        invoices
            .get(n)
            .filter(|i| i["status"] == "open" && i["pay_url"].is_string())
            .cloned()
    })
    .await
}

async fn paid(app: &TestApp, caller: &Caller, invoice: &Value) -> Value {
    let pay_url = invoice["pay_url"].as_str().expect("pay url");
    assert_eq!(
        pay_invoice(pay_url, "4242424242424242").await,
        StatusCode::OK
    );
    let id = invoice["id"].as_str().expect("id");
    eventually(30, "the invoice paid", || async {
        let invoice = invoice_of(app, caller, id).await;
        (invoice["status"] == "paid").then_some(invoice)
    })
    .await
}

async fn contract_of(app: &TestApp, caller: &Caller, id: &str) -> Value {
    caller
        .get(app, &format!("/api/v1/tenant/contracts/{id}"))
        .await
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn a_contract_bills_each_period_with_its_fee_and_a_seat_change_is_prorated_onto_the_renewal()
{
    let apps = TestApp::all_with(|config| {
        config.connect.webhook_secrets =
            vec![tollgate_core::Secret::new(TEST_CONNECT_SECRET.to_string())];
        config.stripe.test_clock = Some("new".into());
    })
    .await;
    for app in apps {
        let platform = platform_admin(&app).await;
        let acme = onboarded_tenant(&app, &platform, "Acme IT", "billing@acme.example").await;
        let beta = onboarded_tenant(&app, &platform, "Beta MSP", "hello@beta.example").await;
        let customer: Value = acme
            .post(
                &app,
                "/api/v1/tenant/customers",
                json!({ "email": "client@example.com" }),
            )
            .await
            .json()
            .await
            .expect("json");
        let customer_id = customer["id"].as_str().expect("customer");
        let terms = |interval: &str| {
            json!({ "customer_id": customer_id, "description": "Managed seats",
                    "unit_amount": 5_000, "interval": interval, "quantity": 2,
                    "days_until_due": 14 })
        };

        // Bad terms are refused before anything reaches Stripe.
        let (status, error) = error_of(
            acme.post(&app, "/api/v1/tenant/contracts", terms("week"))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["field"], "interval");
        let mut past = terms("month");
        past["ends_at"] = json!("2020-01-01T00:00:00Z");
        let (status, error) =
            error_of(acme.post(&app, "/api/v1/tenant/contracts", past).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["field"], "ends_at");
        let (status, error) = error_of(
            beta.post(&app, "/api/v1/tenant/contracts", terms("month"))
                .await,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "A's customer is no one of B's"
        );
        assert_eq!(error["field"], "customer_id");

        let created = acme
            .post(&app, "/api/v1/tenant/contracts", terms("month"))
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let contract: Value = created.json().await.expect("json");
        assert_eq!(contract["status"], "active", "{contract}");
        assert_eq!(contract["quantity"], 2);
        assert_eq!(contract["application_fee_bps"], 250);
        assert!(contract["stripe_subscription_id"].is_string());
        let id = contract["id"].as_str().expect("id").to_string();

        // Tenant B can neither see nor touch it.
        let path = format!("/api/v1/tenant/contracts/{id}");
        assert_eq!(beta.get(&app, &path).await.status(), StatusCode::NOT_FOUND);
        let (status, _) =
            error_of(beta.post(&app, &format!("{path}/cancel"), json!({})).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The first period's invoice: sent to the customer, 2.5% of $100.00 for the platform.
        let first = sent_invoice(&app, &acme, &id, 0).await;
        assert_eq!(first["total"], 10_000);
        assert_eq!(first["application_fee"], 250);
        let first = paid(&app, &acme, &first).await;
        assert_eq!(
            first["amounts"],
            json!({ "gross": 10_000, "stripe_fee": 320, "application_fee": 250, "net": 9_430 })
        );
        let period_end = unix(&contract, "current_period_end");
        let contract = eventually(30, "paid through the first period", || async {
            let c = contract_of(&app, &acme, &id).await;
            (c["paid_through"].is_string()).then_some(c)
        })
        .await;
        assert_eq!(unix(&contract, "paid_through"), period_end);

        // A third seat from now on: the whole period is left, so the renewal carries the
        // proration (−2 seats + 3 seats) beside the next period's 3 seats.
        let changed = acme
            .client
            .patch(app.url(&path))
            .header("x-csrf-token", &acme.csrf)
            .json(&json!({ "quantity": 3 }))
            .send()
            .await
            .expect("patch");
        assert_eq!(changed.status(), StatusCode::OK);
        let changed: Value = changed.json().await.expect("json");
        assert_eq!(changed["quantity"], 3);

        // The renewal, made by the tenant's test clock moving with the platform's.
        let advanced: Value = platform
            .post(
                &app,
                "/api/v1/admin/test-clock/advance",
                json!({ "to": period_end + 2 * 3_600 }),
            )
            .await
            .json()
            .await
            .expect("json");
        assert!(advanced["tenant_clocks"].as_u64() >= Some(1), "{advanced}");
        let renewal = sent_invoice(&app, &acme, &id, 1).await;
        assert_eq!(renewal["total"], 15_000 - 10_000 + 15_000, "{renewal}");
        assert_eq!(renewal["application_fee"], 500);
        paid(&app, &acme, &renewal).await;
        let renewed = eventually(30, "paid through the second period", || async {
            let c = contract_of(&app, &acme, &id).await;
            (c["paid_through"].is_string() && unix(&c, "paid_through") > period_end).then_some(c)
        })
        .await;
        assert_eq!(
            unix(&renewed, "paid_through"),
            unix(&renewed, "current_period_end")
        );

        // Canceled at the end of the period, then now; an ended contract changes no more.
        let at_end: Value = acme
            .post(&app, &format!("{path}/cancel"), json!({}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(at_end["cancel_at_period_end"], true, "{at_end}");
        assert_eq!(at_end["status"], "active");
        let now: Value = acme
            .post(
                &app,
                &format!("{path}/cancel"),
                json!({ "at_period_end": false }),
            )
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(now["status"], "canceled", "{now}");
        let (status, error) =
            error_of(acme.post(&app, &format!("{path}/cancel"), json!({})).await).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error["code"], "contract_wrong_status");
    }
}

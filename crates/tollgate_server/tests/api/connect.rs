//! Stripe Connect (seed 003) end to end on the emulator: tenants created by the platform admin,
//! tenant admins onboarding through the emulator's hosted page, account events routed to their
//! tenant through the Connect endpoint, and each tenant kept to its own rows.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tollgate_core::TenantStore;
use tollgate_core::inbox::EventStatus;

use crate::support::{
    PASSWORD, TestApp, admin, browser, error_of, eventually, now_unix, statuses_at_once,
};

pub(crate) const TEST_CONNECT_SECRET: &str = "whsec_tests_know_the_connect_one";

/// SQLite, PostgreSQL, and PostgreSQL with row-level security on: every journey below holds
/// with the database's second wall up as well as without it.
async fn apps() -> Vec<TestApp> {
    let configure = |config: &mut tollgate_server::Config| {
        config.connect.webhook_secrets =
            vec![tollgate_core::Secret::new(TEST_CONNECT_SECRET.to_string())];
    };
    let mut apps = TestApp::all_with(configure).await;
    if let Some(server) = tollgate_store::testing::postgres_url() {
        let database = tollgate_store::testing::TestDatabase::postgres(&server).await;
        apps.push(
            TestApp::spawn(database, |config| {
                configure(config);
                config.database.row_level_security = true;
            })
            .await,
        );
    }
    apps
}

pub(crate) struct Caller {
    pub(crate) client: Client,
    pub(crate) csrf: String,
}

impl Caller {
    pub(crate) async fn post(&self, app: &TestApp, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(app.url(path))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .expect("post")
    }

    pub(crate) async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.client.get(app.url(path)).send().await.expect("get")
    }
}

pub(crate) async fn platform_admin(app: &TestApp) -> Caller {
    let (client, csrf) = admin(app, "platform@example.com").await;
    Caller { client, csrf }
}

async fn login(app: &TestApp, email: &str) -> Caller {
    let client = browser();
    let response = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK, "login of {email}");
    let body: Value = response.json().await.expect("json");
    Caller {
        client,
        csrf: body["csrf_token"].as_str().expect("csrf").to_string(),
    }
}

/// Creates a tenant with a 2.5% fee and a tenant admin for it; returns its id and the admin.
async fn tenant(app: &TestApp, platform: &Caller, name: &str, email: &str) -> (String, Caller) {
    let created = platform
        .post(
            app,
            "/api/v1/admin/tenants",
            json!({ "name": name, "email": email, "country": "US", "application_fee_bps": 250 }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.expect("json");
    assert_eq!(body["application_fee_bps"], 250);
    assert_eq!(body["connect"]["account_id"], Value::Null);
    let id = body["id"].as_str().expect("id").to_string();
    let admin_email = format!("admin-{email}");
    let added = platform
        .post(
            app,
            &format!("/api/v1/admin/tenants/{id}/admins"),
            json!({ "email": admin_email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let user: Value = added.json().await.expect("json");
    assert_eq!(user["role"], "tenant_admin");
    assert_eq!(user["tenant_id"], id.as_str());
    (id, login(app, &admin_email).await)
}

/// Opens an onboarding link and submits the hosted form with `action`; returns where the
/// emulator sent the browser (the link's return or refresh URL).
async fn onboard(url: &str, action: &str) -> String {
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client.get(url).send().await.expect("open the link");
    if page.status().is_redirection() {
        return location(&page);
    }
    assert_eq!(page.status(), StatusCode::OK, "the onboarding page");
    let submitted = client
        .post(url)
        .form(&[("action", action)])
        .send()
        .await
        .expect("submit");
    assert!(submitted.status().is_redirection());
    location(&submitted)
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("location")
        .to_string()
}

async fn account_link(app: &TestApp, caller: &Caller) -> String {
    let link = caller
        .post(app, "/api/v1/connect/account-link", json!({}))
        .await;
    assert_eq!(link.status(), StatusCode::OK);
    let body: Value = link.json().await.expect("json");
    body["url"].as_str().expect("url").to_string()
}

#[tokio::test]
async fn a_tenant_onboards_through_the_hosted_page_and_account_events_keep_its_status() {
    for app in apps().await {
        let platform = platform_admin(&app).await;
        let (id, acme) = tenant(&app, &platform, "Acme IT", "billing@acme.example").await;

        // Nothing to link to before the account exists.
        let (status, error) = error_of(
            acme.post(&app, "/api/v1/connect/account-link", json!({}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error["code"], "connect_account_missing");

        let first: Value = acme
            .post(&app, "/api/v1/connect/account", json!({}))
            .await
            .json()
            .await
            .expect("json");
        let account = first["account_id"]
            .as_str()
            .expect("an account")
            .to_string();
        assert!(account.starts_with("acct_"));
        assert_eq!(first["charges_enabled"], false);
        assert!(
            !first["requirements"]["currently_due"]
                .as_array()
                .expect("due")
                .is_empty(),
            "a new account still owes its details: {first}"
        );
        // Idempotent per tenant: the same account however often it is asked for.
        let again: Value = acme
            .post(&app, "/api/v1/connect/account", json!({}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(again["account_id"], account.as_str());

        // Submitting with the document pending: details submitted, charges not yet enabled.
        let url = account_link(&app, &acme).await;
        let back = onboard(&url, "pending").await;
        assert_eq!(back, app.url("/connect/onboarding/return"));
        let page = acme.get(&app, "/connect/onboarding/return").await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("page");
        assert!(html.contains("Stripe is still verifying"), "{html}");

        // A spent link goes to the refresh page, which mints a fresh one and redirects to it.
        assert_eq!(
            onboard(&url, "complete").await,
            app.url("/connect/onboarding/refresh")
        );
        // The refresh page needs the tenant admin's session, as the browser has it.
        let refreshed = acme
            .client
            .get(app.url("/connect/onboarding/refresh"))
            .send()
            .await
            .expect("refresh");
        // Followed to the emulator's onboarding page for a new link.
        assert_eq!(refreshed.status(), StatusCode::OK);
        assert!(refreshed.url().as_str().contains("/connect/onboarding/"));
        assert_ne!(refreshed.url().as_str(), url);

        // Stripe finishes the verification later: account.updated reaches the Connect endpoint
        // and the worker re-fetches the account; nobody asks tollgate for the status meanwhile.
        let emulator = app.running().emulator_url().expect("emulated").to_string();
        let verified = browser()
            .post(format!("{emulator}/_emulator/accounts/{account}/verify"))
            .send()
            .await
            .expect("verify");
        assert_eq!(verified.status(), StatusCode::OK);
        let scope_free_view = eventually(30, "charges enabled by the event", || async {
            let tenant: Value = platform
                .get(&app, &format!("/api/v1/admin/tenants/{id}"))
                .await
                .json()
                .await
                .ok()?;
            (tenant["connect"]["charges_enabled"] == true).then_some(tenant)
        })
        .await;
        assert_eq!(scope_free_view["connect"]["account_id"], account.as_str());
        assert_eq!(scope_free_view["connect"]["details_submitted"], true);

        let status: Value = acme
            .get(&app, "/api/v1/connect/status")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(status["charges_enabled"], true);
        assert_eq!(status["payouts_enabled"], true);
        assert_eq!(status["tenant_status"], "active");
        let page = acme.get(&app, "/api/stripe/onboarding-complete").await;
        assert!(
            page.text()
                .await
                .expect("page")
                .contains("Stripe has enabled payments")
        );

        // The tenant disconnects the platform: billing for it stops.
        let revoked = browser()
            .post(format!(
                "{emulator}/_emulator/accounts/{account}/deauthorize"
            ))
            .send()
            .await
            .expect("deauthorize");
        assert_eq!(revoked.status(), StatusCode::OK);
        eventually(30, "the tenant deauthorized", || async {
            let tenant: Value = platform
                .get(&app, &format!("/api/v1/admin/tenants/{id}"))
                .await
                .json()
                .await
                .ok()?;
            (tenant["status"] == "deauthorized").then_some(())
        })
        .await;
        let (status, error) = error_of(
            acme.post(&app, "/api/v1/connect/account-link", json!({}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error["code"], "tenant_deauthorized");
    }
}

#[tokio::test]
async fn the_seeds_routes_create_the_account_and_answer_with_an_onboarding_url() {
    for app in apps().await {
        let platform = platform_admin(&app).await;
        let (_, tenant_admin) = tenant(&app, &platform, "Beta MSP", "hello@beta.example").await;
        let created = tenant_admin
            .post(&app, "/api/stripe/connect/create", json!({}))
            .await;
        assert_eq!(created.status(), StatusCode::OK);
        let body: Value = created.json().await.expect("json");
        let account = body["account_id"].as_str().expect("account");
        assert!(body["url"].as_str().expect("url").contains(account));
        let status: Value = tenant_admin
            .get(&app, "/api/stripe/connect/status")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(status["account_id"], account);
        // The seed's refresh path mints a new link, as /connect/onboarding/refresh does.
        let refreshed = tenant_admin
            .get(&app, "/api/stripe/onboarding-refresh")
            .await;
        assert_eq!(refreshed.status(), StatusCode::OK);
        assert!(refreshed.url().as_str().contains(account));
    }
}

#[tokio::test]
async fn tenant_settings_are_checked_and_only_the_platform_admin_manages_tenants() {
    for app in apps().await {
        let platform = platform_admin(&app).await;
        for (body, field) in [
            (
                json!({ "name": "X", "email": "x@x.example", "country": "US", "application_fee_bps": 10_001 }),
                "application_fee_bps",
            ),
            (
                json!({ "name": "X", "email": "x@x.example", "country": "US", "application_fee_fixed": -1 }),
                "application_fee_fixed",
            ),
            (
                json!({ "name": "X", "email": "x@x.example", "country": "USA" }),
                "country",
            ),
            (
                json!({ "name": "", "email": "x@x.example", "country": "US" }),
                "name",
            ),
        ] {
            let (status, error) =
                error_of(platform.post(&app, "/api/v1/admin/tenants", body).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(error["field"], field);
        }
        let (a, tenant_a) = tenant(&app, &platform, "Tenant A", "a@a.example").await;
        let (b, tenant_b) = tenant(&app, &platform, "Tenant B", "b@b.example").await;

        // The platform admin changes fees; the change is audited.
        let updated = platform
            .client
            .patch(app.url(&format!("/api/v1/admin/tenants/{a}")))
            .header("x-csrf-token", &platform.csrf)
            .json(&json!({ "application_fee_bps": 300, "application_fee_fixed": 30 }))
            .send()
            .await
            .expect("patch");
        assert_eq!(updated.status(), StatusCode::OK);
        let updated: Value = updated.json().await.expect("json");
        assert_eq!(updated["application_fee_bps"], 300);
        assert_eq!(updated["application_fee_fixed"], 30);
        let listed: Value = platform
            .get(&app, "/api/v1/admin/tenants")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(listed["data"].as_array().expect("tenants").len(), 2);

        // Tenant admins see neither the tenants list nor any tenant, their own included: that
        // is the platform's view. Their own tenant is reached only through their scope.
        for caller in [&tenant_a, &tenant_b] {
            for path in [
                "/api/v1/admin/tenants".to_string(),
                format!("/api/v1/admin/tenants/{a}"),
                format!("/api/v1/admin/tenants/{b}"),
            ] {
                assert_eq!(
                    caller.get(&app, &path).await.status(),
                    StatusCode::FORBIDDEN
                );
            }
            let (status, _) = error_of(
                caller
                    .post(
                        &app,
                        &format!("/api/v1/admin/tenants/{a}/admins"),
                        json!({ "email": "sneaky@x.example", "password": PASSWORD }),
                    )
                    .await,
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        // A member, the platform admin (who has no tenant) and an anonymous caller have no
        // onboarding of their own.
        let (member, member_csrf) = app.signup("member@example.com").await;
        let member = Caller {
            client: member,
            csrf: member_csrf,
        };
        for (caller, expected) in [
            (&member, StatusCode::FORBIDDEN),
            (&platform, StatusCode::FORBIDDEN),
        ] {
            assert_eq!(
                caller.get(&app, "/api/v1/connect/status").await.status(),
                expected
            );
            assert_eq!(
                caller
                    .post(&app, "/api/v1/connect/account", json!({}))
                    .await
                    .status(),
                expected
            );
        }
        let anonymous = browser();
        assert_eq!(
            anonymous
                .get(app.url("/api/v1/connect/status"))
                .send()
                .await
                .expect("get")
                .status(),
            StatusCode::UNAUTHORIZED
        );

        // Each tenant admin creates and sees only its own tenant's account.
        let account_a: Value = tenant_a
            .post(&app, "/api/v1/connect/account", json!({}))
            .await
            .json()
            .await
            .expect("json");
        let account_b: Value = tenant_b
            .post(&app, "/api/v1/connect/account", json!({}))
            .await
            .json()
            .await
            .expect("json");
        assert_ne!(account_a["account_id"], account_b["account_id"]);
        let seen_by_b: Value = tenant_b
            .get(&app, "/api/v1/connect/status")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(seen_by_b["account_id"], account_b["account_id"]);
        // An unknown tenant id is a 404 for the platform admin, not an error.
        assert_eq!(
            platform
                .get(
                    &app,
                    "/api/v1/admin/tenants/00000000-0000-4000-8000-000000000000"
                )
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }
}

fn signed(body: &str, secret: &str) -> String {
    tollgate_server::notify::signature(secret, now_unix(), body)
}

#[tokio::test]
async fn an_event_of_an_unknown_account_is_stored_acknowledged_and_applied_to_no_one() {
    for app in apps().await {
        let platform = platform_admin(&app).await;
        let (a, tenant_a) = tenant(&app, &platform, "Tenant A", "a@a.example").await;
        let created: Value = tenant_a
            .post(&app, "/api/v1/connect/account", json!({}))
            .await
            .json()
            .await
            .expect("json");
        let account_a = created["account_id"].as_str().expect("account").to_string();
        let before = app
            .store
            .tenant_by_account(
                &tollgate_core::stripe::StripeAccountId::parse(&account_a).expect("id"),
            )
            .await
            .expect("read")
            .expect("tenant A");

        let event = json!({
            "id": "evt_unrouted_1",
            "object": "event",
            "type": "account.updated",
            "account": "acct_nobodys",
            "created": now_unix(),
            "livemode": false,
            "api_version": "2025-03-31.basil",
            "data": { "object": { "id": "acct_nobodys", "object": "account", "charges_enabled": true } }
        })
        .to_string();
        // The platform endpoint's secret does not sign Connect deliveries.
        let wrong = browser()
            .post(app.url("/api/v1/stripe/connect/webhook"))
            .header(
                "stripe-signature",
                crate::support::stripe_signature(&event, now_unix()),
            )
            .body(event.clone())
            .send()
            .await
            .expect("post");
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        let delivered = browser()
            .post(app.url("/api/v1/stripe/connect/webhook"))
            .header("stripe-signature", signed(&event, TEST_CONNECT_SECRET))
            .body(event.clone())
            .send()
            .await
            .expect("post");
        assert_eq!(delivered.status(), StatusCode::OK);

        let stored = eventually(30, "the event settled as unrouted", || async {
            let unrouted = app.store.unrouted_events(10).await.ok()?;
            unrouted
                .into_iter()
                .find(|e| e.id.as_str() == "evt_unrouted_1")
        })
        .await;
        assert_eq!(stored.status, EventStatus::Ignored);
        assert!(
            stored
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("unrouted")),
            "{stored:?}"
        );
        assert_eq!(stored.account.as_deref(), Some("acct_nobodys"));
        // Tenant A is untouched by it.
        let after = app
            .store
            .tenant_by_account(
                &tollgate_core::stripe::StripeAccountId::parse(&account_a).expect("id"),
            )
            .await
            .expect("read")
            .expect("tenant A");
        assert_eq!(after.connect, before.connect);
        assert_eq!(after.id.to_string(), a);
    }
}

/// A tenant whose connected account finished onboarding (charges enabled, as Stripe reports it).
pub(crate) async fn onboarded_tenant(
    app: &TestApp,
    platform: &Caller,
    name: &str,
    email: &str,
) -> Caller {
    let (_, admin) = tenant(app, platform, name, email).await;
    let created = admin.post(app, "/api/v1/connect/account", json!({})).await;
    assert_eq!(created.status(), StatusCode::OK);
    let url = account_link(app, &admin).await;
    assert_eq!(
        onboard(&url, "complete").await,
        app.url("/connect/onboarding/return")
    );
    let status: Value = admin
        .get(app, "/api/v1/connect/status")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status["charges_enabled"], true, "{status}");
    admin
}

/// Pays a hosted invoice page with a test card; returns the page's status.
pub(crate) async fn pay_invoice(pay_url: &str, card: &str) -> StatusCode {
    browser()
        .post(pay_url)
        .form(&[("card_number", card)])
        .send()
        .await
        .expect("pay the invoice")
        .status()
}

pub(crate) async fn invoice_of(app: &TestApp, caller: &Caller, id: &str) -> Value {
    caller
        .get(app, &format!("/api/v1/tenant/invoices/{id}"))
        .await
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn a_tenants_invoice_paid_on_the_hosted_page_nets_the_seeds_figures_to_the_cent() {
    for app in apps().await {
        let platform = platform_admin(&app).await;
        let acme = onboarded_tenant(&app, &platform, "Acme IT", "billing@acme.example").await;
        let beta = onboarded_tenant(&app, &platform, "Beta MSP", "hello@beta.example").await;

        let created = acme
            .post(
                &app,
                "/api/v1/tenant/customers",
                json!({ "email": "client@example.com", "name": "Client Co" }),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let customer: Value = created.json().await.expect("json");
        // One customer per email per tenant: asking again returns the same one.
        let again: Value = acme
            .post(
                &app,
                "/api/v1/tenant/customers",
                json!({ "email": "CLIENT@example.com" }),
            )
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(again["id"], customer["id"]);
        let customer_id = customer["id"].as_str().expect("id");

        // Bad lines are refused before anything is stored.
        let (status, error) = error_of(
            acme.post(
                &app,
                "/api/v1/tenant/invoices",
                json!({ "customer_id": customer_id, "currency": "usd", "lines": [] }),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["field"], "lines");
        // Another tenant's customer is no customer of Beta's.
        let (status, error) = error_of(
            beta.post(
                &app,
                "/api/v1/tenant/invoices",
                json!({ "customer_id": customer_id, "currency": "usd",
                        "lines": [{ "description": "x", "unit_amount": 100, "quantity": 1 }] }),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["field"], "customer_id");

        let draft = acme
            .post(
                &app,
                "/api/v1/tenant/invoices",
                json!({
                    "customer_id": customer_id,
                    "currency": "usd",
                    "lines": [
                        { "description": "Managed backup", "unit_amount": 4_000, "quantity": 2 },
                        { "description": "Onsite visit", "unit_amount": 2_000, "quantity": 1 }
                    ],
                    "days_until_due": 14
                }),
            )
            .await;
        assert_eq!(draft.status(), StatusCode::CREATED);
        let draft: Value = draft.json().await.expect("json");
        assert_eq!(draft["status"], "draft");
        assert_eq!(draft["total"], 10_000);
        let id = draft["id"].as_str().expect("id").to_string();

        // Tenant B sees nothing of A's invoice, and cannot act on it.
        for path in [format!("/api/v1/tenant/invoices/{id}")] {
            assert_eq!(beta.get(&app, &path).await.status(), StatusCode::NOT_FOUND);
        }
        for action in ["send", "void"] {
            let response = beta
                .post(
                    &app,
                    &format!("/api/v1/tenant/invoices/{id}/{action}"),
                    json!({}),
                )
                .await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
        }
        let listed: Value = beta
            .get(&app, "/api/v1/tenant/invoices")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(listed["data"], json!([]));

        let sent = acme
            .post(
                &app,
                &format!("/api/v1/tenant/invoices/{id}/send"),
                json!({}),
            )
            .await;
        assert_eq!(sent.status(), StatusCode::OK);
        let sent: Value = sent.json().await.expect("json");
        assert_eq!(sent["status"], "open");
        assert_eq!(sent["application_fee"], 250, "2.5% of $100.00");
        let pay_url = sent["pay_url"].as_str().expect("a pay link").to_string();
        // Sending twice is refused rather than making a second invoice.
        let (status, error) = error_of(
            acme.post(
                &app,
                &format!("/api/v1/tenant/invoices/{id}/send"),
                json!({}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error["code"], "invoice_wrong_status");

        // A declined card: the invoice stays open with the failure recorded.
        assert_eq!(
            pay_invoice(&pay_url, "4000000000000002").await,
            StatusCode::PAYMENT_REQUIRED
        );
        let failed = eventually(30, "the failure recorded", || async {
            let invoice = invoice_of(&app, &acme, &id).await;
            invoice["failure"].is_string().then_some(invoice)
        })
        .await;
        assert_eq!(failed["status"], "open");

        // Paid with 4242…: the fee split comes from the charge's balance transaction.
        assert_eq!(
            pay_invoice(&pay_url, "4242424242424242").await,
            StatusCode::OK
        );
        let paid = eventually(30, "the invoice paid", || async {
            let invoice = invoice_of(&app, &acme, &id).await;
            (invoice["status"] == "paid").then_some(invoice)
        })
        .await;
        assert_eq!(
            paid["amounts"],
            json!({ "gross": 10_000, "stripe_fee": 320, "application_fee": 250, "net": 9_430 })
        );
        // A partial refund keeping the platform's fee, then the rest giving it back in
        // proportion; never more than was paid.
        let refund = |body: Value| {
            let acme = &acme;
            let app = &app;
            async move { acme.post(app, "/api/v1/tenant/refunds", body).await }
        };
        let first =
            refund(json!({ "invoice_id": id, "amount": 4_000, "refund_application_fee": false }))
                .await;
        assert_eq!(first.status(), StatusCode::CREATED);
        let first: Value = first.json().await.expect("json");
        assert_eq!(first["status"], "succeeded");
        let (status, error) =
            error_of(refund(json!({ "invoice_id": id, "amount": 7_000 })).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["code"], "refund_exceeds_remaining");
        let rest = refund(json!({ "invoice_id": id })).await;
        assert_eq!(rest.status(), StatusCode::CREATED);
        let rest: Value = rest.json().await.expect("json");
        assert_eq!(rest["amount"], 6_000);
        let (status, _) = error_of(refund(json!({ "invoice_id": id, "amount": 1 })).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "nothing left");
        let detail = invoice_of(&app, &acme, &id).await;
        assert_eq!(detail["refunds"].as_array().expect("refunds").len(), 2);
        // At Stripe: the fee gave back 6,000/10,000 of its 250, and nothing for the first refund.
        let emulator = app.running().emulator_url().expect("emulated").to_string();
        let fees: Value = browser()
            .get(format!("{emulator}/v1/application_fees"))
            .bearer_auth("sk_test_tollgate_emulator")
            .send()
            .await
            .expect("fees")
            .json()
            .await
            .expect("json");
        let fee = fees["data"]
            .as_array()
            .expect("fees")
            .iter()
            .find(|f| f["amount"] == 250)
            .expect("the invoice's fee");
        assert_eq!(fee["amount_refunded"], 150, "{fee}");

        // Paid is final: voiding it is refused.
        let (status, _) = error_of(
            acme.post(
                &app,
                &format!("/api/v1/tenant/invoices/{id}/void"),
                json!({}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
    }
}

#[tokio::test]
async fn a_tenant_that_cannot_take_charges_is_told_what_is_missing() {
    for app in apps().await {
        let platform = platform_admin(&app).await;
        let (_, admin) = tenant(&app, &platform, "Gamma", "g@gamma.example").await;
        let (status, error) = error_of(
            admin
                .post(
                    &app,
                    "/api/v1/tenant/customers",
                    json!({ "email": "c@x.example" }),
                )
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error["code"], "connect_account_missing");
        admin.post(&app, "/api/v1/connect/account", json!({})).await;
        let (status, error) = error_of(
            admin
                .post(
                    &app,
                    "/api/v1/tenant/customers",
                    json!({ "email": "c@x.example" }),
                )
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error["code"], "connect_account_not_ready");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("still needs")),
            "{error}"
        );
    }
}

#[tokio::test]
async fn concurrent_refunds_never_return_more_than_was_paid() {
    for app in apps().await {
        let platform = platform_admin(&app).await;
        let acme = onboarded_tenant(&app, &platform, "Acme IT", "billing@acme.example").await;
        let customer: Value = acme
            .post(
                &app,
                "/api/v1/tenant/customers",
                json!({ "email": "c@example.com" }),
            )
            .await
            .json()
            .await
            .expect("json");
        let draft: Value = acme
            .post(
                &app,
                "/api/v1/tenant/invoices",
                json!({ "customer_id": customer["id"], "currency": "usd",
                        "lines": [{ "description": "Support", "unit_amount": 10_000, "quantity": 1 }] }),
            )
            .await
            .json()
            .await
            .expect("json");
        let id = draft["id"].as_str().expect("id").to_string();
        let sent: Value = acme
            .post(
                &app,
                &format!("/api/v1/tenant/invoices/{id}/send"),
                json!({}),
            )
            .await
            .json()
            .await
            .expect("json");
        let pay_url = sent["pay_url"].as_str().expect("pay url");
        assert_eq!(
            pay_invoice(pay_url, "4242424242424242").await,
            StatusCode::OK
        );
        eventually(30, "the invoice paid", || async {
            (invoice_of(&app, &acme, &id).await["status"] == "paid").then_some(())
        })
        .await;
        // Ten refunds of $20.00 at once against $100.00: five fit.
        let attempts = (0..10).map(|_| {
            acme.post(
                &app,
                "/api/v1/tenant/refunds",
                json!({ "invoice_id": id, "amount": 2_000 }),
            )
        });
        let answers = statuses_at_once(attempts).await;
        let created = answers
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        assert_eq!(created, 5, "{answers:?}");
        assert!(
            answers
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::BAD_REQUEST)
        );
        let detail = invoice_of(&app, &acme, &id).await;
        let refunded: i64 = detail["refunds"]
            .as_array()
            .expect("refunds")
            .iter()
            .map(|r| r["amount"].as_i64().expect("amount"))
            .sum();
        assert_eq!(refunded, 10_000);
    }
}

#[tokio::test]
async fn an_event_of_the_other_mode_is_stored_acknowledged_and_never_applied() {
    for app in apps().await {
        let event = json!({
            "id": "evt_live_on_test",
            "object": "event",
            "type": "account.updated",
            "account": "acct_live_one",
            "created": now_unix(),
            "livemode": true,
            "data": { "object": { "id": "acct_live_one", "object": "account" } }
        })
        .to_string();
        let delivered = browser()
            .post(app.url("/api/v1/stripe/connect/webhook"))
            .header("stripe-signature", signed(&event, TEST_CONNECT_SECRET))
            .body(event.clone())
            .send()
            .await
            .expect("post");
        assert_eq!(delivered.status(), StatusCode::OK);
        let id = tollgate_core::stripe::StripeEventId::parse("evt_live_on_test").expect("id");
        let stored = eventually(30, "the event settled", || async {
            let event = tollgate_core::InboxStore::event(&app.store, &id)
                .await
                .ok()??;
            (event.status != EventStatus::Received).then_some(event)
        })
        .await;
        assert_eq!(stored.status, EventStatus::Ignored);
        assert!(
            stored
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("livemode")),
            "{stored:?}"
        );
        // Not even listed as unrouted: it was never routed.
        let unrouted = app.store.unrouted_events(10).await.expect("unrouted");
        assert!(unrouted.iter().all(|e| e.id != id));
    }
}

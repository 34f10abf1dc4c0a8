//! Tenant isolation as a whole: every tenant-scoped route × every kind of caller, with the
//! answer each must get. The routes are read from the route tables themselves
//! (`routes/mod.rs`, `pages/mod.rs`), so a tenant-scoped route added without a row here fails.

use std::collections::BTreeSet;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, admin, eventually};

const ROUTE_TABLES: [&str; 2] = [
    include_str!("../../src/routes/mod.rs"),
    include_str!("../../src/pages/mod.rs"),
];

/// A route is tenant-scoped when it manages tenants or acts for one.
fn tenant_scoped(path: &str) -> bool {
    (path.contains("/tenant") || path.contains("connect") || path.contains("onboarding"))
        && !path.contains("webhook")
}

/// The tenant-scoped routes.
fn declared_routes() -> BTreeSet<(String, String)> {
    every_declared_route()
        .into_iter()
        .filter(|(_, path)| tenant_scoped(path))
        .collect()
}

/// `(METHOD, path)` of every `.route("path", get(…).post(…))` in the route tables.
pub(crate) fn every_declared_route() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for table in ROUTE_TABLES {
        let mut rest = table;
        while let Some(start) = rest.find(".route(") {
            rest = &rest[start + ".route(".len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("a closed .route(");
            let call = &rest[..end];
            let path = call.split('"').nth(1).expect("a path literal").to_string();
            for method in ["get", "post", "put", "patch", "delete"] {
                let token = format!("{method}(");
                let mut from = 0;
                while let Some(at) = call[from..].find(&token) {
                    let at = from + at;
                    let before = call[..at].chars().last();
                    // `get(` as the method router, not the end of a handler name (`tenants::get(`).
                    if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                        routes.insert((method.to_uppercase(), path.clone()));
                    }
                    from = at + token.len();
                }
            }
            rest = &rest[end..];
        }
    }
    routes
}

/// (method, route as declared, the path tried, a maker of its body, answers in `CALLERS` order)
type Row<'a> = (
    &'static str,
    &'static str,
    String,
    Option<Box<dyn FnMut() -> Value + 'a>>,
    [Expect; 7],
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Status(u16),
    /// A page's 303 to the sign-in page.
    SignIn,
}
use Expect::{SignIn, Status};

/// The callers, in the order each row is tried (some rows change state: a sent invoice cannot
/// be sent again).
const CALLERS: [&str; 7] = [
    "anonymous",
    "member",
    "tenant B admin",
    "platform admin",
    "member's API key",
    "tenant A admin",
    "tenant A admin's API key",
];

pub(crate) struct Caller {
    pub(crate) client: Client,
    pub(crate) csrf: Option<String>,
    pub(crate) bearer: Option<String>,
}

pub(crate) async fn login(app: &TestApp, email: &str) -> Caller {
    let client = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
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
        csrf: body["csrf_token"].as_str().map(String::from),
        bearer: None,
    }
}

impl Caller {
    pub(crate) fn anonymous() -> Self {
        Caller {
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            csrf: None,
            bearer: None,
        }
    }

    /// A key of this caller's with `scopes` (the defaults when `None`).
    pub(crate) async fn api_key_of(&self, app: &TestApp, scopes: Option<Value>) -> Caller {
        let mut body = json!({ "name": "matrix" });
        if let Some(scopes) = scopes {
            body["scopes"] = scopes;
        }
        let created: Value = self
            .client
            .post(app.url("/api/v1/api-keys"))
            .header("x-csrf-token", self.csrf.as_deref().expect("a session"))
            .json(&body)
            .send()
            .await
            .expect("create a key")
            .json()
            .await
            .expect("json");
        Caller {
            bearer: Some(created["key_secret"].as_str().expect("secret").to_string()),
            ..Caller::anonymous()
        }
    }

    pub(crate) async fn send(
        &self,
        app: &TestApp,
        method: &Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method.clone(), app.url(path));
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    pub(crate) async fn post(&self, app: &TestApp, path: &str, body: Value) -> Value {
        self.send(app, &Method::POST, path, Some(body))
            .await
            .json()
            .await
            .expect("json")
    }
}

/// A tenant with a 2.5% fee, a tenant admin, and a connected account that finished onboarding.
pub(crate) async fn onboarded(app: &TestApp, platform: &Caller, name: &str) -> (String, Caller) {
    let tenant = platform
        .post(
            app,
            "/api/v1/admin/tenants",
            json!({ "name": name, "email": format!("{name}@tenant.example"), "country": "US", "application_fee_bps": 250 }),
        )
        .await;
    let id = tenant["id"].as_str().expect("tenant id").to_string();
    let email = format!("admin-{name}@tenant.example");
    platform
        .post(
            app,
            &format!("/api/v1/admin/tenants/{id}/admins"),
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    let admin = login(app, &email).await;
    admin.post(app, "/api/v1/connect/account", json!({})).await;
    let link = admin
        .post(app, "/api/v1/connect/account-link", json!({}))
        .await;
    let url = link["url"].as_str().expect("link").to_string();
    let hosted = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    hosted.get(&url).send().await.expect("open");
    hosted
        .post(&url)
        .form(&[("action", "complete")])
        .send()
        .await
        .expect("complete");
    eventually(30, "charges enabled", || async {
        let status: Value = admin
            .send(app, &Method::GET, "/api/v1/connect/status", None)
            .await
            .json()
            .await
            .ok()?;
        (status["charges_enabled"] == true).then_some(())
    })
    .await;
    (id, admin)
}

#[tokio::test]
async fn every_tenant_scoped_route_answers_each_caller_as_its_scope_allows() {
    for app in TestApp::all().await {
        let (platform_client, platform_csrf) = admin(&app, "platform@example.com").await;
        let platform = Caller {
            client: platform_client,
            csrf: Some(platform_csrf),
            bearer: None,
        };
        let (tenant_a, admin_a) = onboarded(&app, &platform, "alpha").await;
        let (_, admin_b) = onboarded(&app, &platform, "beta").await;
        let (_, _) = app.signup("member@example.com").await;
        let member = login(&app, "member@example.com").await;
        let key_a = admin_a.api_key_of(&app, Some(json!(["tenant"]))).await;
        let key_member = member.api_key_of(&app, None).await;
        let customer = admin_a
            .post(
                &app,
                "/api/v1/tenant/customers",
                json!({ "email": "client@a.example" }),
            )
            .await;
        let customer = customer["id"].as_str().expect("customer").to_string();
        let invoice_customer = customer.clone();
        let invoice_body = move || {
            json!({ "customer_id": invoice_customer, "currency": "usd",
                    "lines": [{ "description": "Support", "unit_amount": 10_000, "quantity": 1 }] })
        };
        let mut drafts = Vec::new();
        for _ in 0..3 {
            let invoice = admin_a
                .post(&app, "/api/v1/tenant/invoices", invoice_body())
                .await;
            drafts.push(invoice["id"].as_str().expect("invoice").to_string());
        }
        let [to_read, to_send, to_void] = <[String; 3]>::try_from(drafts).expect("three drafts");
        let contract_customer = customer.clone();
        let contract_body = move || {
            json!({ "customer_id": contract_customer, "description": "Managed seats",
                    "unit_amount": 5_000, "interval": "month", "quantity": 2 })
        };
        let contract = admin_a
            .post(&app, "/api/v1/tenant/contracts", contract_body())
            .await;
        let contract = contract["id"].as_str().expect("contract").to_string();
        let to_send_id = to_send.clone();

        let callers = [
            Caller::anonymous(),
            member,
            admin_b,
            platform,
            key_member,
            admin_a,
            key_a,
        ];
        let mut counter = 0;
        let mut unique_email = || {
            counter += 1;
            format!("new-admin-{counter}@tenant.example")
        };

        let platform_only = |ok: u16| {
            [
                Status(401),
                Status(403),
                Status(403),
                Status(ok),
                Status(403),
                Status(403),
                Status(403),
            ]
        };
        let tenant_admins = |ok: u16| {
            [
                Status(401),
                Status(403),
                Status(ok),
                Status(403),
                Status(403),
                Status(ok),
                Status(ok),
            ]
        };
        let a_only = |ok: u16, again: u16| {
            [
                Status(401),
                Status(403),
                Status(404),
                Status(403),
                Status(403),
                Status(ok),
                Status(again),
            ]
        };
        // Pages use the session cookie only: bearer callers are anonymous there.
        let page = |ok: u16| {
            [
                SignIn,
                Status(403),
                Status(ok),
                Status(403),
                SignIn,
                Status(ok),
                SignIn,
            ]
        };
        let rows: Vec<Row<'_>> = vec![
            (
                "GET",
                "/api/v1/admin/tenants",
                "/api/v1/admin/tenants".into(),
                None,
                platform_only(200),
            ),
            (
                "POST",
                "/api/v1/admin/tenants",
                "/api/v1/admin/tenants".into(),
                Some(Box::new(
                    || json!({ "name": "Gamma", "email": "g@g.example", "country": "US" }),
                )),
                platform_only(201),
            ),
            (
                "GET",
                "/api/v1/admin/tenants/{id}",
                format!("/api/v1/admin/tenants/{tenant_a}"),
                None,
                platform_only(200),
            ),
            (
                "PATCH",
                "/api/v1/admin/tenants/{id}",
                format!("/api/v1/admin/tenants/{tenant_a}"),
                Some(Box::new(
                    || json!({ "application_fee_bps": 250, "application_fee_fixed": 0 }),
                )),
                platform_only(200),
            ),
            (
                "POST",
                "/api/v1/admin/tenants/{id}/admins",
                format!("/api/v1/admin/tenants/{tenant_a}/admins"),
                Some(Box::new(
                    move || json!({ "email": unique_email(), "password": PASSWORD }),
                )),
                platform_only(201),
            ),
            (
                "POST",
                "/api/v1/connect/account",
                "/api/v1/connect/account".into(),
                Some(Box::new(|| json!({}))),
                tenant_admins(200),
            ),
            (
                "POST",
                "/api/v1/connect/account-link",
                "/api/v1/connect/account-link".into(),
                Some(Box::new(|| json!({}))),
                tenant_admins(200),
            ),
            (
                "GET",
                "/api/v1/connect/status",
                "/api/v1/connect/status".into(),
                None,
                tenant_admins(200),
            ),
            (
                "POST",
                "/api/stripe/connect/create",
                "/api/stripe/connect/create".into(),
                Some(Box::new(|| json!({}))),
                tenant_admins(200),
            ),
            (
                "GET",
                "/api/stripe/connect/status",
                "/api/stripe/connect/status".into(),
                None,
                tenant_admins(200),
            ),
            (
                "GET",
                "/api/v1/tenant/customers",
                "/api/v1/tenant/customers".into(),
                None,
                tenant_admins(200),
            ),
            (
                "POST",
                "/api/v1/tenant/customers",
                "/api/v1/tenant/customers".into(),
                Some(Box::new(|| json!({ "email": "buyer@x.example" }))),
                tenant_admins(201),
            ),
            (
                "GET",
                "/api/v1/tenant/invoices",
                "/api/v1/tenant/invoices".into(),
                None,
                tenant_admins(200),
            ),
            // A's customer is no customer of B's: B's draft names nobody it knows.
            (
                "POST",
                "/api/v1/tenant/invoices",
                "/api/v1/tenant/invoices".into(),
                Some(Box::new(invoice_body)),
                [
                    Status(401),
                    Status(403),
                    Status(400),
                    Status(403),
                    Status(403),
                    Status(201),
                    Status(201),
                ],
            ),
            (
                "GET",
                "/api/v1/tenant/invoices/{id}",
                format!("/api/v1/tenant/invoices/{to_read}"),
                None,
                a_only(200, 200),
            ),
            (
                "POST",
                "/api/v1/tenant/invoices/{id}/send",
                format!("/api/v1/tenant/invoices/{to_send}/send"),
                Some(Box::new(|| json!({}))),
                a_only(200, 409),
            ),
            (
                "POST",
                "/api/v1/tenant/invoices/{id}/void",
                format!("/api/v1/tenant/invoices/{to_void}/void"),
                Some(Box::new(|| json!({}))),
                a_only(200, 409),
            ),
            // The sent invoice is not paid: nothing to refund, for A; for B, no such invoice.
            (
                "POST",
                "/api/v1/tenant/refunds",
                "/api/v1/tenant/refunds".into(),
                Some(Box::new(move || json!({ "invoice_id": to_send_id }))),
                a_only(409, 409),
            ),
            (
                "GET",
                "/api/v1/tenant/contracts",
                "/api/v1/tenant/contracts".into(),
                None,
                tenant_admins(200),
            ),
            // As for invoices: A's customer is nobody B knows.
            (
                "POST",
                "/api/v1/tenant/contracts",
                "/api/v1/tenant/contracts".into(),
                Some(Box::new(contract_body)),
                [
                    Status(401),
                    Status(403),
                    Status(400),
                    Status(403),
                    Status(403),
                    Status(201),
                    Status(201),
                ],
            ),
            (
                "GET",
                "/api/v1/tenant/contracts/{id}",
                format!("/api/v1/tenant/contracts/{contract}"),
                None,
                a_only(200, 200),
            ),
            (
                "PATCH",
                "/api/v1/tenant/contracts/{id}",
                format!("/api/v1/tenant/contracts/{contract}"),
                Some(Box::new(|| json!({ "quantity": 3 }))),
                a_only(200, 200),
            ),
            // Canceled now by A; a canceled contract cannot be canceled again.
            (
                "POST",
                "/api/v1/tenant/contracts/{id}/cancel",
                format!("/api/v1/tenant/contracts/{contract}/cancel"),
                Some(Box::new(|| json!({ "at_period_end": false }))),
                a_only(200, 409),
            ),
            (
                "GET",
                "/connect/onboarding/return",
                "/connect/onboarding/return".into(),
                None,
                page(200),
            ),
            (
                "GET",
                "/connect/onboarding/refresh",
                "/connect/onboarding/refresh".into(),
                None,
                page(303),
            ),
            (
                "GET",
                "/api/stripe/onboarding-complete",
                "/api/stripe/onboarding-complete".into(),
                None,
                page(200),
            ),
            (
                "GET",
                "/api/stripe/onboarding-refresh",
                "/api/stripe/onboarding-refresh".into(),
                None,
                page(303),
            ),
        ];

        let covered: BTreeSet<(String, String)> = rows
            .iter()
            .map(|(method, route, ..)| (method.to_string(), route.to_string()))
            .collect();
        assert_eq!(
            declared_routes(),
            covered,
            "every tenant-scoped route needs a row in this matrix, and every row a route"
        );

        let mut failures = Vec::new();
        let mut calls = 0;
        for (method, route, path, mut body, expected) in rows {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            for (index, caller) in callers.iter().enumerate() {
                let response = caller
                    .send(&app, &method, &path, body.as_mut().map(|make| make()))
                    .await;
                calls += 1;
                let status = response.status().as_u16();
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let got = if status == 303 && location.starts_with("/login") {
                    SignIn
                } else {
                    Status(status)
                };
                if got != expected[index] {
                    failures.push(format!(
                        "{method} {route} as {}: expected {:?}, got {got:?}",
                        CALLERS[index], expected[index]
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{calls} calls, {} wrong:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

//! Authorization as a whole: every route of the router × every kind of caller (anonymous, two
//! members, two tenant admins, the platform admin, and an API key of each, plus a host app's
//! narrow service key), with the answer each must get. The routes are read from the route
//! tables (`tenant_matrix::every_declared_route`), so a route added without a row here fails.
//!
//! A row names the route's access class; the class says, per caller, whether it must be let
//! through (any answer but 401, 403, a redirect to sign-in or a 5xx), refused with 401 or 403,
//! told the object does not exist (404: another member's payment), or sent to sign in. The
//! members' own objects are real (A's payment, checkout sessions, key), and the callers that
//! must not reach them go first, so a leak cannot hide behind A having consumed them.
//! Tenant-to-tenant isolation, object by object, is `tenant_matrix`'s.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use tollgate_core::api_key::Scope;

use crate::support::{TestApp, admin};
use crate::tenant_matrix::{Caller, every_declared_route, login, onboarded};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Anyone, signed in or not (webhooks answer 400 to an unsigned body: that is not a refusal).
    Open,
    /// Anyone signed in; a key needs the scope.
    Signed(Scope),
    /// A signed-in person, not a key: managing keys and sessions.
    SessionOnly,
    /// Like `SessionOnly`, but it ends the session: each session caller signs in afresh first.
    EndsSession,
    /// Member A's own object (by its id in the path), which the platform admin may see too:
    /// everyone else gets 404; a key needs the scope.
    OwnedByA(Scope),
    /// Member A's own record by A's user id, or the platform admin: everyone else gets 403.
    SelfOrAdmin(Scope),
    /// Member A's own key, which only a signed-in person may revoke.
    OwnedByASessionOnly,
    /// The platform admin; an admin's key needs the scope.
    Admin(Scope),
    /// A tenant admin; their key needs the `tenant` scope.
    Tenant,
    /// A page for anyone signed in (cookie only: a bearer caller is anonymous there).
    Page,
    AdminPage,
    TenantPage,
    /// A page's form post: without the page's signed form token nobody gets anything done.
    FormPost,
}
use Class::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    MemberA,
    MemberB,
    TenantX,
    TenantY,
    PlatformAdmin,
}

struct MatrixCaller {
    name: &'static str,
    who: Who,
    /// `None` for a session (or anonymous), the key's scopes otherwise.
    scopes: Option<Vec<Scope>>,
    email: Option<String>,
    caller: Caller,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Through,
    Status(u16),
    SignIn,
    /// Not a 2xx (a form post without its token), and never a 5xx.
    NoSuccess,
}

fn expected(class: Class, caller: &MatrixCaller) -> Expect {
    use Expect::*;
    let key = caller.scopes.as_ref();
    let has = |scope: Scope| key.is_none_or(|scopes| scopes.contains(&scope));
    let anonymous = caller.who == Who::Anonymous;
    let is_tenant = matches!(caller.who, Who::TenantX | Who::TenantY);
    let is_admin = caller.who == Who::PlatformAdmin;
    match class {
        Open => Through,
        FormPost => NoSuccess,
        Page | AdminPage | TenantPage if anonymous || key.is_some() => SignIn,
        Page => Through,
        AdminPage if is_admin => Through,
        TenantPage if is_tenant => Through,
        AdminPage | TenantPage => Status(403),
        _ if anonymous => Status(401),
        Signed(scope) if has(scope) => Through,
        Signed(_) => Status(403),
        SessionOnly | EndsSession if key.is_none() => Through,
        SessionOnly | EndsSession => Status(403),
        OwnedByA(scope) if !has(scope) => Status(403),
        OwnedByA(_) if caller.who == Who::MemberA || is_admin => Through,
        OwnedByA(_) => Status(404),
        SelfOrAdmin(scope) if has(scope) && (caller.who == Who::MemberA || is_admin) => Through,
        SelfOrAdmin(_) => Status(403),
        OwnedByASessionOnly if key.is_some() => Status(403),
        OwnedByASessionOnly if caller.who == Who::MemberA => Through,
        OwnedByASessionOnly => Status(404),
        Admin(scope) if is_admin && has(scope) => Through,
        Admin(_) => Status(403),
        Tenant if is_tenant && has(Scope::Tenant) => Through,
        Tenant => Status(403),
    }
}

/// Every route with its class. Pages are the second table; the order is the route tables'.
const ROWS: &[(&str, &str, Class)] = &[
    ("GET", "/healthz", Open),
    ("GET", "/readyz", Open),
    ("GET", "/metrics", Open),
    ("POST", "/api/v1/auth/signup", Open),
    ("POST", "/api/v1/auth/login", Open),
    ("POST", "/api/v1/auth/logout", EndsSession),
    ("POST", "/api/v1/auth/logout-everywhere", EndsSession),
    ("GET", "/api/v1/sessions", SessionOnly),
    ("GET", "/api/v1/me", Signed(Scope::Billing)),
    ("GET", "/api/v1/api-keys", SessionOnly),
    ("POST", "/api/v1/api-keys", SessionOnly),
    ("DELETE", "/api/v1/api-keys/{id}", OwnedByASessionOnly),
    ("GET", "/api/v1/admin/users", Admin(Scope::Admin)),
    ("GET", "/api/v1/admin/audit", Admin(Scope::Admin)),
    ("GET", "/api/v1/admin/mentors", Admin(Scope::Admin)),
    ("POST", "/api/v1/admin/mentors", Admin(Scope::Admin)),
    (
        "POST",
        "/api/v1/admin/users/{id}/mentor",
        Admin(Scope::Admin),
    ),
    ("GET", "/api/v1/admin/tenants", Admin(Scope::Admin)),
    ("POST", "/api/v1/admin/tenants", Admin(Scope::Admin)),
    ("GET", "/api/v1/admin/tenants/{id}", Admin(Scope::Admin)),
    ("PATCH", "/api/v1/admin/tenants/{id}", Admin(Scope::Admin)),
    (
        "POST",
        "/api/v1/admin/tenants/{id}/admins",
        Admin(Scope::Admin),
    ),
    ("POST", "/api/v1/connect/account", Tenant),
    ("POST", "/api/v1/connect/account-link", Tenant),
    ("GET", "/api/v1/connect/status", Tenant),
    ("GET", "/api/v1/tenant/customers", Tenant),
    ("POST", "/api/v1/tenant/customers", Tenant),
    ("GET", "/api/v1/tenant/invoices", Tenant),
    ("POST", "/api/v1/tenant/invoices", Tenant),
    ("GET", "/api/v1/tenant/invoices/{id}", Tenant),
    ("POST", "/api/v1/tenant/invoices/{id}/send", Tenant),
    ("POST", "/api/v1/tenant/invoices/{id}/void", Tenant),
    ("POST", "/api/v1/tenant/refunds", Tenant),
    ("GET", "/api/v1/tenant/contracts", Tenant),
    ("POST", "/api/v1/tenant/contracts", Tenant),
    ("GET", "/api/v1/tenant/contracts/{id}", Tenant),
    ("PATCH", "/api/v1/tenant/contracts/{id}", Tenant),
    ("POST", "/api/v1/tenant/contracts/{id}/cancel", Tenant),
    ("POST", "/api/stripe/connect/create", Tenant),
    ("GET", "/api/stripe/connect/status", Tenant),
    ("GET", "/api/v1/admin/events", Admin(Scope::Admin)),
    (
        "POST",
        "/api/v1/admin/events/replay-failed",
        Admin(Scope::Admin),
    ),
    ("GET", "/api/v1/admin/events/{id}", Admin(Scope::Admin)),
    (
        "POST",
        "/api/v1/admin/events/{id}/replay",
        Admin(Scope::Admin),
    ),
    (
        "POST",
        "/api/v1/admin/test-clock/advance",
        Admin(Scope::Admin),
    ),
    ("GET", "/api/v1/plans", Open),
    (
        "POST",
        "/api/v1/checkout/subscription",
        Signed(Scope::Billing),
    ),
    (
        "GET",
        "/api/v1/checkout/sessions/{id}",
        OwnedByA(Scope::Billing),
    ),
    (
        "GET",
        "/api/v1/subscription",
        Signed(Scope::EntitlementsRead),
    ),
    (
        "POST",
        "/api/v1/subscription/cancel",
        Signed(Scope::Billing),
    ),
    (
        "POST",
        "/api/v1/subscription/resume",
        Signed(Scope::Billing),
    ),
    ("POST", "/api/v1/billing-portal", Signed(Scope::Billing)),
    ("GET", "/api/v1/invoices", Signed(Scope::Billing)),
    (
        "GET",
        "/api/v1/entitlements",
        Signed(Scope::EntitlementsRead),
    ),
    (
        "GET",
        "/api/v1/users/{id}/subscription",
        SelfOrAdmin(Scope::EntitlementsRead),
    ),
    (
        "GET",
        "/api/v1/users/{id}/entitlements",
        Admin(Scope::EntitlementsRead),
    ),
    ("GET", "/api/v1/credit-packages", Open),
    ("POST", "/api/v1/checkout/credits", Signed(Scope::Billing)),
    ("POST", "/api/v1/payment-intents", Signed(Scope::Billing)),
    (
        "GET",
        "/api/v1/payment-intents/{id}",
        OwnedByA(Scope::Billing),
    ),
    ("GET", "/api/v1/payments", Signed(Scope::Billing)),
    ("GET", "/api/v1/payments/{id}", OwnedByA(Scope::Billing)),
    ("GET", "/api/v1/balance", Signed(Scope::Billing)),
    ("GET", "/api/v1/ledger", Signed(Scope::Billing)),
    ("GET", "/api/v1/usage", Signed(Scope::EntitlementsRead)),
    ("POST", "/api/v1/usage/consume", Signed(Scope::UsageWrite)),
    ("POST", "/api/v1/coupons/redeem", Signed(Scope::Billing)),
    ("GET", "/api/v1/referral", Signed(Scope::Billing)),
    ("POST", "/api/v1/admin/refunds", Admin(Scope::Admin)),
    ("GET", "/api/v1/admin/coupons", Admin(Scope::Admin)),
    ("POST", "/api/v1/admin/coupons", Admin(Scope::Admin)),
    (
        "GET",
        "/api/v1/admin/balances/negative",
        Admin(Scope::Admin),
    ),
    ("GET", "/api/stripe/credit-packages", Open),
    (
        "POST",
        "/api/stripe/checkout-session",
        Signed(Scope::Billing),
    ),
    (
        "GET",
        "/api/stripe/checkout-session/{id}",
        OwnedByA(Scope::Billing),
    ),
    ("POST", "/api/stripe/payment-intent", Signed(Scope::Billing)),
    (
        "GET",
        "/api/stripe/payment-intent/{id}",
        OwnedByA(Scope::Billing),
    ),
    ("GET", "/api/stripe/payments", Signed(Scope::Billing)),
    ("GET", "/api/stripe/payments/{id}", OwnedByA(Scope::Billing)),
    ("POST", "/api/stripe/refund", Admin(Scope::Admin)),
    ("GET", "/user/balance", Signed(Scope::Billing)),
    ("POST", "/api/v1/stripe/webhook", Open),
    ("POST", "/api/v1/stripe/connect/webhook", Open),
    ("POST", "/api/stripe/webhook", Open),
    ("POST", "/api/webhooks/stripe", Open),
    ("POST", "/webhook/stripe/{token}", Open),
    (
        "POST",
        "/api/stripe/create-checkout-session",
        Signed(Scope::Billing),
    ),
    (
        "POST",
        "/api/create-checkout-session",
        Signed(Scope::Billing),
    ),
    (
        "POST",
        "/api/retrieve-checkout-session",
        Signed(Scope::Billing),
    ),
    ("POST", "/api/cancel-subscription", Signed(Scope::Billing)),
    ("POST", "/api/create-portal-session", Signed(Scope::Billing)),
    (
        "GET",
        "/api/subscription/{user_id}",
        SelfOrAdmin(Scope::EntitlementsRead),
    ),
    ("POST", "/api/v1/setup", Open),
    ("GET", "/setup", Open),
    ("POST", "/setup", Open),
    ("GET", "/assets/app.css", Open),
    ("GET", "/assets/app.js", Open),
    ("GET", "/", Page),
    ("GET", "/connect/onboarding/return", TenantPage),
    ("GET", "/connect/onboarding/refresh", TenantPage),
    ("GET", "/api/stripe/onboarding-complete", TenantPage),
    ("GET", "/api/stripe/onboarding-refresh", TenantPage),
    ("GET", "/dashboard", Page),
    ("GET", "/signup", Open),
    ("POST", "/signup", FormPost),
    ("GET", "/login", Open),
    ("POST", "/login", FormPost),
    ("POST", "/logout", FormPost),
    ("POST", "/billing/subscribe", FormPost),
    ("POST", "/billing/credits", FormPost),
    ("GET", "/billing/return", Page),
    ("POST", "/billing/portal", FormPost),
    ("POST", "/billing/cancel", FormPost),
    ("POST", "/billing/resume", FormPost),
    ("GET", "/account/keys", Page),
    ("POST", "/account/keys", FormPost),
    ("POST", "/account/keys/{id}/revoke", FormPost),
    ("POST", "/account/sessions/end-all", FormPost),
    ("GET", "/admin", AdminPage),
    ("GET", "/admin/members", AdminPage),
    ("GET", "/admin/members/{id}", AdminPage),
    ("POST", "/admin/members/{id}/mentor", FormPost),
    ("GET", "/admin/mentors", AdminPage),
    ("POST", "/admin/mentors", FormPost),
    ("GET", "/admin/payments/{id}/refund", AdminPage),
    ("POST", "/admin/payments/{id}/refund", FormPost),
    ("GET", "/admin/events", AdminPage),
    ("POST", "/admin/events/replay-failed", FormPost),
    ("GET", "/admin/events/{id}", AdminPage),
    ("POST", "/admin/events/{id}/replay", FormPost),
    ("GET", "/admin/audit", AdminPage),
];

/// Member A's objects, named in the paths that take an id.
struct Objects {
    user: String,
    payment: String,
    intent: String,
    credit_session: String,
    subscription_session: String,
    spare_key: String,
    tenant: String,
}

fn path_of(route: &str, o: &Objects) -> String {
    let id = match route {
        "/api/v1/api-keys/{id}" | "/account/keys/{id}/revoke" => &o.spare_key,
        r if r.starts_with("/api/v1/admin/users/")
            || r.starts_with("/api/v1/users/")
            || r.starts_with("/admin/members/")
            || r.starts_with("/api/subscription/") =>
        {
            &o.user
        }
        r if r.starts_with("/api/v1/admin/tenants/") => &o.tenant,
        "/api/v1/checkout/sessions/{id}" => &o.subscription_session,
        "/api/stripe/checkout-session/{id}" => &o.credit_session,
        "/api/v1/payment-intents/{id}" | "/api/stripe/payment-intent/{id}" => &o.intent,
        r if r.contains("/payments/{id}") => &o.payment,
        _ => "00000000-0000-4000-8000-000000000000",
    };
    route
        .replace("{id}", id)
        .replace("{user_id}", id)
        .replace("{token}", "not-the-token")
}

/// The callers that must not reach A's objects come before A.
async fn callers(app: &TestApp) -> (Vec<MatrixCaller>, Objects) {
    let (platform_client, platform_csrf) = admin(app, "platform@example.com").await;
    let platform = Caller {
        client: platform_client,
        csrf: Some(platform_csrf),
        bearer: None,
    };
    let (tenant, tenant_x) = onboarded(app, &platform, "xray").await;
    let (_, tenant_y) = onboarded(app, &platform, "yankee").await;
    app.signup("member-a@example.com").await;
    app.signup("member-b@example.com").await;
    let member_a = login(app, "member-a@example.com").await;
    let member_b = login(app, "member-b@example.com").await;

    let credits = member_a
        .post(
            app,
            "/api/v1/checkout/credits",
            json!({ "package": "credits_1000" }),
        )
        .await;
    let intent = member_a
        .post(
            app,
            "/api/v1/payment-intents",
            json!({ "package": "credits_1000" }),
        )
        .await;
    let subscription = member_a
        .post(
            app,
            "/api/v1/checkout/subscription",
            json!({ "plan": "membership" }),
        )
        .await;
    let spare = member_a
        .post(app, "/api/v1/api-keys", json!({ "name": "spare" }))
        .await;
    let user = app.user_id(&member_a.client).await.to_string();
    let text = |v: &Value, field: &str| {
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {v}"))
            .to_string()
    };
    let objects = Objects {
        user,
        payment: text(&credits, "payment_id"),
        credit_session: text(&credits, "session_id"),
        intent: text(&intent, "id"),
        subscription_session: text(&subscription, "id"),
        spare_key: text(&spare, "id"),
        tenant,
    };

    let keyed =
        |scopes: &[Scope]| Some(json!(scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
    let default = Scope::DEFAULT.to_vec();
    let with = |extra: Scope| {
        let mut scopes = default.clone();
        scopes.push(extra);
        scopes
    };
    let service = vec![Scope::EntitlementsRead, Scope::UsageWrite];
    let key_b = member_b.api_key_of(app, keyed(&default)).await;
    let key_y = tenant_y.api_key_of(app, keyed(&with(Scope::Tenant))).await;
    let key_x = tenant_x.api_key_of(app, keyed(&with(Scope::Tenant))).await;
    let key_admin = platform.api_key_of(app, keyed(&with(Scope::Admin))).await;
    let key_service = platform.api_key_of(app, keyed(&service)).await;
    let key_a = member_a.api_key_of(app, keyed(&default)).await;
    let session = |name, who, email: &str, caller| MatrixCaller {
        name,
        who,
        scopes: None,
        email: Some(email.to_string()),
        caller,
    };
    let key = |name, who, scopes: Vec<Scope>, caller| MatrixCaller {
        name,
        who,
        scopes: Some(scopes),
        email: None,
        caller,
    };
    let callers = vec![
        MatrixCaller {
            name: "anonymous",
            who: Who::Anonymous,
            scopes: None,
            email: None,
            caller: Caller::anonymous(),
        },
        session("member B", Who::MemberB, "member-b@example.com", member_b),
        key("member B's key", Who::MemberB, default.clone(), key_b),
        session(
            "tenant Y admin",
            Who::TenantY,
            "admin-yankee@tenant.example",
            tenant_y,
        ),
        key(
            "tenant Y admin's key",
            Who::TenantY,
            with(Scope::Tenant),
            key_y,
        ),
        session(
            "tenant X admin",
            Who::TenantX,
            "admin-xray@tenant.example",
            tenant_x,
        ),
        key(
            "tenant X admin's key",
            Who::TenantX,
            with(Scope::Tenant),
            key_x,
        ),
        session(
            "platform admin",
            Who::PlatformAdmin,
            "platform@example.com",
            platform,
        ),
        key(
            "platform admin's key",
            Who::PlatformAdmin,
            with(Scope::Admin),
            key_admin,
        ),
        key(
            "the host app's service key",
            Who::PlatformAdmin,
            service,
            key_service,
        ),
        key("member A's key", Who::MemberA, default, key_a),
        session("member A", Who::MemberA, "member-a@example.com", member_a),
    ];
    (callers, objects)
}

#[tokio::test]
async fn every_route_answers_every_caller_as_its_access_class_says() {
    for app in TestApp::all().await {
        let declared = every_declared_route();
        let covered: BTreeSet<(String, String)> = ROWS
            .iter()
            .map(|(method, route, _)| (method.to_string(), route.to_string()))
            .collect();
        assert_eq!(
            declared, covered,
            "every route needs a row in this matrix, and every row a route"
        );
        let (mut callers, objects) = callers(&app).await;
        // Rows that end the caller's session go last.
        let mut rows: Vec<_> = ROWS.iter().collect();
        rows.sort_by_key(|(_, _, class)| *class == EndsSession);

        let mut failures = Vec::new();
        let mut calls = 0;
        for (method, route, class) in rows {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let path = path_of(route, &objects);
            for caller in callers.iter_mut() {
                if *class == EndsSession
                    && let Some(email) = &caller.email
                {
                    caller.caller = login(&app, email).await;
                }
                let want = expected(*class, caller);
                let body = (method != Method::GET).then(|| json!({}));
                let response = caller.caller.send(&app, &method, &path, body).await;
                calls += 1;
                let status = response.status().as_u16();
                let to_sign_in = status == 303
                    && response
                        .headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .is_some_and(|l| l.starts_with("/login"));
                let ok = match want {
                    Expect::Through => !matches!(status, 401 | 403) && !to_sign_in && status < 500,
                    Expect::Status(want) => status == want,
                    Expect::SignIn => to_sign_in,
                    Expect::NoSuccess => !(200..300).contains(&status) && status < 500,
                };
                if !ok {
                    failures.push(format!(
                        "{method} {route} as {}: expected {want:?}, got {status}{}",
                        caller.name,
                        if to_sign_in { " (to sign in)" } else { "" }
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
        eprintln!(
            "authorization matrix: {} routes, {} callers, {calls} calls",
            ROWS.len(),
            callers.len()
        );
        app.stop().await;
    }
}

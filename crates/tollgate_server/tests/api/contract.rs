//! The wire contract, snapshotted: every JSON answer of a member's, a credit buyer's, an
//! admin's and a tenant's journey, one rendered page per console, and the database rows a
//! webhook leaves, with ids, times and secrets redacted. A field renamed anywhere (a core
//! struct, a response type, a template) fails here instead of reaching clients. Review a
//! change with `cargo insta review` (or `INSTA_UPDATE=always cargo test`, then `git diff`).

use reqwest::{Client, Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::connect::{Caller, onboarded_tenant, platform_admin};
use crate::support::{PASSWORD, TestApp, admin, browser, eventually, settle};

const VISA: &str = "4242424242424242";

/// Records each exchange as `{request, status, body}`, redacted.
struct Wire<'a> {
    app: &'a TestApp,
    seen: Vec<Value>,
    /// Every answer as sent, less the fields that carry a secret by design (a new API key,
    /// a PaymentIntent's client secret, a session's CSRF token), for `assert_no_secret`.
    raw: Vec<String>,
    /// Secrets met on the way: session cookies set, API keys minted.
    secrets: Vec<String>,
}

impl<'a> Wire<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            seen: Vec::new(),
            raw: Vec::new(),
            secrets: vec![
                PASSWORD.to_string(),
                crate::support::TEST_WEBHOOK_SECRET.to_string(),
                // The key tollgate uses with its emulator (stripe_backend.rs).
                "sk_test_tollgate_emulator".to_string(),
            ],
        }
    }

    /// Sends a request (with the CSRF token when one is given) and records the answer;
    /// returns the body as received.
    async fn call(
        &mut self,
        client: &Client,
        csrf: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = client.request(method.clone(), self.app.url(path));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        for cookie in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let cookie = cookie.to_str().expect("ascii");
            if let Some(token) = cookie
                .strip_prefix("tg_session=")
                .and_then(|c| c.split(';').next())
                && !token.is_empty()
            {
                self.secrets.push(token.to_string());
            }
        }
        let text = response.text().await.expect("body");
        let answer: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        let mut bare = answer.clone();
        if let Some(object) = bare.as_object_mut() {
            for field in ["key_secret", "client_secret", "csrf_token"] {
                if let Some(Value::String(secret)) = object.remove(field)
                    && field == "key_secret"
                {
                    self.secrets.push(secret);
                }
            }
        }
        self.raw.push(format!("{method} {path} -> {bare}"));
        self.seen.push(json!({
            "request": redact_text(&format!("{method} {path}")),
            "sent": body.as_ref().map(redact),
            "status": status.as_u16(),
            "body": redact(&answer),
        }));
        answer
    }

    async fn get(&mut self, client: &Client, path: &str) -> Value {
        self.call(client, None, Method::GET, path, None).await
    }

    async fn post(&mut self, client: &Client, csrf: &str, path: &str, body: Value) -> Value {
        self.call(client, Some(csrf), Method::POST, path, Some(body))
            .await
    }

    /// Redacts one field of the last answer (a value minted at random, like a referral code).
    fn redact_last(&mut self, pointer: &str) {
        let last = self.seen.last_mut().expect("a recorded exchange");
        if let Some(value) = last["body"].pointer_mut(pointer) {
            *value = json!("[random]");
        }
    }

    /// Replaces one field of every item of the last answer's `data` with `with`.
    fn redact_each(&mut self, field: &str, with: &str) {
        let last = self.seen.last_mut().expect("a recorded exchange");
        for item in last["body"]["data"].as_array_mut().into_iter().flatten() {
            if let Some(value) = item.get_mut(field) {
                *value = json!(with);
            }
        }
    }

    /// Records a list in a stable order (events arrive in no fixed order).
    fn sort_last_by(&mut self, key: &str) {
        let last = self.seen.last_mut().expect("a recorded exchange");
        if let Some(data) = last["body"]["data"].as_array_mut() {
            data.sort_by(|a, b| a[key].to_string().cmp(&b[key].to_string()));
        }
    }

    /// No answer (and no page given) carries a password, a webhook secret, the Stripe key, a
    /// session token or an API key outside the one answer that mints it (issue 24).
    fn assert_no_secret(&self, pages: &[&str]) {
        for secret in &self.secrets {
            for text in self
                .raw
                .iter()
                .map(String::as_str)
                .chain(pages.iter().copied())
            {
                assert!(
                    !text.contains(secret.as_str()),
                    "a secret ({}…) leaked into: {text}",
                    &secret[..secret.len().min(6)]
                );
            }
        }
    }

    fn into_value(self) -> Value {
        Value::Array(self.seen)
    }
}

/// Keys whose numbers are times, and keys whose strings are secrets or one-time tokens.
fn is_time_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    key == "created"
        || key == "frozen_time"
        || key.ends_with("_at")
        || key.ends_with("At")
        || key.ends_with("_until")
        || lower.contains("period")
}

fn is_secret_key(key: &str) -> bool {
    matches!(
        key,
        "csrf_token" | "key_secret" | "prefix" | "client_secret" | "token" | "secret"
    )
}

fn redact(value: &Value) -> Value {
    redact_under(None, value)
}

fn redact_under(key: Option<&str>, value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_under(Some(k), v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact_under(key, v)).collect()),
        Value::Number(_) if key.is_some_and(is_time_key) => json!("[time]"),
        Value::String(s) if key.is_some_and(is_secret_key) && !s.is_empty() => json!("[secret]"),
        Value::String(s) => Value::String(redact_text(s)),
        other => other.clone(),
    }
}

/// Stripe's id prefixes (and tollgate's key prefix) that the emulator mints at random.
const ID_PREFIXES: &[&str] = &[
    "acct", "acctlink", "ba", "bpc", "bps", "card", "ch", "clock", "cn", "cs", "cus", "evt", "fee",
    "fr", "ii", "il", "in", "li", "pi", "pm", "po", "prod", "price", "py", "re", "seti", "si",
    "sub", "tg", "tr", "txn", "whsec",
];

/// Replaces, inside any text: UUIDs, Stripe ids, RFC 3339 times, the loopback port and dates
/// written for people ("7 December 2026").
fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            out.push_str(&redact_word(word, out));
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    redact_times(&redact_dates(&out))
}

fn redact_word(word: &str, before: &str) -> String {
    if uuid::Uuid::parse_str(word).is_ok() {
        return "[uuid]".into();
    }
    if before.ends_with("127.0.0.1:") && word.chars().all(|c| c.is_ascii_digit()) {
        return "[port]".into();
    }
    // A random token (a link's, a session's): long, with letters and digits.
    let has = |test: fn(&char) -> bool| word.chars().any(|c| test(&c));
    let mixed = has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase);
    if !word.contains('_')
        && ((word.len() >= 16 && has(char::is_ascii_digit) && has(char::is_ascii_alphabetic))
            || (word.len() >= 20 && mixed))
    {
        return "[token]".into();
    }
    if let Some((prefix, rest)) = word.split_once('_')
        && ID_PREFIXES.contains(&prefix)
        && rest.len() >= 6
    {
        let rest = rest.strip_prefix("test_").unwrap_or(rest);
        if rest.len() >= 6 {
            return format!("[{prefix}]");
        }
    }
    word.to_string()
}

/// `2026-12-07T11:53:09Z` (and with fractions or an offset) becomes `[time]`.
fn redact_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let is_time = bytes.len() >= i + 19
            && bytes[i..i + 4].iter().all(u8::is_ascii_digit)
            && bytes[i + 4] == b'-'
            && bytes[i + 10] == b'T'
            && bytes[i + 13] == b':';
        if is_time {
            let mut end = i + 19;
            while end < bytes.len()
                && (bytes[end].is_ascii_digit() || b".Z+-:".contains(&bytes[end]))
            {
                end += 1;
            }
            out.push_str("[time]");
            i = end;
        } else {
            let c = text[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `7 December 2026` and `7 December 2026, 11:53` become `[date]`, also right after a tag
/// (`<td>7 December 2026</td>`), so a snapshot taken on one day holds on the next.
fn redact_dates(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (tag, day) = words[i].split_at(words[i].rfind('>').map_or(0, |at| at + 1));
        let dated = i + 2 < words.len()
            && !day.is_empty()
            && day.len() <= 2
            && day.chars().all(|c| c.is_ascii_digit())
            && MONTHS.contains(&words[i + 1])
            && words[i + 2].len() >= 4
            && words[i + 2][..4].chars().all(|c| c.is_ascii_digit());
        if dated {
            let rest = &words[i + 2][4..];
            let mut tail = rest.to_string();
            i += 3;
            // A time after the date (`, 11:53`) is part of it.
            if tail == "," && i < words.len() && words[i].len() >= 5 && &words[i][2..3] == ":" {
                tail = words[i][5..].to_string();
                i += 1;
            }
            out.push(format!("{tag}[date]{tail}"));
        } else {
            out.push(words[i].to_string());
            i += 1;
        }
    }
    out.join(" ")
}

/// A page as served, with its random values and everything `redact_text` finds redacted.
/// Returns the page as served and as snapshotted.
async fn page(client: &Client, url: &str) -> (String, String) {
    let response = client.get(url).send().await.expect("page");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let raw = response.text().await.expect("html");
    let mut html = raw.clone();
    // The form token, and the referral code (minted at random), up to where each ends.
    for (marker, end) in [
        ("name=\"csrf_token\" value=\"", '"'),
        ("id=\"referral-code\">", '<'),
    ] {
        let mut out = String::new();
        let mut rest = html.as_str();
        while let Some(at) = rest.find(marker) {
            out.push_str(&rest[..at + marker.len()]);
            rest = &rest[at + marker.len()..];
            out.push_str("[random]");
            rest = &rest[rest.find(end).expect("the value ends")..];
        }
        out.push_str(rest);
        html = out;
    }
    let out = html;
    (raw, redact_text(&out))
}

async fn pay(app: &TestApp, url: &str) {
    assert_eq!(app.pay(url, VISA).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_members_subscription_journey_answers_as_snapshotted() {
    for app in TestApp::all().await {
        let mut wire = Wire::new(&app);
        let visitor = browser();
        let signup = wire
            .call(
                &visitor,
                None,
                Method::POST,
                "/api/v1/auth/signup",
                Some(json!({ "email": "member@example.com", "password": PASSWORD })),
            )
            .await;
        let csrf = signup["csrf_token"].as_str().expect("csrf").to_string();
        let csrf = csrf.as_str();
        wire.get(&visitor, "/api/v1/me").await;
        wire.get(&visitor, "/api/v1/plans").await;
        wire.get(&visitor, "/api/v1/subscription").await;
        let checkout = wire
            .post(
                &visitor,
                csrf,
                "/api/v1/checkout/subscription",
                json!({ "plan": "membership" }),
            )
            .await;
        let session = checkout["id"].as_str().expect("id").to_string();
        pay(&app, checkout["url"].as_str().expect("url")).await;
        app.wait_for_status(&visitor, "paid").await;
        settle(&app).await;
        let rows = database_rows(&app).await;
        wire.get(&visitor, &format!("/api/v1/checkout/sessions/{session}"))
            .await;
        wire.get(&visitor, "/api/v1/subscription").await;
        wire.get(&visitor, "/api/v1/entitlements").await;
        wire.get(&visitor, "/api/v1/invoices").await;
        wire.post(&visitor, csrf, "/api/v1/billing-portal", json!({}))
            .await;
        wire.post(&visitor, csrf, "/api/v1/subscription/cancel", json!({}))
            .await;
        wire.post(&visitor, csrf, "/api/v1/subscription/resume", json!({}))
            .await;
        let key = wire
            .post(
                &visitor,
                csrf,
                "/api/v1/api-keys",
                json!({ "name": "server" }),
            )
            .await;
        wire.get(&visitor, "/api/v1/api-keys").await;
        let user = signup["user"]["id"].as_str().expect("user id").to_string();
        let server = Client::builder()
            .default_headers(
                [(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", key["key_secret"].as_str().expect("key"))
                        .parse()
                        .expect("header"),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .expect("client");
        wire.get(&server, &format!("/api/v1/users/{user}/entitlements"))
            .await;
        wire.get(&server, &format!("/api/v1/users/{user}/subscription"))
            .await;
        let key_id = key["id"].as_str().expect("key id");
        wire.call(
            &visitor,
            Some(csrf),
            Method::DELETE,
            &format!("/api/v1/api-keys/{key_id}"),
            None,
        )
        .await;
        // Seed 001's routes.
        wire.get(&visitor, &format!("/api/subscription/{user}"))
            .await;
        wire.post(&visitor, csrf, "/api/create-portal-session", json!({}))
            .await;
        wire.post(
            &visitor,
            csrf,
            "/api/cancel-subscription",
            json!({ "immediately": false }),
        )
        .await;
        // Seeds 000's and 001's checkouts, for a member with no subscription yet.
        let (newcomer, newcomer_csrf) = app.signup("newcomer@example.com").await;
        wire.post(
            &newcomer,
            &newcomer_csrf,
            "/api/stripe/create-checkout-session",
            json!({}),
        )
        .await;
        let created = wire
            .post(
                &newcomer,
                &newcomer_csrf,
                "/api/create-checkout-session",
                json!({ "priceId": "membership" }),
            )
            .await;
        let seed_session = created["session"]["id"].as_str().expect("session id");
        wire.post(
            &newcomer,
            &newcomer_csrf,
            "/api/retrieve-checkout-session",
            json!({ "sessionId": seed_session }),
        )
        .await;
        wire.get(&browser(), "/healthz").await;
        wire.get(&browser(), "/readyz").await;
        // Refusals, each with its stable code.
        wire.get(&browser(), "/api/v1/me").await;
        wire.call(
            &browser(),
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({ "email": "member@example.com", "password": "wrong password!" })),
        )
        .await;
        wire.post(
            &visitor,
            csrf,
            "/api/v1/checkout/subscription",
            json!({ "plan": "membership" }),
        )
        .await;
        wire.post(
            &visitor,
            csrf,
            "/api/v1/checkout/subscription",
            json!({ "plan": 7 }),
        )
        .await;
        wire.post(
            &visitor,
            "not the token",
            "/api/v1/subscription/cancel",
            json!({}),
        )
        .await;
        wire.get(&visitor, "/api/v1/nothing-here").await;
        wire.get(&visitor, "/api/v1/sessions").await;
        wire.redact_each("id", "[hash prefix]");
        wire.post(&visitor, csrf, "/api/v1/auth/logout", json!({}))
            .await;
        let again = wire
            .call(
                &visitor,
                None,
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({ "email": "member@example.com", "password": PASSWORD })),
            )
            .await;
        let csrf = again["csrf_token"].as_str().expect("csrf");
        wire.post(&visitor, csrf, "/api/v1/auth/logout-everywhere", json!({}))
            .await;
        // Three fixed secrets, two session cookies (sign-up, sign-in again) and the API key.
        assert_eq!(wire.secrets.len(), 6, "the secrets met were collected");
        wire.assert_no_secret(&[]);
        insta::assert_json_snapshot!("member_journey", wire.into_value());

        insta::assert_json_snapshot!("database_after_checkout", rows);
        let _ = app.stop().await;
    }
}

#[tokio::test]
async fn a_credit_buyers_journey_and_the_admins_answers_are_as_snapshotted() {
    for app in TestApp::all().await {
        let mut wire = Wire::new(&app);
        let (admin, admin_csrf) = admin(&app, "admin@example.com").await;
        let (buyer, csrf) = app.signup("buyer@example.com").await;
        let csrf = csrf.as_str();
        wire.get(&buyer, "/api/v1/credit-packages").await;
        let started = wire
            .post(
                &buyer,
                csrf,
                "/api/v1/checkout/credits",
                json!({ "package": "credits_1000" }),
            )
            .await;
        pay(&app, started["url"].as_str().expect("url")).await;
        let payment = started["payment_id"].as_str().expect("payment").to_string();
        eventually(30, "the payment completes", || async {
            let body: Value = buyer
                .get(app.url(&format!("/api/v1/payments/{payment}")))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (body["status"] == "completed").then_some(())
        })
        .await;
        settle(&app).await;
        wire.get(&buyer, &format!("/api/v1/payments/{payment}"))
            .await;
        wire.get(&buyer, "/api/v1/payments").await;
        wire.get(&buyer, "/api/v1/balance").await;
        wire.get(&buyer, "/api/v1/ledger").await;
        let spend = json!({ "feature": "credits", "quantity": 4, "idempotency_key": "job-1" });
        wire.post(&buyer, csrf, "/api/v1/usage/consume", spend)
            .await;
        let too_much =
            json!({ "feature": "credits", "quantity": 100_000, "idempotency_key": "job-2" });
        wire.post(&buyer, csrf, "/api/v1/usage/consume", too_much)
            .await;
        wire.get(&buyer, "/api/v1/usage").await;
        wire.get(&buyer, "/api/v1/referral").await;
        wire.redact_last("/code");
        let intent = wire
            .post(
                &buyer,
                csrf,
                "/api/v1/payment-intents",
                json!({ "amount": 2500, "currency": "usd" }),
            )
            .await;
        let intent_id = intent["id"].as_str().unwrap_or("pi_missing").to_string();
        wire.get(&buyer, &format!("/api/v1/payment-intents/{intent_id}"))
            .await;
        // Seed 002's routes.
        wire.get(&buyer, "/api/stripe/credit-packages").await;
        wire.get(&buyer, "/user/balance").await;
        wire.get(&buyer, "/api/stripe/payments").await;

        // The admin's side.
        let admin_csrf = admin_csrf.as_str();
        wire.post(
            &admin,
            admin_csrf,
            "/api/v1/admin/coupons",
            json!({ "code": "welcome", "credits": 300, "max_redemptions": 2 }),
        )
        .await;
        wire.get(&admin, "/api/v1/admin/coupons").await;
        wire.post(
            &buyer,
            csrf,
            "/api/v1/coupons/redeem",
            json!({ "code": "welcome" }),
        )
        .await;
        wire.post(
            &buyer,
            csrf,
            "/api/v1/coupons/redeem",
            json!({ "code": "welcome" }),
        )
        .await;
        wire.post(
            &admin,
            admin_csrf,
            "/api/v1/admin/refunds",
            json!({ "payment_id": payment, "amount": 500, "reason": "customer asked" }),
        )
        .await;
        wire.get(&admin, "/api/v1/admin/balances/negative").await;
        wire.get(&admin, "/api/v1/admin/users").await;
        let mentor = wire
            .post(
                &admin,
                admin_csrf,
                "/api/v1/admin/mentors",
                json!({ "name": "Grace Hopper" }),
            )
            .await;
        wire.get(&admin, "/api/v1/admin/mentors").await;
        let buyer_id = app.user_id(&buyer).await;
        wire.post(
            &admin,
            admin_csrf,
            &format!("/api/v1/admin/users/{buyer_id}/mentor"),
            json!({ "mentor_id": mentor["id"] }),
        )
        .await;
        let events = wire.get(&admin, "/api/v1/admin/events?limit=100").await;
        wire.sort_last_by("type");
        // Whether an event found its object's owner yet depends on delivery timing.
        for field in ["status", "last_error", "attempts", "processed_at"] {
            wire.redact_each(field, "[timing]");
        }
        let event = events["data"][0]["id"]
            .as_str()
            .expect("an event")
            .to_string();
        let shown = wire
            .get(&admin, &format!("/api/v1/admin/events/{event}"))
            .await;
        assert!(shown["payload"].is_object() || shown["payload"].is_string());
        // The payload is Stripe's object, whose shape the emulator's tests own; the outcome
        // depends on timing, as in the list.
        wire.redact_last("/payload");
        for field in ["status", "last_error", "attempts", "processed_at"] {
            wire.redact_last(&format!("/event/{field}"));
        }
        wire.post(
            &admin,
            admin_csrf,
            &format!("/api/v1/admin/events/{event}/replay"),
            json!({}),
        )
        .await;
        wire.post(
            &admin,
            admin_csrf,
            "/api/v1/admin/events/replay-failed",
            json!({}),
        )
        .await;
        wire.get(&admin, "/api/v1/admin/audit").await;
        wire.get(&buyer, "/api/v1/admin/users").await;
        // One page of each console.
        let (dashboard_html, dashboard) = page(&buyer, &app.url("/dashboard")).await;
        let (members_html, members) = page(&admin, &app.url("/admin/members")).await;
        wire.assert_no_secret(&[&dashboard_html, &members_html]);
        insta::assert_json_snapshot!("credits_and_admin_journey", wire.into_value());
        insta::assert_snapshot!("member_dashboard_page", dashboard);
        insta::assert_snapshot!("admin_members_page", members);
        let _ = app.stop().await;
    }
}

#[tokio::test]
async fn a_tenants_journey_answers_as_snapshotted() {
    for app in TestApp::all().await {
        let mut wire = Wire::new(&app);
        let platform = platform_admin(&app).await;
        let created = wire
            .post(
                &platform.client,
                &platform.csrf,
                "/api/v1/admin/tenants",
                json!({ "name": "Zeta IT", "email": "hi@zeta.example", "country": "US",
                        "application_fee_bps": 100 }),
            )
            .await;
        let tenant_id = created["id"].as_str().expect("tenant id").to_string();
        wire.get(&platform.client, "/api/v1/admin/tenants").await;
        wire.get(
            &platform.client,
            &format!("/api/v1/admin/tenants/{tenant_id}"),
        )
        .await;
        wire.call(
            &platform.client,
            Some(&platform.csrf),
            Method::PATCH,
            &format!("/api/v1/admin/tenants/{tenant_id}"),
            Some(json!({ "application_fee_bps": 150, "application_fee_fixed": 30 })),
        )
        .await;
        wire.post(
            &platform.client,
            &platform.csrf,
            &format!("/api/v1/admin/tenants/{tenant_id}/admins"),
            json!({ "email": "admin@zeta.example", "password": PASSWORD }),
        )
        .await;

        let acme: Caller =
            onboarded_tenant(&app, &platform, "Acme IT", "billing@acme.example").await;
        let (client, csrf) = (&acme.client, acme.csrf.as_str());
        wire.get(client, "/api/v1/connect/status").await;
        wire.post(client, csrf, "/api/v1/connect/account", json!({}))
            .await;
        wire.post(client, csrf, "/api/v1/connect/account-link", json!({}))
            .await;
        let customer = wire
            .post(
                client,
                csrf,
                "/api/v1/tenant/customers",
                json!({ "email": "client@example.com", "name": "Client Co" }),
            )
            .await;
        wire.get(client, "/api/v1/tenant/customers").await;
        let draft = wire
            .post(
                client,
                csrf,
                "/api/v1/tenant/invoices",
                json!({
                    "customer_id": customer["id"],
                    "currency": "usd",
                    "lines": [{ "description": "Managed backup", "unit_amount": 4_000, "quantity": 2 }],
                    "days_until_due": 14
                }),
            )
            .await;
        let invoice = draft["id"].as_str().expect("invoice id").to_string();
        wire.get(client, &format!("/api/v1/tenant/invoices/{invoice}"))
            .await;
        wire.get(client, "/api/v1/tenant/invoices").await;
        wire.post(
            client,
            csrf,
            &format!("/api/v1/tenant/invoices/{invoice}/void"),
            json!({}),
        )
        .await;
        wire.post(
            client,
            csrf,
            &format!("/api/v1/tenant/invoices/{invoice}/send"),
            json!({}),
        )
        .await;
        wire.post(client, csrf, "/api/stripe/connect/create", json!({}))
            .await;
        wire.assert_no_secret(&[]);
        insta::assert_json_snapshot!("tenant_journey", wire.into_value());
        let _ = app.stop().await;
    }
}

/// What a checkout's webhooks leave in the database: the rows of the billing tables, in a
/// stable order, redacted like the answers (SQLite's columns are read by their stored type).
async fn database_rows(app: &TestApp) -> Value {
    use sqlx::{Column, Row};
    let url = app.database_url();
    let mut tables = Map::new();
    let queries = [
        ("users", "SELECT email, role FROM users ORDER BY email"),
        (
            "stripe_customers",
            "SELECT customer_id, created_at FROM stripe_customers ORDER BY customer_id",
        ),
        (
            "subscriptions",
            "SELECT id, status, price_id, plan_id, quantity, current_period_start, \
             current_period_end, cancel_at_period_end, canceled_at FROM subscriptions",
        ),
        // `customer.*` events race the commit of the customer row that tollgate writes
        // itself (either outcome is right: the row is tollgate's), so they are left out.
        (
            "stripe_events",
            "SELECT type, status, attempts, last_error FROM stripe_events \
             WHERE type NOT LIKE 'customer.%' OR type LIKE 'customer.subscription.%' \
             ORDER BY type, status",
        ),
    ];
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    for (name, query) in queries {
        let rows = sqlx::query(query).fetch_all(&pool).await.expect(query);
        let rows: Vec<Value> = rows
            .iter()
            .map(|row| {
                let object: Map<String, Value> = row
                    .columns()
                    .iter()
                    .map(|column| {
                        let i = column.ordinal();
                        // Every column is BIGINT or TEXT on both backends.
                        let value = match row.try_get::<Option<i64>, _>(i) {
                            Ok(number) => number.map(Value::from),
                            Err(_) => row
                                .try_get::<Option<String>, _>(i)
                                .ok()
                                .flatten()
                                .map(Value::from),
                        };
                        (column.name().to_string(), value.unwrap_or(Value::Null))
                    })
                    .collect();
                Value::Object(object)
            })
            .collect();
        tables.insert(name.to_string(), redact(&Value::Array(rows)));
    }
    pool.close().await;
    Value::Object(tables)
}

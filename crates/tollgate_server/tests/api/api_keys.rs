//! API keys: created once-visible, used as bearer tokens, listed without secrets, revoked.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, browser, error_of};

#[tokio::test]
async fn an_api_key_works_until_it_is_revoked() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("keys@example.com").await;
        let created: Value = client
            .post(app.url("/api/v1/api-keys"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "billing job" }))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let secret = created["key_secret"]
            .as_str()
            .expect("the key is shown once")
            .to_string();
        assert!(
            secret.starts_with("tg_test_"),
            "emulated Stripe means test keys: {secret}"
        );
        assert_eq!(created["prefix"].as_str(), Some(&secret[..12]));

        let bearer = browser();
        let me: Value = bearer
            .get(app.url("/api/v1/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["user"]["email"], "keys@example.com");
        assert_eq!(me["auth_method"], "api_key");
        assert!(
            me.get("csrf_token").is_none(),
            "bearer callers need no CSRF token"
        );

        let listed: Value = client
            .get(app.url("/api/v1/api-keys"))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let keys = listed["data"].as_array().expect("array");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["name"], "billing job");
        assert!(keys[0]["last_used_at"].is_string(), "the use was recorded");
        assert!(
            !listed.to_string().contains(&secret),
            "the list never shows the key"
        );

        // A key cannot revoke keys (a leaked one could revoke its owner's others); its
        // owner, signed in, can.
        let id = created["id"].as_str().expect("id");
        let by_key = bearer
            .delete(app.url(&format!("/api/v1/api-keys/{id}")))
            .bearer_auth(&secret)
            .send()
            .await
            .expect("revoke with the key");
        assert_eq!(by_key.status(), StatusCode::FORBIDDEN);
        let revoke = client
            .delete(app.url(&format!("/api/v1/api-keys/{id}")))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("revoke");
        assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
        let (status, error) = error_of(
            bearer
                .get(app.url("/api/v1/me"))
                .bearer_auth(&secret)
                .send()
                .await
                .expect("me"),
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_user_cannot_revoke_another_users_key() {
    for app in TestApp::all().await {
        let (owner, owner_csrf) = app.signup("owner@example.com").await;
        let (thief, thief_csrf) = app.signup("thief@example.com").await;
        let created: Value = owner
            .post(app.url("/api/v1/api-keys"))
            .header("x-csrf-token", &owner_csrf)
            .json(&json!({ "name": "mine" }))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let id = created["id"].as_str().expect("id");
        let stolen = thief
            .delete(app.url(&format!("/api/v1/api-keys/{id}")))
            .header("x-csrf-token", &thief_csrf)
            .send()
            .await
            .expect("revoke");
        assert_eq!(stolen.status(), StatusCode::NOT_FOUND);
        let secret = created["key_secret"].as_str().expect("secret");
        let me = browser()
            .get(app.url("/api/v1/me"))
            .bearer_auth(secret)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), StatusCode::OK, "the key still works");
        app.stop().await;
    }
}

#[tokio::test]
async fn an_unknown_api_key_is_rejected() {
    for app in TestApp::all().await {
        let response = browser()
            .get(app.url("/api/v1/me"))
            .bearer_auth("tg_test_doesnotexist")
            .send()
            .await
            .expect("me");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        app.stop().await;
    }
}

/// Issue 24: a key cannot mint further keys, so revoking a leaked key ends the access it gave.
#[tokio::test]
async fn an_api_key_cannot_create_api_keys() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("minter@example.com").await;
        let (secret, _) = secret_of(key_with(&app, &client, &csrf, None).await).await;
        let minted = browser()
            .post(app.url("/api/v1/api-keys"))
            .bearer_auth(&secret)
            .json(&json!({ "name": "second" }))
            .send()
            .await
            .expect("create with a key");
        let (status, error) = error_of(minted).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(error["code"], "forbidden");
        let keys: Value = client
            .get(app.url("/api/v1/api-keys"))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        assert_eq!(keys["data"].as_array().expect("data").len(), 1, "{keys}");
        app.stop().await;
    }
}

async fn key_with(
    app: &TestApp,
    client: &reqwest::Client,
    csrf: &str,
    scopes: Option<Value>,
) -> reqwest::Response {
    let mut body = json!({ "name": "scoped" });
    if let Some(scopes) = scopes {
        body["scopes"] = scopes;
    }
    client
        .post(app.url("/api/v1/api-keys"))
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .expect("create a key")
}

async fn secret_of(response: reqwest::Response) -> (String, Value) {
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("json");
    (
        created["key_secret"].as_str().expect("secret").to_string(),
        created["scopes"].clone(),
    )
}

/// Issue 24: a key does what its scopes allow, not all its owner may do.
#[tokio::test]
async fn a_key_does_only_what_its_scopes_allow_and_only_an_admin_gives_admin() {
    for app in TestApp::all().await {
        let (member, member_csrf) = app.signup("scoped@example.com").await;
        let member_id = app.user_id(&member).await;
        let (admin, admin_csrf) = crate::support::admin(&app, "scopes-admin@example.com").await;
        let call = |method: reqwest::Method, path: String, secret: String, body: Option<Value>| {
            let app = &app;
            async move {
                let mut request = browser()
                    .request(method, app.url(&path))
                    .bearer_auth(secret);
                if let Some(body) = body {
                    request = request.json(&body);
                }
                request.send().await.expect("call")
            }
        };
        let entitlements = format!("/api/v1/users/{member_id}/entitlements");
        let coupon = || Some(json!({ "code": format!("C{}", uuid_like()), "credits": 5 }));

        // The host app's service key: entitlement checks and usage, nothing else.
        let (service, scopes) = secret_of(
            key_with(
                &app,
                &admin,
                &admin_csrf,
                Some(json!(["usage:write", "entitlements:read"])),
            )
            .await,
        )
        .await;
        assert_eq!(scopes, json!(["entitlements:read", "usage:write"]));
        let read = call(
            reqwest::Method::GET,
            entitlements.clone(),
            service.clone(),
            None,
        )
        .await;
        assert_eq!(read.status(), StatusCode::OK);
        for (method, path, body) in [
            (
                reqwest::Method::POST,
                "/api/v1/admin/coupons".to_string(),
                coupon(),
            ),
            (
                reqwest::Method::POST,
                "/api/v1/admin/refunds".to_string(),
                Some(json!({ "payment_id": "pay_0", "amount": 1 })),
            ),
            (
                reqwest::Method::GET,
                "/api/v1/admin/users".to_string(),
                None,
            ),
            (reqwest::Method::GET, "/api/v1/balance".to_string(), None),
        ] {
            let (status, error) =
                error_of(call(method, path.clone(), service.clone(), body).await).await;
            assert_eq!(
                (status, error["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("scope_missing")),
                "{path}"
            );
        }

        // An admin key asked for by name does admin work, and only that.
        let (admin_key, _) =
            secret_of(key_with(&app, &admin, &admin_csrf, Some(json!(["admin"]))).await).await;
        let made = call(
            reqwest::Method::POST,
            "/api/v1/admin/coupons".into(),
            admin_key.clone(),
            coupon(),
        )
        .await;
        assert_eq!(made.status(), StatusCode::CREATED);
        let (status, error) = error_of(
            call(
                reqwest::Method::GET,
                entitlements.clone(),
                admin_key.clone(),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("scope_missing"))
        );

        // No scopes named: the owner's own billing, never admin rights.
        let (default_key, scopes) =
            secret_of(key_with(&app, &admin, &admin_csrf, None).await).await;
        assert_eq!(
            scopes,
            json!(["entitlements:read", "usage:write", "billing"])
        );
        let (status, error) = error_of(
            call(
                reqwest::Method::GET,
                "/api/v1/admin/users".into(),
                default_key.clone(),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("scope_missing"))
        );
        let own = call(
            reqwest::Method::GET,
            "/api/v1/balance".into(),
            default_key,
            None,
        )
        .await;
        assert_eq!(own.status(), StatusCode::OK);

        // A member cannot give what they do not have; unknown and empty scopes are refused.
        for scopes in [
            json!(["admin"]),
            json!(["tenant"]),
            json!(["root"]),
            json!([]),
        ] {
            let (status, error) =
                error_of(key_with(&app, &member, &member_csrf, Some(scopes.clone())).await).await;
            assert_eq!(
                (status, error["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some("scopes")),
                "{scopes}"
            );
        }
        // The role still counts: a member's key with every scope it may hold is no admin.
        let (member_key, _) = secret_of(
            key_with(
                &app,
                &member,
                &member_csrf,
                Some(json!(["billing", "entitlements:read", "usage:write"])),
            )
            .await,
        )
        .await;
        let (status, error) = error_of(
            call(
                reqwest::Method::GET,
                "/api/v1/admin/users".into(),
                member_key,
                None,
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("scope_missing"))
        );
        app.stop().await;
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("SCOPE{}", N.fetch_add(1, Ordering::SeqCst))
}

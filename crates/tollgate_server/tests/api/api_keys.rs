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

        // A bearer caller revokes without CSRF: it is not a cookie session.
        let id = created["id"].as_str().expect("id");
        let revoke = bearer
            .delete(app.url(&format!("/api/v1/api-keys/{id}")))
            .bearer_auth(&secret)
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
        let created: Value = client
            .post(app.url("/api/v1/api-keys"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "service" }))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let secret = created["key_secret"].as_str().expect("secret").to_string();
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

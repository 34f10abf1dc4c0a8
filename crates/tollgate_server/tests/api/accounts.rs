//! Built-in accounts: signup, login, `/me`, logout, CSRF, rate limits, first-admin setup.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, browser, error_of, statuses_at_once};

#[tokio::test]
async fn signup_then_login_then_me_then_logout() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("Ada@Example.com").await;
        let me: Value = client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["user"]["email"], "ada@example.com");
        assert_eq!(me["user"]["role"], "user");
        assert_eq!(me["auth_method"], "session");
        assert_eq!(me["csrf_token"], csrf.as_str());

        let logout = client
            .post(app.url("/api/v1/auth/logout"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("logout");
        assert_eq!(logout.status(), StatusCode::NO_CONTENT);
        let after = client.get(app.url("/api/v1/me")).send().await.expect("me");
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED);

        let fresh = browser();
        let login = fresh
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "email": "ADA@example.com", "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), StatusCode::OK);
        let cookie = login.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "plain http base URL: no Secure flag"
        );
        let me = fresh.get(app.url("/api/v1/me")).send().await.expect("me");
        assert_eq!(me.status(), StatusCode::OK);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    for app in TestApp::all().await {
        app.signup("known@example.com").await;
        let client = browser();
        let attempt = |email: &'static str| {
            client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({ "email": email, "password": "not the password" }))
                .send()
        };
        let wrong_password = error_of(attempt("known@example.com").await.expect("login")).await;
        let unknown_email = error_of(attempt("nobody@example.com").await.expect("login")).await;
        assert_eq!(wrong_password.0, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong_password, unknown_email);
        assert_eq!(wrong_password.1["code"], "invalid_credentials");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_second_signup_with_the_same_email_is_refused_and_a_weak_password_names_the_field() {
    for app in TestApp::all().await {
        app.signup("twice@example.com").await;
        let client = browser();
        let again = client
            .post(app.url("/api/v1/auth/signup"))
            .json(&json!({ "email": "TWICE@example.com", "password": PASSWORD }))
            .send()
            .await
            .expect("signup");
        let (status, error) = error_of(again).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::CONFLICT, Some("email_unavailable"))
        );

        let weak = client
            .post(app.url("/api/v1/auth/signup"))
            .json(&json!({ "email": "weak@example.com", "password": "short" }))
            .send()
            .await
            .expect("signup");
        let (status, error) = error_of(weak).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["field"], "password");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_cookie_request_that_changes_state_without_the_csrf_token_is_forbidden() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("csrf@example.com").await;
        let create = |token: Option<&str>| {
            let mut request = client
                .post(app.url("/api/v1/api-keys"))
                .json(&json!({ "name": "k" }));
            if let Some(token) = token {
                request = request.header("x-csrf-token", token);
            }
            request.send()
        };
        let (status, error) = error_of(create(None).await.expect("request")).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("csrf_token_invalid"))
        );
        let (status, _) = error_of(create(Some("forged")).await.expect("request")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            app.store_keys_of("csrf@example.com").await.is_empty(),
            "nothing was created by the refused requests"
        );
        assert_eq!(
            create(Some(&csrf)).await.expect("request").status(),
            StatusCode::CREATED
        );
        let logout = client
            .post(app.url("/api/v1/auth/logout"))
            .send()
            .await
            .expect("logout");
        assert_eq!(
            logout.status(),
            StatusCode::FORBIDDEN,
            "logout is a write too"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn repeated_failed_logins_are_limited_with_retry_after() {
    for app in TestApp::all_with(|c| c.auth.rate_limit.login_failures_per_account = 3).await {
        app.signup("target@example.com").await;
        let client = browser();
        let attempt = |password: &'static str| {
            client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({ "email": "target@example.com", "password": password }))
                .send()
        };
        for _ in 0..3 {
            assert_eq!(
                attempt("wrong password").await.expect("login").status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let limited = attempt(PASSWORD).await.expect("login");
        assert_eq!(
            limited.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "even the right password waits"
        );
        let retry_after: u64 = limited.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((1..=900).contains(&retry_after));
        let (_, error) = error_of(limited).await;
        assert_eq!(error["code"], "rate_limited");
        app.stop().await;
    }
}

#[tokio::test]
async fn logins_from_one_ip_are_limited_across_accounts() {
    for app in TestApp::all_with(|c| c.auth.rate_limit.login_per_ip_per_minute = 4).await {
        let client = browser();
        let mut statuses = Vec::new();
        for i in 0..6 {
            let response = client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({ "email": format!("spray{i}@example.com"), "password": PASSWORD }))
                .send()
                .await
                .expect("login");
            statuses.push(response.status());
        }
        assert_eq!(&statuses[..4], &[StatusCode::UNAUTHORIZED; 4]);
        assert_eq!(&statuses[4..], &[StatusCode::TOO_MANY_REQUESTS; 2]);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_first_admin_is_created_once_with_the_setup_token() {
    for app in TestApp::all().await {
        let token = app.running().state.setup.issue();
        let client = browser();
        let create = |token: String, email: &'static str| {
            client
                .post(app.url("/api/v1/setup"))
                .json(&json!({ "token": token, "email": email, "password": PASSWORD }))
                .send()
        };
        let (status, error) = error_of(
            create("wrong".into(), "boss@example.com")
                .await
                .expect("setup"),
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::CONFLICT, Some("setup_closed"))
        );
        let created = create(token.expose().clone(), "boss@example.com")
            .await
            .expect("setup");
        assert_eq!(created.status(), StatusCode::CREATED);
        let me: Value = client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["user"]["role"], "admin");
        let (status, _) = error_of(
            create(token.expose().clone(), "second@example.com")
                .await
                .expect("setup"),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "the token works once");
        app.stop().await;
    }
}

/// Issue 24, finding 3: six concurrent requests with the valid token made six admins.
#[tokio::test]
async fn concurrent_requests_with_the_setup_token_make_one_admin() {
    for app in TestApp::all().await {
        let token = app.running().state.setup.issue();
        // A refused attempt (a weak password) leaves the token usable.
        let weak = browser()
            .post(app.url("/api/v1/setup"))
            .json(&json!({ "token": token.expose(), "email": "weak@example.com", "password": "short" }))
            .send()
            .await
            .expect("setup");
        assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
        let attempts = (0..6).map(|n| {
            let url = app.url("/api/v1/setup");
            let token = token.expose().clone();
            async move {
                browser()
                    .post(url)
                    .json(&json!({ "token": token, "email": format!("boss{n}@example.com"), "password": PASSWORD }))
                    .send()
                    .await
                    .expect("setup")
                    .status()
            }
        });
        let statuses = futures_join_all(attempts).await;
        let created = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "{statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
            "{statuses:?}"
        );
        let admins = tollgate_core::AccountStore::count_users(
            &app.store,
            Some(tollgate_core::account::Role::Admin),
        )
        .await
        .expect("count");
        assert_eq!(admins, 1);
        app.stop().await;
    }
}

/// Runs the futures concurrently on this task's runtime, in order of their results.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}

#[tokio::test]
async fn a_server_restarted_on_an_existing_database_keeps_its_data() {
    for app in TestApp::all().await {
        app.signup("persist@example.com").await;
        let database = app.stop().await;
        let again = TestApp::spawn(database, |_| {}).await;
        let login = browser()
            .post(again.url("/api/v1/auth/login"))
            .json(&json!({ "email": "persist@example.com", "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), StatusCode::OK);
        again.stop().await;
    }
}

impl TestApp {
    async fn store_keys_of(&self, email: &str) -> Vec<tollgate_core::api_key::ApiKey> {
        use tollgate_core::{AccountStore, ApiKeyStore};
        let email = tollgate_core::Email::parse(email).expect("email");
        let (user, _) = self
            .store
            .credentials_by_email(&email)
            .await
            .expect("lookup")
            .expect("user");
        self.store.api_keys(user.id).await.expect("keys")
    }
}

/// Issue 24, finding 1: a stranger's failures (another client address) cannot lock the
/// owner out; past the account's ceiling of failures the owner's login is slowed, not refused.
#[tokio::test]
async fn a_strangers_wrong_passwords_never_lock_the_owner_out() {
    let configure = |c: &mut tollgate_server::Config| {
        c.server.trust_forwarded_for = true;
        c.auth.rate_limit.login_failures_per_account = 3;
        c.auth.rate_limit.login_slowdown_after_failures = 4;
        c.auth.rate_limit.login_slowdown_ms = 400;
    };
    for app in TestApp::all_with(configure).await {
        app.signup("owner@example.com").await;
        let client = browser();
        let attempt = |from: &'static str, password: &'static str| {
            client
                .post(app.url("/api/v1/auth/login"))
                .header("x-forwarded-for", from)
                .json(&json!({ "email": "owner@example.com", "password": password }))
                .send()
        };
        let mut stranger = Vec::new();
        for _ in 0..6 {
            stranger.push(
                attempt("203.0.113.7", "wrong password")
                    .await
                    .expect("login")
                    .status(),
            );
        }
        assert_eq!(
            stranger,
            [401, 401, 401, 429, 429, 429].map(|s| StatusCode::from_u16(s).expect("status")),
            "the stranger is limited"
        );
        // Another stranger's address takes the account past its ceiling of failures.
        for _ in 0..2 {
            let status = attempt("198.51.100.9", "wrong password")
                .await
                .expect("login")
                .status();
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let started = std::time::Instant::now();
        let owner = attempt("192.0.2.1", PASSWORD).await.expect("login");
        assert_eq!(owner.status(), StatusCode::OK, "the owner still gets in");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(400),
            "past the account's ceiling the attempt waits"
        );
        app.stop().await;
    }
}

/// Issue 24, finding 2: the attempt is counted before the password check, so forty concurrent
/// guesses get at most the limit's worth of 401s and the rest 429.
#[tokio::test]
async fn concurrent_wrong_passwords_cannot_slip_under_the_limit() {
    for app in TestApp::all_with(|c| c.auth.rate_limit.login_failures_per_account = 5).await {
        app.signup("target@example.com").await;
        let client = browser();
        let guesses = (0..40).map(|_| async {
            client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({ "email": "target@example.com", "password": "wrong password" }))
                .send()
                .await
                .expect("login")
        });
        let mut unauthorized = 0;
        let mut limited = 0;
        for status in statuses_at_once(guesses).await {
            match status {
                StatusCode::UNAUTHORIZED => unauthorized += 1,
                StatusCode::TOO_MANY_REQUESTS => limited += 1,
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!((unauthorized, limited), (5, 35));
        app.stop().await;
    }
}

/// Issue 24, finding 13: a member sees their sessions and can end all of them at once; every
/// cookie stops working at the next request.
#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_member() {
    for app in TestApp::all().await {
        let (first, first_csrf) = app.signup("many@example.com").await;
        let second = browser();
        let login = second
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "email": "many@example.com", "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), StatusCode::OK);
        let (other, _) = app.signup("other@example.com").await;

        let listed: serde_json::Value = first
            .get(app.url("/api/v1/sessions"))
            .send()
            .await
            .expect("sessions")
            .json()
            .await
            .expect("json");
        let sessions = listed["data"].as_array().expect("data");
        assert_eq!(sessions.len(), 2, "{listed}");
        assert_eq!(
            sessions.iter().filter(|s| s["current"] == true).count(),
            1,
            "{listed}"
        );
        let ended = first
            .post(app.url("/api/v1/auth/logout-everywhere"))
            .header("x-csrf-token", &first_csrf)
            .send()
            .await
            .expect("logout everywhere");
        assert_eq!(ended.status(), StatusCode::OK);
        let body: serde_json::Value = ended.json().await.expect("json");
        assert_eq!(body["ended"], 2);
        for client in [&first, &second] {
            let me = client.get(app.url("/api/v1/me")).send().await.expect("me");
            assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
        }
        let me = other.get(app.url("/api/v1/me")).send().await.expect("me");
        assert_eq!(
            me.status(),
            StatusCode::OK,
            "another member is not signed out"
        );
        app.stop().await;
    }
}

/// A cookie-authenticated write from another site is refused even with the right CSRF token;
/// from our own origin, or with no `Origin` at all (a non-browser client), it goes through.
#[tokio::test]
async fn a_cookie_write_from_another_origin_is_refused() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("origin@example.com").await;
        let create = |origin: Option<String>| {
            let mut request = client
                .post(app.url("/api/v1/api-keys"))
                .header("x-csrf-token", &csrf)
                .json(&json!({ "name": "k" }));
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            request.send()
        };
        let foreign = create(Some("https://evil.example".into()))
            .await
            .expect("post");
        let (status, error) = error_of(foreign).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(error["code"], "origin_rejected");
        let ours = create(Some(app.url(""))).await.expect("post");
        assert_eq!(ours.status(), StatusCode::CREATED);
        let none = create(None).await.expect("post");
        assert_eq!(none.status(), StatusCode::CREATED);
        app.stop().await;
    }
}

//! Roles: admin routes refuse users (403) and anonymous callers (401).

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::account::{self, Role};
use tollgate_core::{Email, Secret, SystemClock};

use crate::support::{PASSWORD, TestApp, browser, error_of};

#[tokio::test]
async fn an_admin_route_refuses_anonymous_callers_and_plain_users() {
    for app in TestApp::all().await {
        let (status, error) = error_of(
            browser()
                .get(app.url("/api/v1/admin/users"))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
        );
        let (user, _) = app.signup("user@example.com").await;
        let (status, error) = error_of(
            user.get(app.url("/api/v1/admin/users"))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_admin_lists_users_in_pages_and_reads_the_audit_log() {
    for app in TestApp::all().await {
        let state = &app.running().state;
        account::register(
            &app.store,
            &SystemClock,
            &state.policy,
            &tollgate_core::password::InPlace,
            account::Registration {
                email: Email::parse("admin@example.com").expect("email"),
                password: Secret::new(PASSWORD.to_string()),
                role: Role::Admin,
                actor: None,
                signup: account::Signup::default(),
            },
        )
        .await
        .expect("admin");
        for i in 0..3 {
            app.signup(&format!("member{i}@example.com")).await;
        }
        let admin = browser();
        let login = admin
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "email": "admin@example.com", "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), StatusCode::OK);
        let page: Value = admin
            .get(app.url("/api/v1/admin/users?role=user&limit=2"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let emails: Vec<&str> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|u| u["email"].as_str().expect("email"))
            .collect();
        assert_eq!(emails, vec!["member2@example.com", "member1@example.com"]);
        let next = page["next_before"].as_str().expect("another page");
        let rest: Value = admin
            .get(app.url(&format!(
                "/api/v1/admin/users?role=user&limit=2&before={next}"
            )))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(rest["data"][0]["email"], "member0@example.com");
        assert!(rest["next_before"].is_null());

        let (status, error) = error_of(
            admin
                .get(app.url("/api/v1/admin/users?limit=0"))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(
            (status, error["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("limit"))
        );

        let audit: Value = admin
            .get(app.url("/api/v1/admin/audit"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let actions: Vec<&str> = audit["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| e["action"].as_str().expect("action"))
            .collect();
        assert_eq!(actions.iter().filter(|a| **a == "user.signup").count(), 3);
        assert!(actions.contains(&"admin.create"));
        app.stop().await;
    }
}

//! The webhook endpoint: verified before parsing, stored before acknowledged, once per id.

use reqwest::StatusCode;
use serde_json::json;
use tollgate_core::InboxStore;
use tollgate_core::inbox::EventStatus;
use tollgate_core::store::Page;

use crate::support::{TestApp, browser, error_of, now_unix, stripe_signature};

fn event(id: &str, kind: &str) -> String {
    json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": now_unix(),
        "api_version": "2026-09-30.endive",
        "livemode": false,
        "data": { "object": { "id": "cus_unknown", "object": "customer" } }
    })
    .to_string()
}

async fn post(
    app: &TestApp,
    path: &str,
    body: String,
    signature: Option<String>,
) -> reqwest::Response {
    let mut request = browser()
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    request.send().await.expect("post")
}

#[tokio::test]
async fn forged_stale_oversized_and_garbage_deliveries_are_rejected_and_store_nothing() {
    for app in TestApp::all().await {
        let body = event("evt_forged", "customer.updated");
        let cases = [
            ("no signature", None, "signature_missing"),
            (
                "wrong secret",
                Some(tollgate_server::notify::signature(
                    "whsec_not_ours",
                    now_unix(),
                    &body,
                )),
                "signature_mismatch",
            ),
            (
                "stale",
                Some(stripe_signature(&body, now_unix() - 3600)),
                "signature_expired",
            ),
            (
                "malformed header",
                Some("v1=abc".to_string()),
                "signature_malformed",
            ),
        ];
        for (case, signature, code) in cases {
            let (status, error) =
                error_of(post(&app, "/api/v1/stripe/webhook", body.clone(), signature).await).await;
            assert_eq!(
                (status, error["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some(code)),
                "{case}"
            );
        }
        let garbage = "this is not json".to_string();
        let (status, error) = error_of(
            post(
                &app,
                "/api/v1/stripe/webhook",
                garbage.clone(),
                Some(stripe_signature(&garbage, now_unix())),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "signed but not JSON");
        assert_eq!(error["code"], "event_malformed");
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let oversized = post(
            &app,
            "/api/v1/stripe/webhook",
            huge.clone(),
            Some(stripe_signature(&huge, now_unix())),
        )
        .await;
        assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Only the emulator's own deliveries (its catalog events) may be in the inbox.
        let stored = app
            .store
            .events(
                None,
                Page {
                    limit: 100,
                    before: None,
                },
            )
            .await
            .expect("events");
        assert!(
            stored.iter().all(|e| !e.payload.contains("cus_unknown")
                && !e.payload.contains("\"pad\"")
                && !e.payload.contains("not json")),
            "a rejected delivery was stored: {stored:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_duplicate_delivery_is_acknowledged_and_stored_once_and_every_seed_path_works() {
    for app in TestApp::all().await {
        let body = event("evt_dup_1", "charge.succeeded");
        for path in [
            "/api/v1/stripe/webhook",
            "/api/stripe/webhook",
            "/api/webhooks/stripe",
        ] {
            let response = post(
                &app,
                path,
                body.clone(),
                Some(stripe_signature(&body, now_unix())),
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        let stored = app
            .store
            .events(
                None,
                Page {
                    limit: 100,
                    before: None,
                },
            )
            .await
            .expect("events");
        let ours: Vec<_> = stored
            .iter()
            .filter(|e| e.id.as_str() == "evt_dup_1")
            .collect();
        assert_eq!(ours.len(), 1, "stored once");
        assert_eq!(
            ours[0].status,
            EventStatus::Ignored,
            "an unhandled type is stored as ignored"
        );
        let token_path = post(
            &app,
            "/webhook/stripe/anything",
            body.clone(),
            Some(stripe_signature(&body, now_unix())),
        )
        .await;
        assert_eq!(
            token_path.status(),
            StatusCode::NOT_FOUND,
            "no token configured: no such path"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn the_token_path_needs_the_configured_token() {
    let token = "a-long-path-token-0123456789";
    for app in TestApp::all_with(|c| {
        c.stripe.webhook_path_token = Some(tollgate_core::Secret::new(token.to_string()))
    })
    .await
    {
        let body = event("evt_token_1", "charge.succeeded");
        let wrong = post(
            &app,
            "/webhook/stripe/wrong-token-0123456789",
            body.clone(),
            Some(stripe_signature(&body, now_unix())),
        )
        .await;
        assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
        let right = post(
            &app,
            &format!("/webhook/stripe/{token}"),
            body.clone(),
            Some(stripe_signature(&body, now_unix())),
        )
        .await;
        assert_eq!(right.status(), StatusCode::OK);
        app.stop().await;
    }
}

#[tokio::test]
async fn an_event_about_a_stranger_is_ignored_and_an_admin_can_replay_it() {
    for app in TestApp::all().await {
        let body = event("evt_stranger_1", "customer.updated");
        let response = post(
            &app,
            "/api/v1/stripe/webhook",
            body.clone(),
            Some(stripe_signature(&body, now_unix())),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let id = tollgate_core::stripe::StripeEventId::parse("evt_stranger_1").expect("id");
        let settled = crate::support::eventually(15, "the worker to settle the event", || async {
            let event = app.store.event(&id).await.expect("get").expect("stored");
            (event.status != EventStatus::Received).then_some(event)
        })
        .await;
        // The emulator has no such customer: nothing to apply, and retrying cannot help.
        assert_eq!(settled.status, EventStatus::Ignored, "{settled:?}");
        assert!(
            settled
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("does not exist")),
            "{settled:?}"
        );

        let (member, member_csrf) = app.signup("member@example.com").await;
        let forbidden = member
            .post(app.url("/api/v1/admin/events/evt_stranger_1/replay"))
            .header("x-csrf-token", member_csrf)
            .send()
            .await
            .expect("post");
        assert_eq!(
            forbidden.status(),
            StatusCode::FORBIDDEN,
            "members cannot replay"
        );

        let (admin, admin_csrf) = crate::support::admin(&app, "ops@example.com").await;
        let replayed = admin
            .post(app.url("/api/v1/admin/events/evt_stranger_1/replay"))
            .header("x-csrf-token", admin_csrf)
            .send()
            .await
            .expect("post");
        assert_eq!(replayed.status(), StatusCode::OK);
        let first_settled_at = settled.processed_at.expect("settled");
        let again =
            crate::support::eventually(15, "the replayed event to settle again", || async {
                let event = app.store.event(&id).await.expect("get").expect("stored");
                (event.status == EventStatus::Ignored
                    && event.processed_at.is_some_and(|at| at > first_settled_at))
                .then_some(event)
            })
            .await;
        assert_eq!(again.attempts, 1, "a replay starts the attempts afresh");
        let listed: serde_json::Value = admin
            .get(app.url("/api/v1/admin/events?status=ignored"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert!(
            listed["data"]
                .as_array()
                .expect("data")
                .iter()
                .any(|e| e["id"] == "evt_stranger_1"),
            "{listed}"
        );
        app.stop().await;
    }
}

/// Issue 24, finding 8: on PostgreSQL the deliveries that arrive together share one INSERT;
/// a row the database refuses (here a real trigger raising on a marked payload) must fail
/// alone, not the whole batch. (SQLite's served inbox is the journal, which writes no batch
/// statement; this is PostgreSQL's failure mode.)
#[tokio::test]
async fn one_unstorable_event_fails_alone_not_the_deliveries_that_shared_its_batch() {
    let Some(server) = tollgate_store::testing::postgres_url() else {
        return;
    };
    let database = tollgate_store::testing::TestDatabase::postgres(&server).await;
    let app = TestApp::spawn(database, |_| {}).await;
    let pool = sqlx::PgPool::connect(app.database_url())
        .await
        .expect("connect");
    for statement in [
        "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
         IF NEW.payload LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned row'; END IF; \
         RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON stripe_events \
         FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ] {
        sqlx::query(statement)
            .execute(&pool)
            .await
            .expect(statement);
    }
    pool.close().await;
    let client = browser();
    let deliveries: Vec<(bool, String)> = (0..210)
        .map(|i| {
            let poisoned = i % 21 == 0;
            let kind = if poisoned {
                "poison.created"
            } else {
                "product.created"
            };
            (poisoned, event(&format!("evt_batch_{i:04}"), kind))
        })
        .collect();
    let requests = deliveries.iter().map(|(_, body)| {
        let client = &client;
        let app = &app;
        async move {
            client
                .post(app.url("/api/v1/stripe/webhook"))
                .header("content-type", "application/json")
                .header("stripe-signature", stripe_signature(body, now_unix()))
                .body(body.clone())
                .send()
                .await
                .expect("post")
        }
    });
    let statuses = crate::support::statuses_at_once(requests).await;
    for ((poisoned, body), status) in deliveries.iter().zip(&statuses) {
        let expected = if *poisoned {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        assert_eq!(*status, expected, "{body}");
    }
    let stored = app
        .store
        .events(
            None,
            Page {
                limit: 500,
                before: None,
            },
        )
        .await
        .expect("events");
    let ours = stored
        .iter()
        .filter(|e| e.id.as_str().starts_with("evt_batch_"))
        .count();
    assert_eq!(ours, 200, "every good delivery is stored, once");
    app.stop().await;
}

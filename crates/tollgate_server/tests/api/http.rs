//! HTTP conventions: error shapes, body limits, content types, request ids, health, metrics.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, browser, error_of};

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    for app in TestApp::all_with(|c| c.server.body_limit_bytes = 4096).await {
        let body = format!(
            "{{\"email\":\"a@example.com\",\"password\":\"{}\"}}",
            "x".repeat(10_000)
        );
        let response = browser()
            .post(app.url("/api/v1/auth/signup"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        let (status, error) = error_of(response).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn malformed_json_and_bad_fields_are_400_naming_the_field() {
    for app in TestApp::all().await {
        let post = |body: &'static str| {
            browser()
                .post(app.url("/api/v1/auth/signup"))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let (status, error) = error_of(post("{\"email\": ").await.expect("post")).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json"))
        );
        let (status, error) = error_of(
            post(r#"{"email":"not-an-email","password":"0123456789ab"}"#)
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(
            (status, error["code"].as_str(), error["field"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("invalid_field"),
                Some("email")
            )
        );
        let (status, error) =
            error_of(post(r#"{"email":"a@example.com"}"#).await.expect("post")).await;
        assert_eq!(
            (status, error["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("password"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    for app in TestApp::all().await {
        let response = browser()
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .expect("post");
        let (status, error) = error_of(response).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("unsupported_media_type")
            )
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_callers() {
    for app in TestApp::all().await {
        let client = browser();
        let generated = client.get(app.url("/healthz")).send().await.expect("get");
        assert!(
            generated.headers()["x-request-id"]
                .to_str()
                .expect("ascii")
                .len()
                >= 16
        );
        let kept = client
            .get(app.url("/nowhere"))
            .header("x-request-id", "req-abc-123")
            .send()
            .await
            .expect("get");
        assert_eq!(kept.headers()["x-request-id"], "req-abc-123");
        let (status, error) = error_of(kept).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    for app in TestApp::all().await {
        let client = browser();
        let health: Value = client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(health["status"], "ok");
        let ready = client.get(app.url("/readyz")).send().await.expect("get");
        assert_eq!(ready.status(), StatusCode::OK);
        let wrong_method = client
            .delete(app.url("/healthz"))
            .send()
            .await
            .expect("delete");
        assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
        let metrics = client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains(
                "tollgate_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains("tollgate_http_request_duration_seconds_count{route=\"/readyz\"} 1"),
            "{metrics}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    for app in TestApp::all().await {
        app.store.close().await;
        let response = browser().get(app.url("/readyz")).send().await.expect("get");
        let (status, error) = error_of(response).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("service_unavailable"))
        );
        assert!(
            !error.to_string().contains("pool"),
            "no internal detail in the body: {error}"
        );
        app.stop().await;
    }
}

/// Issue 24, finding 5: no security headers anywhere, and `/api/v1/me` (which returns the CSRF
/// token) cacheable.
#[tokio::test]
async fn every_response_carries_the_security_headers() {
    for app in TestApp::all().await {
        let (client, _) = app.signup("headers@example.com").await;
        for path in [
            "/healthz",
            "/api/v1/me",
            "/dashboard",
            "/login",
            "/no-such-path",
        ] {
            let response = client.get(app.url(path)).send().await.expect("get");
            let headers = response.headers();
            for (name, value) in [
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("referrer-policy", "strict-origin-when-cross-origin"),
                ("cache-control", "no-store"),
            ] {
                assert_eq!(
                    headers.get(name).and_then(|v| v.to_str().ok()),
                    Some(value),
                    "{name} on {path}"
                );
            }
            let csp = headers["content-security-policy"].to_str().expect("csp");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(
                headers.get("strict-transport-security").is_none(),
                "HSTS only when served over https"
            );
        }
        // The compiled-in assets keep their own caching.
        let css = client
            .get(app.url("/assets/app.css"))
            .send()
            .await
            .expect("css");
        assert_ne!(css.headers()["cache-control"], "no-store");
    }
}

/// Issue 24, finding 10: made-up HTTP methods each became a metrics series.
#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    for app in TestApp::all().await {
        let client = browser();
        for n in 0..40 {
            let method =
                reqwest::Method::from_bytes(format!("BREW{n}").as_bytes()).expect("method");
            client
                .request(method, app.url("/healthz"))
                .send()
                .await
                .expect("request");
        }
        let metrics = client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(!metrics.contains("BREW"), "{metrics}");
        assert!(metrics.contains("method=\"other\""), "{metrics}");
    }
}

/// Issue 24, findings 7 and 11: a NUL in stored text was a 503 on PostgreSQL ("retry later"),
/// and an undecodable path parameter the one plain-text error.
#[tokio::test]
async fn a_nul_in_text_and_an_undecodable_path_get_the_apis_own_errors() {
    for app in TestApp::all().await {
        let (client, csrf) = app.signup("nul@example.com").await;
        let (status, error) = error_of(
            client
                .post(app.url("/api/v1/api-keys"))
                .header("x-csrf-token", &csrf)
                .header("content-type", "application/json")
                .body(r#"{"name":"bad\u0000name"}"#)
                .send()
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["code"], "invalid_field");

        let event = r#"{"id":"evt_nul_1","object":"event","type":"customer.updated\u0000","created":1700000000,"livemode":false,"data":{"object":{"id":"cus_1","object":"customer"}}}"#;
        let now = crate::support::now_unix();
        let (status, error) = error_of(
            browser()
                .post(app.url("/api/v1/stripe/webhook"))
                .header(
                    "stripe-signature",
                    crate::support::stripe_signature(event, now),
                )
                .body(event)
                .send()
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["code"], "event_malformed");

        let (status, error) = error_of(
            client
                .get(app.url("/api/v1/payments/%FF%FE"))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error["code"], "not_found");
    }
}

/// Issue 24, finding 12: with a secret key and an API base that is not Stripe's, `serve`
/// refuses to start and says what to fix, instead of answering 503 to every request later.
#[tokio::test]
async fn a_wrong_stripe_api_base_refuses_to_start_with_a_clear_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nNot Found",
                )
                .await;
        }
    });
    let database = tollgate_store::testing::TestDatabase::sqlite();
    let mut config = tollgate_server::Config::default();
    config.server.bind = "127.0.0.1:0".parse().expect("address");
    config.database.url = tollgate_server::config::DatabaseUrl::new(database.url.clone());
    config.stripe.secret_key = Some(tollgate_core::Secret::new("sk_test_anything".into()));
    config.stripe.api_base = Some(base);
    let store = tollgate_server::serve::open_serving_store(&config)
        .await
        .expect("store");
    let error = crate::support::start_error(config, store).await;
    assert!(error.contains("stripe.api_base"), "{error}");
    assert!(!error.contains("sk_test_anything"), "{error}");
}

/// Issue 24, finding 6: a request refused before its body is read (401 here) must not break
/// the keep-alive connection for the next request on it. On a raw TCP connection (no client
/// that would quietly reconnect), refused POSTs with a 200 KB body, one after the other: each
/// is answered, and a connection the server will not read on is announced with
/// `Connection: close` (the client then opens another), never dropped silently.
#[tokio::test]
async fn refusals_before_the_body_is_read_keep_the_connection_usable() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let app = TestApp::spawn(tollgate_store::testing::TestDatabase::sqlite(), |_| {}).await;
    let address = app.url("").trim_start_matches("http://").to_string();
    let connect = || async {
        BufReader::new(
            tokio::net::TcpStream::connect(&address)
                .await
                .expect("connect"),
        )
    };
    let mut socket = connect().await;
    let body = "x".repeat(200 * 1024);
    for i in 0..200 {
        let request = format!(
            "POST /api/v1/subscription/cancel HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("request {i} could not be sent: {e}"));
        let mut status = String::new();
        socket.read_line(&mut status).await.expect("status line");
        assert!(
            status.starts_with("HTTP/1.1 401"),
            "request {i}: {status:?}"
        );
        let mut length = 0;
        let mut close = false;
        loop {
            let mut line = String::new();
            socket.read_line(&mut line).await.expect("header");
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("content-length:") {
                length = value.trim().parse().expect("length");
            }
            close |= line == "connection: close";
        }
        let mut answer = vec![0; length];
        socket.read_exact(&mut answer).await.expect("body");
        if close {
            socket = connect().await;
        }
    }
    app.stop().await;
}

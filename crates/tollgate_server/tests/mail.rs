//! Admin email: `Mailer` against a real SMTP listener on port 0 written here (plain text, the
//! minimal dialogue), and the words `compose` chooses for each notification topic.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;
use tollgate_core::Secret;
use tollgate_server::mail::{Mailer, SmtpConfig, SmtpTls, compose};

#[path = "common/smtp.rs"]
mod smtp;
use smtp::{Behaviour, smtp_listener};

const DEADLINE: Duration = Duration::from_secs(10);
const USER: &str = "0b9f4c1e-8d7a-4a35-9a57-3c2e61f0a001";

fn plain_config(address: SocketAddr) -> SmtpConfig {
    SmtpConfig {
        host: address.ip().to_string(),
        port: address.port(),
        tls: SmtpTls::None,
        from: "tollgate <billing@tollgate.test>".to_owned(),
        timeout_seconds: 5,
        ..SmtpConfig::default()
    }
}

fn with_login(config: SmtpConfig, password: &str) -> SmtpConfig {
    SmtpConfig {
        username: Some("billing".to_owned()),
        password: Some(Secret::new(password.to_owned())),
        ..config
    }
}

#[tokio::test]
async fn a_message_reaches_every_recipient_with_its_subject_and_body() {
    let (address, mut session) = smtp_listener(Behaviour::Accept).await;
    let mailer = Mailer::new(&plain_config(address)).expect("valid config");
    let to = vec![
        "ada@example.com".to_owned(),
        "Grace Hopper <grace@example.com>".to_owned(),
    ];

    tokio::time::timeout(
        DEADLINE,
        mailer.send(
            &to,
            "Payment confirmed for ada@example.com: 49.00 USD",
            "A payment was confirmed.\n\nAmount paid: 49.00 USD\n",
        ),
    )
    .await
    .expect("sends before the deadline")
    .expect("the server accepts the message");

    let session = tokio::time::timeout(DEADLINE, session.recv())
        .await
        .expect("the session ends before the deadline")
        .expect("the listener reports the session");
    assert_eq!(session.mail_from.as_deref(), Some("billing@tollgate.test"));
    assert_eq!(session.rcpt_to, ["ada@example.com", "grace@example.com"]);
    let headers = session.data.split("\n\n").next().unwrap_or_default();
    assert!(
        headers
            .lines()
            .any(|h| h == "Subject: Payment confirmed for ada@example.com: 49.00 USD"),
        "{}",
        session.data
    );
    assert!(
        headers.lines().any(|h| h.starts_with("To: ")
            && h.contains("ada@example.com")
            && h.contains("grace@example.com")),
        "{}",
        session.data
    );
    assert!(
        headers
            .lines()
            .any(|h| h.starts_with("Content-Type: text/plain")),
        "{}",
        session.data
    );
    assert!(
        session
            .data
            .trim_end()
            .ends_with("\n\nA payment was confirmed.\n\nAmount paid: 49.00 USD"),
        "{}",
        session.data
    );
    assert!(session.quit, "the client said QUIT");
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_that_never_shows_the_password() {
    // Bind then drop: the port is free and nothing listens on it.
    let address = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds")
        .local_addr()
        .expect("has an address");
    let password = "hunter2-unreachable";
    let mailer = Mailer::new(&with_login(plain_config(address), password)).expect("valid config");

    let error = tokio::time::timeout(
        DEADLINE,
        mailer.send(&["ada@example.com".to_owned()], "subject", "body"),
    )
    .await
    .expect("fails before the deadline")
    .expect_err("nothing listens");

    assert!(error.contains(&address.to_string()), "{error}");
    assert!(!error.contains(password), "{error}");
    assert!(!format!("{mailer:?}").contains(password));
}

#[tokio::test]
async fn a_refused_login_is_an_error_that_never_shows_the_password_even_when_the_server_echoes_it()
{
    let password = "hunter2-echoed";
    let (address, _session) = smtp_listener(Behaviour::RejectLogin(
        "535 5.7.8 password hunter2-echoed is wrong\r\n",
    ))
    .await;
    let mailer = Mailer::new(&with_login(plain_config(address), password)).expect("valid config");

    let error = tokio::time::timeout(
        DEADLINE,
        mailer.send(&["ada@example.com".to_owned()], "subject", "body"),
    )
    .await
    .expect("fails before the deadline")
    .expect_err("the login is refused");

    assert!(error.contains("535"), "{error}");
    assert!(error.contains("[redacted]"), "{error}");
    assert!(!error.contains(password), "{error}");
}

#[tokio::test]
async fn a_server_that_never_answers_is_an_error_once_the_timeout_passes() {
    let (address, _session) = smtp_listener(Behaviour::Silent).await;
    let mailer = Mailer::new(&SmtpConfig {
        timeout_seconds: 1,
        ..plain_config(address)
    })
    .expect("valid config");

    let error = tokio::time::timeout(
        DEADLINE,
        mailer.send(&["ada@example.com".to_owned()], "subject", "body"),
    )
    .await
    .expect("gives up before the test's deadline")
    .expect_err("no answer");

    assert!(error.contains("no answer within 1 s"), "{error}");
}

#[tokio::test]
async fn a_recipient_that_is_not_a_mailbox_is_an_error_and_nothing_is_sent() {
    let (address, mut session) = smtp_listener(Behaviour::Accept).await;
    let mailer = Mailer::new(&plain_config(address)).expect("valid config");

    let error = mailer
        .send(
            &["ada@example.com".to_owned(), "not an address".to_owned()],
            "subject",
            "body",
        )
        .await
        .expect_err("refused");
    assert!(error.contains("\"not an address\""), "{error}");
    assert!(
        mailer.send(&[], "subject", "body").await.is_err(),
        "no recipients"
    );

    drop(mailer);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), session.recv())
            .await
            .is_err(),
        "the listener never got a connection"
    );
}

#[test]
fn a_confirmed_payment_reads_payment_confirmed_with_the_amount_paid() {
    let payload =
        json!({ "user_id": USER, "invoice": "in_123", "amount_paid": 4900, "currency": "usd" });

    let (subject, body) = compose("payment.succeeded", &payload, Some("ada@example.com"));

    assert_eq!(subject, "Payment confirmed for ada@example.com: 49.00 USD");
    assert!(body.starts_with("A payment was confirmed.\n"), "{body}");
    for line in [
        "Member: ada@example.com",
        &format!("User id: {USER}"),
        "Amount paid: 49.00 USD",
        "Invoice: in_123",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} in {body}");
    }
}

#[test]
fn a_failed_payment_reads_payment_failed_with_the_amount_due() {
    let payload =
        json!({ "user_id": USER, "invoice": "in_456", "amount_due": 1999, "currency": "eur" });

    let (subject, body) = compose("payment.failed", &payload, Some("ada@example.com"));

    assert_eq!(subject, "Payment failed for ada@example.com: 19.99 EUR");
    assert!(body.starts_with("A payment failed."), "{body}");
    assert!(body.lines().any(|l| l == "Amount due: 19.99 EUR"), "{body}");
    assert!(body.lines().any(|l| l == "Invoice: in_456"), "{body}");
}

#[test]
fn an_activated_subscription_reads_subscription_active_with_the_plan() {
    let payload =
        json!({ "user_id": USER, "subscription": "sub_1", "status": "active", "plan": "pro" });

    let (subject, body) = compose("subscription.activated", &payload, Some("ada@example.com"));

    assert_eq!(subject, "Subscription active for ada@example.com: pro");
    for line in ["Plan: pro", "Status: active", "Subscription: sub_1"] {
        assert!(body.lines().any(|l| l == line), "{line:?} in {body}");
    }
}

#[test]
fn a_canceled_subscription_reads_subscription_ended_and_names_the_user_when_the_email_is_unknown() {
    let payload =
        json!({ "user_id": USER, "subscription": "sub_1", "status": "canceled", "plan": "pro" });

    let (subject, body) = compose("subscription.canceled", &payload, None);

    assert_eq!(subject, format!("Subscription ended for user {USER}: pro"));
    assert!(body.starts_with("A subscription has ended."), "{body}");
    assert!(body.lines().any(|l| l == "Member: unknown email"), "{body}");
    assert!(body.lines().any(|l| l == "Status: canceled"), "{body}");
}

#[test]
fn yen_amounts_have_no_decimals_and_kuwaiti_dinar_amounts_have_three() {
    let paid = |amount: i64, currency: &str| {
        let payload = json!({ "user_id": USER, "invoice": "in_1", "amount_paid": amount, "currency": currency });
        compose("payment.succeeded", &payload, Some("ada@example.com")).0
    };

    assert_eq!(
        paid(4900, "jpy"),
        "Payment confirmed for ada@example.com: 4900 JPY"
    );
    assert_eq!(
        paid(4900, "kwd"),
        "Payment confirmed for ada@example.com: 4.900 KWD"
    );
    assert_eq!(
        paid(12345, "KWD"),
        "Payment confirmed for ada@example.com: 12.345 KWD"
    );
    assert_eq!(
        paid(1000, "krw"),
        "Payment confirmed for ada@example.com: 1000 KRW"
    );
    assert_eq!(
        paid(7, "bhd"),
        "Payment confirmed for ada@example.com: 0.007 BHD"
    );
    assert_eq!(
        paid(5, "usd"),
        "Payment confirmed for ada@example.com: 0.05 USD"
    );
}

#[test]
fn a_subject_never_spans_lines_even_when_the_payload_has_newlines() {
    let payload = json!({ "user_id": USER, "subscription": "sub_1", "status": "active", "plan": "pro\r\nBcc: everyone@example.com" });

    let (subject, _) = compose(
        "subscription.activated",
        &payload,
        Some("ada@example.com\n"),
    );

    assert!(!subject.contains(['\r', '\n']), "{subject:?}");
}

#[test]
fn an_unknown_topic_still_has_a_subject_and_shows_its_payload() {
    let payload = json!({ "user_id": USER, "credits": 30 });

    let (subject, body) = compose("credits.granted", &payload, None);

    assert_eq!(
        subject,
        format!("tollgate notification credits.granted for user {USER}")
    );
    assert!(body.contains("\"credits\": 30"), "{body}");
}

//! Admin email over SMTP (seed 000's `notifyAdmin`): settings, sending, and the words of each notification; the SMTP password never leaves its `Secret` or shows in an error.

use std::str::FromStr;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MessageBuilder};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use tollgate_core::Secret;

/// The `[notifications.smtp]` table. An empty `host` turns email off.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// The SMTP server's host name; `""` means email is disabled.
    pub host: String,
    /// 587 for STARTTLS (the default), 465 for implicit TLS, 25 for a local relay.
    pub port: u16,
    /// Set both `username` and `password` to log in, or neither.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    pub tls: SmtpTls,
    /// The longest one message may take, connecting included.
    pub timeout_seconds: u64,
}

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text: only for a relay on this machine (a password is refused elsewhere).
    None,
    /// Upgrade with STARTTLS and refuse to go on without it (no downgrade).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            username: None,
            password: None,
            from: "tollgate <billing@localhost>".to_owned(),
            tls: SmtpTls::StartTls,
            timeout_seconds: 10,
        }
    }
}

const MAX_TIMEOUT_SECONDS: u64 = 300;

impl SmtpConfig {
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }

    /// Checks an enabled configuration; a disabled one is always valid. The error names the bad key.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        let host = &self.host;
        // A name or a bare IP address: `host:port`, `[::1]` and URLs would fail only at the first send.
        let is_ip = host.parse::<std::net::IpAddr>().is_ok();
        if !is_ip && (host.contains([':', '/', '[', ']']) || host.chars().any(char::is_whitespace))
        {
            return Err(format!(
                "notifications.smtp.host: {host:?} is not a host name (give the port and TLS in notifications.smtp.port and notifications.smtp.tls)"
            ));
        }
        if self.port == 0 {
            return Err("notifications.smtp.port: must be between 1 and 65535".to_owned());
        }
        Mailbox::from_str(&self.from)
            .map_err(|_| format!("notifications.smtp.from: not a mailbox: {:?}", self.from))?;
        match (&self.username, &self.password) {
            (Some(username), _) if username.is_empty() => {
                return Err(
                    "notifications.smtp.username: empty (leave it out to send without logging in)"
                        .to_owned(),
                );
            }
            (Some(_), None) => {
                return Err("notifications.smtp.password: missing (a username is set)".to_owned());
            }
            (None, Some(_)) => {
                return Err("notifications.smtp.username: missing (a password is set)".to_owned());
            }
            (Some(_), Some(_)) if self.tls == SmtpTls::None && !is_loopback(host) => {
                return Err(format!(
                    "notifications.smtp.tls: \"none\" would send the password in clear text to {host:?}; use \"starttls\" or \"tls\""
                ));
            }
            _ => {}
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > MAX_TIMEOUT_SECONDS {
            return Err(format!(
                "notifications.smtp.timeout_seconds: must be between 1 and {MAX_TIMEOUT_SECONDS}"
            ));
        }
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Sends plain-text email through one SMTP server; cheap to clone, one connection per message.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    /// Kept only to scrub it from server replies that end up in errors.
    password: Option<Secret>,
    host: String,
    port: u16,
    tls: SmtpTls,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for a valid, enabled configuration.
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        if !config.enabled() {
            return Err("notifications.smtp.host: empty, email is disabled".to_owned());
        }
        config.validate()?;
        let from = Mailbox::from_str(&config.from)
            .map_err(|_| format!("notifications.smtp.from: not a mailbox: {:?}", config.from))?;
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| format!("notifications.smtp.host: cannot use for TLS: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| format!("notifications.smtp.host: cannot use for TLS: {e}"))?,
        };
        let timeout = Duration::from_secs(config.timeout_seconds);
        let mut builder = builder.port(config.port).timeout(Some(timeout));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().clone(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            timeout,
            password: config.password.clone(),
            host: config.host.clone(),
            port: config.port,
            tls: config.tls,
        })
    }

    /// Sends one plain-text message to every recipient; Err carries a short reason (never a password).
    pub async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), String> {
        if to.is_empty() {
            return Err("no recipients".to_owned());
        }
        let mut message: MessageBuilder = Message::builder()
            .from(self.from.clone())
            .message_id(Some(format!(
                "<{}@{}>",
                uuid::Uuid::new_v4(),
                self.from.email.domain()
            )))
            .subject(one_line(subject))
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox = Mailbox::from_str(address)
                .map_err(|_| format!("recipient {address:?} is not a mailbox"))?;
            message = message.to(mailbox);
        }
        let message = message
            .body(body.to_owned())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        // lettre bounds only the connect with its timeout; a server that stops answering
        // mid-conversation must not hold the delivery worker forever.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(self.scrub(format!("SMTP {}:{}: {e}", self.host, self.port))),
            Err(_elapsed) => Err(format!(
                "SMTP {}:{}: no answer within {} s",
                self.host,
                self.port,
                self.timeout.as_secs()
            )),
        }
    }

    /// Server replies are quoted in lettre's errors; a server that echoes the password must not leak it.
    fn scrub(&self, reason: String) -> String {
        match &self.password {
            Some(password) if !password.expose().is_empty() => {
                reason.replace(password.expose().as_str(), tollgate_core::secret::REDACTED)
            }
            _ => reason,
        }
    }
}

/// Header values are single lines: a newline in a subject would start a new header.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The subject and body of the email for a notification topic ("subscription.activated", "payment.succeeded", "payment.failed", "subscription.canceled") and its JSON payload (fields such as user_id, invoice, amount_paid, currency, subscription, status, plan). Plain words, e.g. "Payment confirmed for user …: 49.00 USD".
pub fn compose(
    topic: &str,
    payload: &serde_json::Value,
    member_email: Option<&str>,
) -> (String, String) {
    let field = |key: &str| text(payload.get(key));
    let user_id = field("user_id");
    let who = match (member_email, &user_id) {
        (Some(email), _) => one_line(email),
        (None, Some(id)) => format!("user {id}"),
        (None, None) => "an unknown user".to_owned(),
    };
    let amount = |key: &str| {
        payload
            .get(key)
            .and_then(serde_json::Value::as_i64)
            .map(|minor| money(minor, field("currency").as_deref()))
    };
    let (subject, opening, details) = match topic {
        "payment.succeeded" => {
            let paid = amount("amount_paid");
            (
                match &paid {
                    Some(paid) => format!("Payment confirmed for {who}: {paid}"),
                    None => format!("Payment confirmed for {who}"),
                },
                "A payment was confirmed.",
                vec![("Amount paid", paid), ("Invoice", field("invoice"))],
            )
        }
        "payment.failed" => {
            let due = amount("amount_due").or_else(|| amount("amount_paid"));
            (
                match &due {
                    Some(due) => format!("Payment failed for {who}: {due}"),
                    None => format!("Payment failed for {who}"),
                },
                "A payment failed. Stripe retries it on its own schedule; the member may need to update their payment method.",
                vec![("Amount due", due), ("Invoice", field("invoice"))],
            )
        }
        "subscription.activated" => (
            format!(
                "Subscription active for {who}: {}",
                field("plan").unwrap_or_else(|| "no plan".to_owned())
            ),
            "A subscription is now active.",
            subscription_details(&field),
        ),
        "subscription.canceled" => (
            format!(
                "Subscription ended for {who}: {}",
                field("plan").unwrap_or_else(|| "no plan".to_owned())
            ),
            "A subscription has ended.",
            subscription_details(&field),
        ),
        other => (
            format!("tollgate notification {} for {who}", one_line(other)),
            "tollgate recorded a billing fact it has no wording for; its payload follows.",
            vec![("Payload", serde_json::to_string_pretty(payload).ok())],
        ),
    };
    let mut body = format!("{opening}\n\n");
    body.push_str(&format!(
        "Member: {}\n",
        member_email.map_or_else(|| "unknown email".to_owned(), one_line)
    ));
    body.push_str(&format!(
        "User id: {}\n",
        user_id.as_deref().unwrap_or("unknown")
    ));
    for (label, value) in details {
        if let Some(value) = value {
            body.push_str(&format!("{label}: {value}\n"));
        }
    }
    body.push_str("\n-- \ntollgate\n");
    (one_line(&subject), body)
}

fn subscription_details(
    field: &dyn Fn(&str) -> Option<String>,
) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("Plan", field("plan")),
        ("Status", field("status")),
        ("Subscription", field("subscription")),
    ]
}

/// A payload value as one line of text; `null` and absent are `None`.
fn text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(one_line(s)),
        other => Some(one_line(&other.to_string())),
    }
}

/// `4900, "usd"` → `"49.00 USD"`: minor units over the currency's exponent, in integers only.
fn money(minor: i64, currency: Option<&str>) -> String {
    let code = currency.map(str::to_ascii_uppercase);
    let exponent = code.as_deref().map_or(2, exponent);
    let divisor = 10u64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let whole = abs / divisor;
    let number = if exponent == 0 {
        format!("{sign}{whole}")
    } else {
        let fraction = abs % divisor;
        let width = exponent as usize;
        format!("{sign}{whole}.{fraction:0width$}")
    };
    match code {
        Some(code) => format!("{number} {code}"),
        None => format!("{number} (currency unknown)"),
    }
}

/// Decimal places Stripe uses for a currency's minor unit
/// (<https://docs.stripe.com/currencies#zero-decimal>, `#three-decimal`).
fn exponent(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "JPY" | "KMF" | "KRW" | "MGA" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "JOD" | "KWD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".to_owned(),
            username: Some("billing".to_owned()),
            password: Some(Secret::new("hunter2-smtp".to_owned())),
            ..SmtpConfig::default()
        }
    }

    fn error_of(config: SmtpConfig) -> String {
        config.validate().expect_err("the config is refused")
    }

    #[test]
    fn the_default_config_is_disabled_and_valid() {
        let config = SmtpConfig::default();
        assert!(!config.enabled());
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.port, 587);
        assert_eq!(config.tls, SmtpTls::StartTls);
        assert_eq!(config.timeout_seconds, 10);
    }

    #[test]
    fn a_host_with_credentials_over_starttls_is_valid() {
        let config = enabled();
        assert!(config.enabled());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn a_from_that_is_not_a_mailbox_names_notifications_smtp_from() {
        let error = error_of(SmtpConfig {
            from: "billing at example".to_owned(),
            ..enabled()
        });
        assert!(
            error.starts_with("notifications.smtp.from: not a mailbox"),
            "{error}"
        );
    }

    #[test]
    fn a_url_or_a_host_with_its_port_names_notifications_smtp_host() {
        for host in [
            "smtp://smtp.example.com",
            "smtp.example.com:587",
            "[::1]",
            "smtp example",
        ] {
            let error = error_of(SmtpConfig {
                host: host.to_owned(),
                ..enabled()
            });
            assert!(
                error.starts_with("notifications.smtp.host:"),
                "{host}: {error}"
            );
        }
    }

    #[test]
    fn port_zero_names_notifications_smtp_port() {
        let error = error_of(SmtpConfig {
            port: 0,
            ..enabled()
        });
        assert!(error.starts_with("notifications.smtp.port:"), "{error}");
    }

    #[test]
    fn a_password_without_a_username_names_notifications_smtp_username() {
        let error = error_of(SmtpConfig {
            username: None,
            ..enabled()
        });
        assert!(error.starts_with("notifications.smtp.username:"), "{error}");
    }

    #[test]
    fn a_username_without_a_password_names_notifications_smtp_password() {
        let error = error_of(SmtpConfig {
            password: None,
            ..enabled()
        });
        assert!(error.starts_with("notifications.smtp.password:"), "{error}");
    }

    #[test]
    fn a_password_in_clear_text_to_a_remote_host_is_refused_without_showing_it() {
        let error = error_of(SmtpConfig {
            tls: SmtpTls::None,
            ..enabled()
        });
        assert!(error.starts_with("notifications.smtp.tls:"), "{error}");
        assert!(!error.contains("hunter2-smtp"), "{error}");
    }

    #[test]
    fn a_password_in_clear_text_to_a_local_relay_is_allowed() {
        for host in ["localhost", "127.0.0.1", "::1"] {
            let config = SmtpConfig {
                host: host.to_owned(),
                tls: SmtpTls::None,
                ..enabled()
            };
            assert_eq!(config.validate(), Ok(()), "{host}");
        }
    }

    #[test]
    fn a_timeout_of_zero_or_over_five_minutes_names_timeout_seconds() {
        for timeout_seconds in [0, MAX_TIMEOUT_SECONDS + 1] {
            let error = error_of(SmtpConfig {
                timeout_seconds,
                ..enabled()
            });
            assert!(
                error.starts_with("notifications.smtp.timeout_seconds:"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_disabled_config_cannot_make_a_mailer() {
        let error = Mailer::new(&SmtpConfig::default()).expect_err("disabled");
        assert!(error.starts_with("notifications.smtp.host:"), "{error}");
    }

    #[test]
    fn the_toml_table_reads_lowercase_tls_names_and_refuses_unknown_keys() {
        for (name, tls) in [
            ("none", SmtpTls::None),
            ("starttls", SmtpTls::StartTls),
            ("tls", SmtpTls::Tls),
        ] {
            let config: SmtpConfig =
                toml::from_str(&format!("host = \"smtp.example.com\"\ntls = \"{name}\""))
                    .expect("parses");
            assert_eq!(config.tls, tls);
            assert_eq!(config.port, 587, "unset keys keep their defaults");
        }
        assert!(toml::from_str::<SmtpConfig>("hots = \"smtp.example.com\"").is_err());
        assert!(toml::from_str::<SmtpConfig>("tls = \"STARTTLS\"").is_err());
    }

    #[test]
    fn a_serialized_config_shows_no_password() {
        let shown = serde_json::to_string(&enabled()).expect("serializes");
        assert!(!shown.contains("hunter2-smtp"), "{shown}");
        let mailer = Mailer::new(&enabled()).expect("valid");
        assert!(!format!("{mailer:?}").contains("hunter2-smtp"));
    }

    #[test]
    fn negative_amounts_keep_their_sign_and_extremes_do_not_overflow() {
        assert_eq!(money(-4900, Some("usd")), "-49.00 USD");
        assert_eq!(money(5, Some("eur")), "0.05 EUR");
        assert_eq!(money(i64::MIN, Some("jpy")), "-9223372036854775808 JPY");
        assert_eq!(money(i64::MAX, Some("kwd")), "9223372036854775.807 KWD");
        assert_eq!(money(100, None), "1.00 (currency unknown)");
    }
}

//! Delivers the outbox: signed JSON events POSTed to the host application's URLs, signed the
//! way Stripe signs (`Tollgate-Signature: t=…,v1=…`, HMAC-SHA256 of `"<t>.<body>"`), so a host
//! app verifies them with the code it already has for Stripe. Never on a request path.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tollgate_core::inbox;
use tollgate_core::notification::PendingMessage;

use crate::state::AppState;

pub const SIGNATURE_HEADER: &str = "tollgate-signature";
/// The channel of emails to every admin.
pub const ADMIN_EMAIL: &str = "email:admins";
const MAX_ATTEMPTS: u32 = 10;

/// `t=<unix>,v1=<hex>` for a body, keyed with the secret as given.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("BUG: HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

pub async fn run(state: AppState) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the notification HTTP client; notifications stay queued");
            return;
        }
    };
    let mailer = match state.config.notifications.smtp.enabled() {
        true => match crate::mail::Mailer::new(&state.config.notifications.smtp) {
            Ok(mailer) => Some(mailer),
            Err(e) => {
                tracing::error!(error = %e, "cannot build the SMTP mailer; emails stay queued");
                None
            }
        },
        false => None,
    };
    let idle = Duration::from_millis(state.config.worker.poll_interval_ms);
    loop {
        let claimed = state
            .store
            .claim_messages(state.clock.now(), state.config.worker.lease(), 16)
            .await;
        match claimed {
            Ok(messages) if messages.is_empty() => tokio::time::sleep(idle).await,
            Ok(messages) => {
                for message in messages {
                    deliver(&state, &client, mailer.as_ref(), message).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim notifications");
                tokio::time::sleep(idle).await;
            }
        }
    }
}

async fn deliver(
    state: &AppState,
    client: &reqwest::Client,
    mailer: Option<&crate::mail::Mailer>,
    pending: PendingMessage,
) {
    let now = state.clock.now();
    let channel = pending.message.channel.as_str();
    let result = match (
        channel.strip_prefix("webhook:"),
        channel == ADMIN_EMAIL,
        mailer,
    ) {
        (Some(url), _, _) => post(state, client, url, &pending).await,
        (None, true, Some(mailer)) => email_admins(state, mailer, &pending).await,
        (None, true, None) => Err("SMTP is not configured on this instance".to_string()),
        (None, false, _) => Err(format!("unknown channel {channel:?}")),
    };
    let settled = match result {
        Ok(()) => {
            state
                .store
                .settle_message(&pending.id, true, None, None, now)
                .await
        }
        Err(error) if pending.attempts >= MAX_ATTEMPTS => {
            tracing::error!(outbox.id = %pending.id, error = %error, "notification given up");
            state
                .store
                .settle_message(&pending.id, false, Some(&error), None, now)
                .await
        }
        Err(error) => {
            tracing::warn!(outbox.id = %pending.id, error = %error, "notification will be retried");
            let next = now + inbox::backoff(pending.attempts);
            state
                .store
                .settle_message(&pending.id, false, Some(&error), Some(next), now)
                .await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(outbox.id = %pending.id, error = %e, "cannot record a notification's outcome");
    }
}

/// Emails every admin about one fact, naming the member by email when we know it.
async fn email_admins(
    state: &AppState,
    mailer: &crate::mail::Mailer,
    pending: &PendingMessage,
) -> Result<(), String> {
    use tollgate_core::account::Role;
    use tollgate_core::store::Page;
    let admins = state
        .store
        .users(
            Some(Role::Admin),
            Page {
                limit: 1000,
                before: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let to: Vec<String> = admins
        .iter()
        .filter_map(|a| a.email.as_ref().map(|e| e.as_str().to_string()))
        .collect();
    if to.is_empty() {
        // Nobody to tell yet: not a failure worth retrying for hours.
        return Ok(());
    }
    let member = state
        .store
        .user(pending.message.user_id)
        .await
        .map_err(|e| e.to_string())?;
    let member_email = member
        .as_ref()
        .and_then(|u| u.email.as_ref())
        .map(|e| e.as_str());
    let (subject, body) = crate::mail::compose(
        pending.message.topic.as_str(),
        &pending.message.payload,
        member_email,
    );
    mailer.send(&to, &subject, &body).await
}

async fn post(
    state: &AppState,
    client: &reqwest::Client,
    url: &str,
    pending: &PendingMessage,
) -> Result<(), String> {
    let secret = state
        .config
        .notifications
        .webhook_secret
        .as_ref()
        .ok_or_else(|| "notifications.webhook_secret is not set".to_string())?;
    let message = &pending.message;
    let body = serde_json::json!({
        "id": pending.id,
        "type": message.topic.as_str(),
        "created": message.created_at.unix_timestamp(),
        "data": message.payload,
    })
    .to_string();
    let timestamp = state.clock.now().unix_timestamp();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header(
            SIGNATURE_HEADER,
            signature(secret.expose(), timestamp, &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST failed: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn notifications_are_signed_like_stripe_events() {
        // The vector of shared/stripe/README.md (payload copied beside the tests): the same
        // scheme, so the same result.
        let body = include_str!("../tests/fixtures/signature-test-payload.json");
        assert_eq!(
            signature("whsec_test_secret", 1_700_000_000, body),
            "t=1700000000,v1=4a2a3f39402d4bd02442ede6e477b3cbea42955b23b6d2cdab72e5a256f346f1"
        );
    }
}

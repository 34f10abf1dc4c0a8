//! Stripe webhook signatures: verifies `Stripe-Signature` against every configured secret, so only Stripe's events are acknowledged (invariant 1).
//!
//! The scheme (<https://docs.stripe.com/webhooks#verify-manually>): the header is
//! `t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`; each `v1` is HMAC-SHA256 of `"<t>.<raw body>"` keyed with
//! the endpoint secret exactly as given (`whsec_` included). Like Stripe's own libraries, a header is
//! accepted when any `v1` matches, and a timestamp older than the tolerance is refused while one in
//! the future is not.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tollgate_core::Secret;

pub use crate::envelope::{EnvelopeError, EventEnvelope, parse_envelope};

type HmacSha256 = Hmac<Sha256>;

/// Stripe's libraries default to five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A SHA-256 MAC is 32 bytes, 64 hex digits.
const SIGNATURE_LEN: usize = 32;

/// Why a webhook delivery is refused. `code()` is stable: it goes into logs, metrics and responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header cannot be read")]
    Malformed,
    #[error("no signature matches any configured webhook secret")]
    Mismatch,
    #[error("the signature timestamp is older than the tolerance")]
    Expired,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed => "signature_malformed",
            Self::Mismatch => "signature_mismatch",
            Self::Expired => "signature_expired",
        }
    }
}

/// Verifies deliveries against one or more endpoint secrets (several during a secret rotation, or
/// one per Stripe endpoint, e.g. a snapshot and a thin endpoint). `Debug` never shows a secret.
#[derive(Clone)]
pub struct WebhookVerifier {
    /// One MAC per secret, keyed once here: keying hashes the secret's padded blocks, which
    /// every delivery would otherwise repeat. `Hmac` holds key-derived state, so it never
    /// reaches `Debug`.
    keyed: Vec<HmacSha256>,
    tolerance: Duration,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secrets", &self.keyed.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl WebhookVerifier {
    pub fn new(secrets: Vec<Secret>, tolerance: Duration) -> Self {
        let keyed = secrets
            .iter()
            // HMAC takes a key of any length: nothing is left out here.
            .filter_map(|secret| HmacSha256::new_from_slice(secret.expose().as_bytes()).ok())
            .collect();
        Self { keyed, tolerance }
    }

    /// Accepts the delivery when any `v1` signature in the header is the MAC of this payload under
    /// any configured secret and the timestamp is within the tolerance of `now_unix`.
    /// The signature is checked before the timestamp, so `Expired` always means an authentic but old delivery.
    ///
    /// The secrets are tried in order and the first that matches ends the search: the body's
    /// hash is most of a delivery's CPU, and a rotation's second secret would double it. The
    /// comparisons themselves are constant-time; what stopping early shows (which secret signed
    /// an authentic delivery) is known to whoever could sign it.
    pub fn verify(
        &self,
        payload: &[u8],
        signature_header: Option<&str>,
        now_unix: i64,
    ) -> Result<(), SignatureError> {
        let header = signature_header
            .filter(|h| !h.trim().is_empty())
            .ok_or(SignatureError::Missing)?;
        let parsed = SignatureHeader::parse(header)?;

        let matched = self.keyed.iter().any(|keyed| {
            let mut mac = keyed.clone();
            mac.update(parsed.timestamp_text.as_bytes());
            mac.update(b".");
            mac.update(payload);
            let expected = mac.finalize().into_bytes();
            // Every `v1` entry is compared, whatever an earlier comparison said.
            let mut matched = false;
            for candidate in parsed.v1().flatten() {
                matched |= bool::from(expected.as_slice().ct_eq(&candidate[..]));
            }
            matched
        });
        if !matched {
            return Err(SignatureError::Mismatch);
        }

        let age = now_unix.saturating_sub(parsed.timestamp);
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        if age > tolerance {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

/// The parts of `Stripe-Signature` that matter, borrowed from the header.
struct SignatureHeader<'a> {
    timestamp: i64,
    /// The digits exactly as sent: they are what Stripe signed.
    timestamp_text: &'a str,
    header: &'a str,
}

impl<'a> SignatureHeader<'a> {
    fn parse(header: &'a str) -> Result<Self, SignatureError> {
        let mut timestamp = None;
        let mut has_v1 = false;
        for item in header.split(',') {
            let (key, value) = item.split_once('=').ok_or(SignatureError::Malformed)?;
            match key.trim() {
                "t" => {
                    let text = value.trim();
                    let value: i64 = text.parse().map_err(|_| SignatureError::Malformed)?;
                    timestamp = Some((value, text));
                }
                "v1" => has_v1 = true,
                // `v0` (test-mode legacy) and any future scheme are ignored, as Stripe's libraries do.
                _ => {}
            }
        }
        let (timestamp, timestamp_text) = timestamp.ok_or(SignatureError::Malformed)?;
        if !has_v1 {
            return Err(SignatureError::Malformed);
        }
        Ok(Self {
            timestamp,
            timestamp_text,
            header,
        })
    }

    /// Each `v1` entry, decoded; `None` for one that is not 64 hex digits (it can never match).
    fn v1(&self) -> impl Iterator<Item = Option<[u8; SIGNATURE_LEN]>> + '_ {
        self.header.split(',').filter_map(|item| {
            let (key, value) = item.split_once('=')?;
            (key.trim() == "v1").then(|| {
                let mut out = [0u8; SIGNATURE_LEN];
                hex::decode_to_slice(value.trim(), &mut out)
                    .ok()
                    .map(|()| out)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector of `/work/shared/stripe/README.md`: 137 bytes, no trailing newline.
    const VECTOR_BODY: &[u8] = include_bytes!("../tests/fixtures/signature-test-payload.json");
    const VECTOR_SECRET: &str = "whsec_test_secret";
    const VECTOR_T: i64 = 1_700_000_000;
    const VECTOR_V1: &str = "4a2a3f39402d4bd02442ede6e477b3cbea42955b23b6d2cdab72e5a256f346f1";

    fn verifier(secrets: &[&str]) -> WebhookVerifier {
        WebhookVerifier::new(
            secrets
                .iter()
                .map(|s| Secret::new((*s).to_owned()))
                .collect(),
            DEFAULT_TOLERANCE,
        )
    }

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn stripe_test_vector_is_accepted() {
        assert_eq!(VECTOR_BODY.len(), 137);
        assert_eq!(sign(VECTOR_SECRET, VECTOR_T, VECTOR_BODY), VECTOR_V1);
        let header = format!("t={VECTOR_T},v1={VECTOR_V1}");
        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(VECTOR_BODY, Some(&header), VECTOR_T + 10),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_is_a_mismatch() {
        let header = format!("t={VECTOR_T},v1={VECTOR_V1}");
        let mut body = VECTOR_BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(&body, Some(&header), VECTOR_T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn either_secret_verifies_during_a_rotation() {
        let both = verifier(&["whsec_old", "whsec_new"]);
        for secret in ["whsec_old", "whsec_new"] {
            let header = format!("t={VECTOR_T},v1={}", sign(secret, VECTOR_T, VECTOR_BODY));
            assert_eq!(
                both.verify(VECTOR_BODY, Some(&header), VECTOR_T),
                Ok(()),
                "{secret}"
            );
        }
        let header = format!(
            "t={VECTOR_T},v1={}",
            sign("whsec_other", VECTOR_T, VECTOR_BODY)
        );
        assert_eq!(
            both.verify(VECTOR_BODY, Some(&header), VECTOR_T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_matching_v1_entry_is_enough_and_v0_is_ignored() {
        let wrong = sign("whsec_other", VECTOR_T, VECTOR_BODY);
        let header = format!("t={VECTOR_T},v1={wrong},v1={VECTOR_V1},v0={wrong}");
        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(VECTOR_BODY, Some(&header), VECTOR_T),
            Ok(())
        );
        let only_v0 = format!("t={VECTOR_T},v0={VECTOR_V1},v1={wrong}");
        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(VECTOR_BODY, Some(&only_v0), VECTOR_T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_missing_or_empty_header_is_signature_missing() {
        let v = verifier(&[VECTOR_SECRET]);
        assert_eq!(
            v.verify(VECTOR_BODY, None, VECTOR_T),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.verify(VECTOR_BODY, Some("  "), VECTOR_T),
            Err(SignatureError::Missing)
        );
        assert_eq!(SignatureError::Missing.code(), "signature_missing");
    }

    #[test]
    fn headers_without_a_timestamp_or_a_v1_entry_are_malformed() {
        let v = verifier(&[VECTOR_SECRET]);
        for header in [
            format!("v1={VECTOR_V1}"),
            format!("t=soon,v1={VECTOR_V1}"),
            format!("t={VECTOR_T}"),
            format!("t={VECTOR_T},v0={VECTOR_V1}"),
            "garbage".to_owned(),
            format!("t={VECTOR_T};v1={VECTOR_V1}"),
        ] {
            assert_eq!(
                v.verify(VECTOR_BODY, Some(&header), VECTOR_T),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
        assert_eq!(SignatureError::Malformed.code(), "signature_malformed");
    }

    #[test]
    fn a_v1_entry_that_is_not_hex_never_matches() {
        let header = format!("t={VECTOR_T},v1=zz{}", &VECTOR_V1[2..]);
        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(VECTOR_BODY, Some(&header), VECTOR_T),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(SignatureError::Mismatch.code(), "signature_mismatch");
    }

    #[test]
    fn a_timestamp_older_than_the_tolerance_is_expired_but_a_future_one_is_not() {
        let header = format!("t={VECTOR_T},v1={VECTOR_V1}");
        let v = verifier(&[VECTOR_SECRET]);
        assert_eq!(v.verify(VECTOR_BODY, Some(&header), VECTOR_T + 300), Ok(()));
        assert_eq!(
            v.verify(VECTOR_BODY, Some(&header), VECTOR_T + 301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            v.verify(VECTOR_BODY, Some(&header), VECTOR_T - 3600),
            Ok(())
        );
        assert_eq!(SignatureError::Expired.code(), "signature_expired");
    }

    #[test]
    fn a_stale_forgery_is_a_mismatch_not_expired() {
        let header = format!(
            "t={VECTOR_T},v1={}",
            sign("whsec_other", VECTOR_T, VECTOR_BODY)
        );
        assert_eq!(
            verifier(&[VECTOR_SECRET]).verify(VECTOR_BODY, Some(&header), VECTOR_T + 10_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn no_configured_secret_accepts_nothing() {
        let header = format!("t={VECTOR_T},v1={VECTOR_V1}");
        assert_eq!(
            verifier(&[]).verify(VECTOR_BODY, Some(&header), VECTOR_T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let shown = format!("{:?}", verifier(&[VECTOR_SECRET]));
        assert!(!shown.contains("whsec_test_secret"), "{shown}");
    }
}

//! Properties of what a webhook delivery meets first (issue 24): whatever the `Stripe-Signature`
//! header and the body hold, verification answers without panicking and accepts exactly the
//! bytes a secret signed; whatever the body, the envelope parser (snapshot and thin events)
//! answers with an envelope or a coded error, never a panic.

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Sha256;
use tollgate_core::Secret;
use tollgate_stripe::webhook::{
    DEFAULT_TOLERANCE, SignatureError, WebhookVerifier, parse_envelope,
};

const NOW: i64 = 1_800_000_000;

fn verifier(secret: &str) -> WebhookVerifier {
    WebhookVerifier::new(vec![Secret::new(secret.to_string())], DEFAULT_TOLERANCE)
}

fn v1(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A header of Stripe's shape, with each part sometimes wrong: `t=`, `v1=`, `v0=`, junk.
fn header_parts() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        any::<i64>().prop_map(|t| format!("t={t}")),
        "[0-9a-f]{0,70}".prop_map(|h| format!("v1={h}")),
        "[0-9a-f]{64}".prop_map(|h| format!("v0={h}")),
        "[ -~]{0,20}",
        Just("=".to_string()),
        Just(String::new()),
    ];
    proptest::collection::vec(part, 0..6).prop_map(|parts| parts.join(","))
}

/// JSON of an event's shape with any field missing, of the wrong type, or odd.
fn event_like() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
        "evt_[A-Za-z0-9]{0,30}".prop_map(Value::from),
    ];
    let field =
        |name: &'static str| proptest::option::of(scalar.clone()).prop_map(move |v| (name, v));
    (
        field("id"),
        field("type"),
        field("created"),
        field("account"),
        field("livemode"),
        field("api_version"),
        proptest::option::of(prop_oneof![
            scalar.clone(),
            (
                proptest::option::of(scalar.clone()),
                proptest::option::of(scalar.clone())
            )
                .prop_map(|(id, object)| json!({ "object": { "id": id, "object": object } })),
        ]),
        proptest::option::of(
            (
                proptest::option::of(scalar.clone()),
                proptest::option::of(scalar.clone()),
            )
                .prop_map(|(id, kind)| json!({ "id": id, "type": kind })),
        ),
        proptest::option::of(Just("v2.core.event")),
    )
        .prop_map(
            |(id, kind, created, account, livemode, version, data, related, thin)| {
                let mut event = serde_json::Map::new();
                for (name, value) in [id, kind, created, account, livemode, version] {
                    if let Some(value) = value {
                        event.insert(name.to_string(), value);
                    }
                }
                if let Some(data) = data {
                    event.insert("data".into(), data);
                }
                if let Some(related) = related {
                    event.insert("related_object".into(), related);
                }
                if let Some(thin) = thin {
                    event.insert("object".into(), thin.into());
                }
                Value::Object(event)
            },
        )
}

proptest! {
    // No regression files: a failure prints its minimal input, which becomes a named test.
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_signature_header_is_answered_without_a_panic(header in "\\PC{0,200}", body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = verifier("whsec_property").verify(&body, Some(&header), NOW);
    }

    #[test]
    fn a_header_of_stripes_shape_is_refused_unless_signed(header in header_parts(), body in proptest::collection::vec(any::<u8>(), 0..300)) {
        // None of these parts is a signature of the body with this secret.
        prop_assert!(verifier("whsec_property").verify(&body, Some(&header), NOW).is_err());
    }

    #[test]
    fn a_signature_verifies_its_bytes_and_no_others(
        secret in "whsec_[A-Za-z0-9]{1,40}",
        body in proptest::collection::vec(any::<u8>(), 1..500),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
        skew in -300i64..=300,
    ) {
        let t = NOW + skew;
        let header = format!("t={t},v1={}", v1(&secret, t, &body));
        prop_assert_eq!(verifier(&secret).verify(&body, Some(&header), NOW), Ok(()));
        let mut changed = body.clone();
        let i = at.index(changed.len());
        changed[i] ^= 1 << bit;
        prop_assert_eq!(
            verifier(&secret).verify(&changed, Some(&header), NOW),
            Err(SignatureError::Mismatch)
        );
        prop_assert!(verifier("whsec_another").verify(&body, Some(&header), NOW).is_err());
    }

    #[test]
    fn any_text_is_parsed_or_refused_without_a_panic(payload in "\\PC{0,400}") {
        let _ = parse_envelope(&payload);
    }

    #[test]
    fn an_event_shaped_body_gives_an_envelope_or_a_coded_error(event in event_like()) {
        match parse_envelope(&event.to_string()) {
            Ok(envelope) => {
                prop_assert!(envelope.id.as_str().starts_with("evt_"));
                prop_assert_eq!(Some(envelope.event_type.as_str()), event["type"].as_str());
            }
            Err(error) => prop_assert!(error.code().starts_with("event_")),
        }
    }
}

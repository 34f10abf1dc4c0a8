//! The event envelope: the few fields of a Stripe event the inbox needs (id, type, account, object), read without building the whole event.
//!
//! Runs on the webhook acknowledgement path, so it borrows from the body and skips everything else
//! (serde ignores unknown fields without materialising them); the worker fetches the current object
//! from Stripe later (invariant 3). Two shapes arrive:
//! - snapshot events (`object: "event"`): `created` in unix seconds, the object under `data.object`,
//!   the connected account in `account` (<https://docs.stripe.com/api/events/object>);
//! - thin events (`object: "v2.core.event"`): `created` as an RFC 3339 string, a reference in
//!   `related_object {id, type}`, the account in `context` (<https://docs.stripe.com/event-destinations#thin-events>).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tollgate_core::inbox::{self, NewEvent};
use tollgate_core::stripe::StripeEventId;

/// What the inbox stores about an event before anything else happens to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEnvelope {
    pub id: StripeEventId,
    pub event_type: String,
    /// The connected account the event belongs to (`account`, or `context` on thin events).
    pub account: Option<String>,
    /// Unix seconds.
    pub created: i64,
    /// `None` on thin events, which are unversioned.
    pub api_version: Option<String>,
    pub livemode: bool,
    /// `data.object.id`, or `related_object.id` on thin events.
    pub object_id: Option<String>,
    /// `data.object.object` (e.g. `checkout.session`), or `related_object.type` on thin events.
    pub object_type: Option<String>,
}

impl EventEnvelope {
    /// The inbox record of this event: the envelope's fields, the verified payload as
    /// received, and the status it is stored with (`inbox::arrival_status`).
    pub fn into_new_event(self, payload: String, received_at: OffsetDateTime) -> NewEvent {
        NewEvent {
            status: inbox::arrival_status(&self.event_type, self.account.as_deref()),
            id: self.id,
            event_type: self.event_type,
            account: self.account,
            created: self.created,
            api_version: self.api_version,
            livemode: self.livemode,
            payload,
            received_at,
        }
    }
}

/// Why a verified payload is still not an event we can store. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the event is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("the event has no `{0}`")]
    MissingField(&'static str),
    #[error("the event id is not a Stripe event id")]
    InvalidId,
}

impl EnvelopeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "event_malformed",
            Self::MissingField(_) => "event_field_missing",
            Self::InvalidId => "event_id_invalid",
        }
    }
}

/// Reads the envelope of a snapshot or thin event from the body, already checked to be UTF-8
/// (the inbox stores it as text): parsing from `str` does not check each string again.
pub fn parse_envelope(payload: &str) -> Result<EventEnvelope, EnvelopeError> {
    let raw: RawEvent<'_> =
        serde_json::from_str(payload).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    let id = raw.id.ok_or(EnvelopeError::MissingField("id"))?;
    let id = StripeEventId::parse(&id).map_err(|_| EnvelopeError::InvalidId)?;
    let event_type = raw.event_type.ok_or(EnvelopeError::MissingField("type"))?;
    let created = raw.created.ok_or(EnvelopeError::MissingField("created"))?.0;
    let (object_id, object_type) = match (raw.data.and_then(|d| d.object), raw.related_object) {
        (Some(object), _) => (object.id, object.object),
        (None, Some(related)) => (related.id, related.kind),
        (None, None) => (None, None),
    };
    Ok(EventEnvelope {
        id,
        event_type: event_type.into_owned(),
        account: raw.account.or(raw.context).map(Cow::into_owned),
        created,
        api_version: raw.api_version.map(Cow::into_owned),
        livemode: raw.livemode.unwrap_or(false),
        object_id: object_id.map(Cow::into_owned),
        object_type: object_type.map(Cow::into_owned),
    })
}

/// Only the fields read; each string borrows from the body unless it holds escapes.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text", rename = "type")]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    account: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    context: Option<Cow<'a, str>>,
    created: Option<Created>,
    #[serde(borrow, default, deserialize_with = "text")]
    api_version: Option<Cow<'a, str>>,
    livemode: Option<bool>,
    #[serde(borrow)]
    data: Option<RawData<'a>>,
    #[serde(borrow)]
    related_object: Option<RawRelated<'a>>,
}

/// An optional string, borrowed from the body when it can be. `#[serde(borrow)]` alone does
/// not reach through `Option`: serde would copy every such string.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'de>>::deserialize(deserializer)?.map(|Text(text)| text))
}

#[derive(Deserialize)]
struct RawData<'a> {
    #[serde(borrow)]
    object: Option<RawObject<'a>>,
}

#[derive(Deserialize)]
struct RawObject<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    object: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawRelated<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text", rename = "type")]
    kind: Option<Cow<'a, str>>,
}

/// `created`: unix seconds on snapshot events, an RFC 3339 string on thin events.
struct Created(i64);

impl<'de> Deserialize<'de> for Created {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CreatedVisitor;

        impl Visitor<'_> for CreatedVisitor {
            type Value = Created;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("unix seconds or an RFC 3339 timestamp")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Created, E> {
                Ok(Created(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Created, E> {
                i64::try_from(v)
                    .map(Created)
                    .map_err(|_| E::custom("created is out of range"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Created, E> {
                OffsetDateTime::parse(v, &Rfc3339)
                    .map(|t| Created(t.unix_timestamp()))
                    .map_err(|_| E::custom("created is not an RFC 3339 timestamp"))
            }
        }

        deserializer.deserialize_any(CreatedVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAPSHOT: &str = r#"{
      "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
      "object": "event",
      "account": "acct_1Tenant",
      "api_version": "2026-09-30.endive",
      "created": 1686089970,
      "data": {
        "object": {
          "id": "sub_1NG8Dt2eZvKYlo2C",
          "object": "subscription",
          "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": "price_1", "metadata": {"a": "b"}}}]},
          "metadata": {"note": "say \"hi\""},
          "status": "active"
        },
        "previous_attributes": {"status": "incomplete"}
      },
      "livemode": false,
      "pending_webhooks": 1,
      "request": {"id": "req_1", "idempotency_key": "k"},
      "type": "customer.subscription.updated"
    }"#;

    const THIN: &str = r#"{
      "id": "evt_test_65R9Ijk8q3Ux1ncVFBS16RmxuAWnuJG",
      "object": "v2.core.event",
      "type": "v1.billing.meter.error_report_triggered",
      "livemode": false,
      "created": "2024-09-17T06:20:52.246Z",
      "context": "acct_1Connected",
      "related_object": {
        "id": "mtr_test_61R9IeFGn7ONG1Nq741OHxbd",
        "type": "billing.meter",
        "url": "/v1/billing/meters/mtr_test_61R9IeFGn7ONG1Nq741OHxbd"
      },
      "reason": {"type": "request", "request": {"id": "req_1", "idempotency_key": "k"}}
    }"#;

    #[test]
    fn the_inbox_record_keeps_the_payload_and_routes_every_connected_accounts_event() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let event = parse_envelope(THIN)
            .expect("parses")
            .into_new_event(THIN.to_string(), at);
        assert_eq!(event.payload, THIN);
        assert_eq!(event.received_at, at);
        assert_eq!(event.account.as_deref(), Some("acct_1Connected"));
        // Not a type the worker syncs, but a connected account's: the worker routes it.
        assert_eq!(event.status, inbox::EventStatus::Received);
        let platform = THIN.replace(r#""context": "acct_1Connected","#, "");
        let event = parse_envelope(&platform)
            .expect("parses")
            .into_new_event(platform.clone(), at);
        assert_eq!(event.status, inbox::EventStatus::Ignored);
    }

    #[test]
    fn a_snapshot_event_yields_its_id_type_account_and_object() {
        let envelope = parse_envelope(SNAPSHOT).expect("parses");
        assert_eq!(
            envelope,
            EventEnvelope {
                id: StripeEventId::parse("evt_1NG8Du2eZvKYlo2CUI79vXWy").expect("id"),
                event_type: "customer.subscription.updated".to_owned(),
                account: Some("acct_1Tenant".to_owned()),
                created: 1_686_089_970,
                api_version: Some("2026-09-30.endive".to_owned()),
                livemode: false,
                object_id: Some("sub_1NG8Dt2eZvKYlo2C".to_owned()),
                object_type: Some("subscription".to_owned()),
            }
        );
    }

    #[test]
    fn a_thin_event_yields_its_related_object_context_and_rfc3339_time() {
        let envelope = parse_envelope(THIN).expect("parses");
        assert_eq!(
            envelope,
            EventEnvelope {
                id: StripeEventId::parse("evt_test_65R9Ijk8q3Ux1ncVFBS16RmxuAWnuJG").expect("id"),
                event_type: "v1.billing.meter.error_report_triggered".to_owned(),
                account: Some("acct_1Connected".to_owned()),
                created: 1_726_554_052,
                api_version: None,
                livemode: false,
                object_id: Some("mtr_test_61R9IeFGn7ONG1Nq741OHxbd".to_owned()),
                object_type: Some("billing.meter".to_owned()),
            }
        );
    }

    #[test]
    fn the_signature_vector_payload_without_created_is_refused_as_incomplete() {
        let payload = include_str!("../tests/fixtures/signature-test-payload.json");
        // The vector has no `created`: it is refused as incomplete, not as malformed JSON.
        assert_eq!(
            parse_envelope(payload),
            Err(EnvelopeError::MissingField("created"))
        );
    }

    #[test]
    fn an_event_without_an_id_is_refused() {
        let body = SNAPSHOT.replace("\"id\": \"evt_1NG8Du2eZvKYlo2CUI79vXWy\",", "");
        let error = parse_envelope(&body).expect_err("no id");
        assert_eq!(error, EnvelopeError::MissingField("id"));
        assert_eq!(error.code(), "event_field_missing");
    }

    #[test]
    fn an_event_without_a_type_is_refused() {
        let body = SNAPSHOT.replace("\"type\": \"customer.subscription.updated\"", "\"x\": 1");
        assert_eq!(
            parse_envelope(&body),
            Err(EnvelopeError::MissingField("type"))
        );
    }

    #[test]
    fn an_id_that_is_not_an_event_id_is_refused() {
        let body = SNAPSHOT.replace("evt_1NG8Du2eZvKYlo2CUI79vXWy", "cus_123");
        let error = parse_envelope(&body).expect_err("wrong kind of id");
        assert_eq!(error, EnvelopeError::InvalidId);
        assert_eq!(error.code(), "event_id_invalid");
    }

    #[test]
    fn bodies_that_are_not_json_objects_or_have_bad_times_are_malformed() {
        for body in [
            "not json",
            "[1,2]",
            r#"{"id": 5}"#,
            r#"{"id":"evt_1","type":"x","created":"yesterday"}"#,
        ] {
            let error = parse_envelope(body).expect_err(body);
            assert!(
                matches!(error, EnvelopeError::Malformed(_)),
                "{body}: {error:?}"
            );
            assert_eq!(error.code(), "event_malformed");
        }
    }

    #[test]
    fn an_event_without_an_object_has_no_object_id() {
        let body = r#"{"id":"evt_1","type":"ping","created":1,"livemode":true,"api_version":null}"#;
        let envelope = parse_envelope(body).expect("parses");
        assert_eq!(envelope.object_id, None);
        assert_eq!(envelope.object_type, None);
        assert_eq!(envelope.api_version, None);
        assert!(envelope.livemode);
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let body = r#"{"id":"evt_1","type":"invoice\u002epaid","created":1}"#;
        let envelope = parse_envelope(body).expect("parses");
        assert_eq!(envelope.event_type, "invoice.paid");
    }
}

//! Event destinations (`/v2/core/event_destinations`) and thin events (`/v2/core/events`): a destination
//! receives either the usual snapshot events or thin notifications that name the event and its related object,
//! which the receiver fetches. Each destination signs with its own secret, like a webhook endpoint.
//! See <https://docs.stripe.com/event-destinations#thin-events>.

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::ledger::{PLATFORM, State};

/// The v2 API's timestamps are RFC 3339 strings (`2024-09-17T06:20:52.246Z`).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `POST /v2/core/event_destinations` (JSON body). Returns the destination with its signing secret, which
/// is shown only here.
pub fn create(st: &mut State, body: &Value) -> Result<Value, ApiError> {
    let name = body["name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    if body["type"] != "webhook_endpoint" {
        return Err(ApiError::invalid(
            "type",
            "The emulator delivers event destinations of type webhook_endpoint.",
        ));
    }
    let payload = body["event_payload"]
        .as_str()
        .ok_or_else(|| ApiError::missing("event_payload"))?;
    if !["thin", "snapshot"].contains(&payload) {
        return Err(ApiError::invalid(
            "event_payload",
            "event_payload must be one of snapshot or thin.",
        ));
    }
    let url = body["webhook_endpoint"]["url"]
        .as_str()
        .ok_or_else(|| ApiError::missing("webhook_endpoint.url"))?;
    let events: Vec<String> = body["enabled_events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if events.is_empty() {
        return Err(ApiError::missing("enabled_events"));
    }
    let from = match body["events_from"].as_array() {
        Some(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        None => vec!["@self".to_owned()],
    };
    if let Some(bad) = from.iter().find(|f| *f != "@self" && *f != "@accounts") {
        return Err(ApiError::invalid(
            "events_from",
            format!("events_from entries must be @self or @accounts (got {bad})."),
        ));
    }
    let secret = format!("whsec_{}{}", st.new_id(""), &st.new_id("")[..8]);
    Ok(register(st, name, url, payload, events, from, secret))
}

/// Stores a destination (also how the start-up config registers a thin endpoint).
pub fn register(
    st: &mut State,
    name: &str,
    url: &str,
    payload: &str,
    events: Vec<String>,
    from: Vec<String>,
    secret: String,
) -> Value {
    let id = st.new_id("ed_test_");
    let now = rfc3339(st.now());
    let mut destination = json!({
        "id": id, "object": "v2.core.event_destination", "created": now, "updated": now,
        "description": null, "enabled_events": events, "event_payload": payload, "events_from": from,
        "livemode": false, "metadata": {}, "name": name,
        "snapshot_api_version": if payload == "snapshot" { json!(crate::API_VERSION) } else { Value::Null },
        "status": "enabled", "status_details": null, "type": "webhook_endpoint",
        "webhook_endpoint": { "signing_secret": null, "url": url },
    });
    st.endpoint_secrets.insert(id, secret.clone());
    st.put(PLATFORM, destination.clone());
    destination["webhook_endpoint"]["signing_secret"] = json!(secret);
    destination
}

pub fn retrieve(st: &State, id: &str) -> Result<Value, ApiError> {
    st.get(PLATFORM, "v2.core.event_destination", id)
        .map_err(|_| ApiError::not_found("event_destination", id))
}

pub fn list(st: &State) -> Value {
    let mut data = st.all(PLATFORM, "v2.core.event_destination");
    data.reverse();
    json!({ "data": data, "next_page_url": null, "previous_page_url": null })
}

pub fn set_enabled(st: &mut State, id: &str, enabled: bool) -> Result<Value, ApiError> {
    let mut d = retrieve(st, id)?;
    d["status"] = json!(if enabled { "enabled" } else { "disabled" });
    d["updated"] = json!(rfc3339(st.now()));
    st.put(PLATFORM, d.clone());
    Ok(d)
}

pub fn delete(st: &mut State, id: &str) -> Result<Value, ApiError> {
    retrieve(st, id)?;
    st.remove(PLATFORM, "v2.core.event_destination", id);
    st.endpoint_secrets.remove(id);
    Ok(json!({ "id": id, "object": "v2.core.event_destination", "deleted": true }))
}

/// The thin event's type for a v1 event type (`v1.customer.created`).
fn thin_type(kind: &str) -> String {
    format!("v1.{kind}")
}

/// Where an object of `kind` is fetched from, for `related_object.url`.
fn url_of(kind: &str, id: &str) -> String {
    let collection = match kind {
        "checkout.session" => "checkout/sessions".to_owned(),
        "billing_portal.session" => "billing_portal/sessions".to_owned(),
        "test_helpers.test_clock" => "test_helpers/test_clocks".to_owned(),
        "invoiceitem" => "invoiceitems".to_owned(),
        "capability" => return format!("/v1/accounts/{id}"),
        "application" => return "/v1/account".to_owned(),
        other => format!("{other}s"),
    };
    format!("/v1/{collection}/{id}")
}

/// What each destination receives for an event emitted on `acct`: (destination id, url, the thin
/// notification or `None` for the snapshot event itself, the id the body carries).
pub fn deliveries(
    st: &mut State,
    acct: &str,
    event: &Value,
) -> Vec<(String, String, Option<String>, String)> {
    let kind = event["type"].as_str().unwrap_or_default().to_owned();
    let from = if acct == PLATFORM {
        "@self"
    } else {
        "@accounts"
    };
    let destinations: Vec<Value> = st
        .all(PLATFORM, "v2.core.event_destination")
        .into_iter()
        .filter(|d| d["status"] == "enabled")
        .filter(|d| {
            d["events_from"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == from))
        })
        .collect();
    let mut out = Vec::new();
    for d in destinations {
        let thin = d["event_payload"] == "thin";
        let wanted = if thin { thin_type(&kind) } else { kind.clone() };
        let wants = d["enabled_events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == "*" || *x == wanted.as_str()));
        if !wants {
            continue;
        }
        let id = d["id"].as_str().unwrap_or_default().to_owned();
        let url = d["webhook_endpoint"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if thin {
            let notice = thin_event(st, acct, event);
            let event_id = notice["id"].as_str().unwrap_or_default().to_owned();
            out.push((id, url, Some(notice.to_string()), event_id));
        } else {
            let event_id = event["id"].as_str().unwrap_or_default().to_owned();
            out.push((id, url, None, event_id));
        }
    }
    out
}

/// A thin notification of `event`, stored so `GET /v2/core/events/{id}` can return it.
fn thin_event(st: &mut State, acct: &str, event: &Value) -> Value {
    let object = &event["data"]["object"];
    let kind = object["object"].as_str().unwrap_or_default();
    let related_id = object["id"].as_str().unwrap_or_default();
    let mut notice = json!({
        "id": st.new_id("evt_test_"), "object": "v2.core.event", "type": thin_type(event["type"].as_str().unwrap_or_default()),
        "livemode": false, "created": rfc3339(event["created"].as_i64().unwrap_or(0)),
        "related_object": { "id": related_id, "type": kind, "url": url_of(kind, related_id) },
        "reason": null, "context": null,
    });
    if acct != PLATFORM {
        notice["context"] = json!(acct);
    }
    st.put(PLATFORM, notice.clone());
    notice
}

/// `GET /v2/core/events/{id}`: a thin event, from any account's context (it names its `context`).
pub fn retrieve_event(st: &State, id: &str) -> Result<Value, ApiError> {
    st.get(PLATFORM, "v2.core.event", id)
        .map_err(|_| ApiError::not_found("event", id))
}

/// `GET /v2/core/events?object_id=…`, newest first.
pub fn list_events(st: &State, object_id: Option<&str>) -> Value {
    let mut data: Vec<Value> = st
        .all(PLATFORM, "v2.core.event")
        .into_iter()
        .filter(|e| object_id.is_none_or(|o| e["related_object"]["id"] == o))
        .collect();
    data.reverse();
    json!({ "data": data, "next_page_url": null, "previous_page_url": null })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59.000Z");
    }
}

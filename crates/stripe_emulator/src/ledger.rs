//! The emulator's state: every object by id, per account, in creation order; ids, time, events and the outbox.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::API_VERSION;
use crate::api_error::ApiError;
use crate::config::{BillingConfig, ChaosConfig};
use crate::params::Params;

/// The account whose objects are addressed without a `Stripe-Account` header.
pub const PLATFORM: &str = "acct_emulator_platform";

/// Objects of one account.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub objects: HashMap<String, Value>,
    /// Ids per object type, oldest first; lists read them backwards (Stripe lists newest first).
    pub order: HashMap<String, Vec<String>>,
    pub idempotency: HashMap<String, Replay>,
    /// Renewal bookkeeping that is not part of Stripe's subscription object.
    pub billing: HashMap<String, SubscriptionBilling>,
    /// Payment method id → how its card behaves.
    pub cards: HashMap<String, String>,
}

/// A stored response for `Idempotency-Key` replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replay {
    pub fingerprint: String,
    pub status: u16,
    pub body: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriptionBilling {
    /// A renewal invoice still in draft, and when it finalizes and is charged (an hour after creation).
    pub finalize_at: Option<(String, i64)>,
    /// Unix time of the next retry of the open renewal invoice.
    pub next_retry_at: Option<i64>,
    pub failed_attempts: u32,
    pub open_invoice: Option<String>,
    /// Coupon applied to the subscription and how many more invoices it discounts (`None`: forever).
    pub coupon: Option<String>,
    pub promotion_code: Option<String>,
    pub discount_invoices_left: Option<i64>,
    pub trial_will_end_sent: bool,
    pub upcoming_sent_for: Option<i64>,
    /// Proration lines waiting for the next renewal invoice.
    pub pending_prorations: Vec<Value>,
}

/// One attempt (or planned attempt) to deliver an event to an endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: u64,
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    pub url: String,
    pub attempt: u32,
    pub at: i64,
    /// HTTP status, or `None` when the request failed or timed out.
    pub status: Option<u16>,
    pub outcome: String,
    /// Chaos applied to this delivery, if any (`duplicate`, `reorder`, `delay`, `fail_first_attempt`).
    pub chaos: Vec<String>,
}

/// The whole emulator state, snapshotted to the state file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub seed: u64,
    pub counter: u64,
    pub fixed_time: Option<i64>,
    pub ledgers: BTreeMap<String, Ledger>,
    /// Webhook endpoint id → signing secret (Stripe shows it only on create).
    pub endpoint_secrets: HashMap<String, String>,
    /// The webhook endpoints that came from the start-up config (replaced when a restored state starts again).
    #[serde(default)]
    pub config_endpoints: Vec<String>,
    /// Webhook endpoint id → chaos override.
    pub endpoint_chaos: HashMap<String, ChaosConfig>,
    pub chaos: ChaosConfig,
    pub billing_config: BillingConfig,
    pub deliveries: Vec<DeliveryRecord>,
    pub delivery_seq: u64,
    /// Bank-debit checkouts (account, session) waiting to settle on the next sweep.
    #[serde(default)]
    pub async_payments: Vec<(String, String)>,
    /// Account links, login links, onboarding states and Connect endpoints.
    #[serde(default)]
    pub connect: crate::account::ConnectState,
    #[serde(skip)]
    pub outbox: Vec<(String, String)>,
    #[serde(skip)]
    pub request: Option<(String, Option<String>)>,
    /// Where hosted pages live (not snapshotted: a restart may bind elsewhere).
    #[serde(skip)]
    pub base_url: String,
}

fn templates() -> &'static Map<String, Value> {
    static TEMPLATES: OnceLock<Map<String, Value>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        serde_json::from_str(include_str!("templates.json"))
            .expect("BUG: templates.json is valid JSON")
    })
}

/// A fresh object of `kind` with every field Stripe's API version sends, to be filled in.
pub fn template(kind: &str) -> Value {
    templates().get(kind).cloned().unwrap_or_else(|| json!({}))
}

impl State {
    pub fn new(seed: u64, fixed_time: Option<i64>) -> State {
        State {
            seed,
            fixed_time,
            ..State::default()
        }
    }

    /// The emulator's own "now" (test clocks have theirs, see `now_for_customer`).
    pub fn now(&self) -> i64 {
        self.fixed_time.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }

    /// A deterministic 64-bit draw: the same seed gives the same sequence of ids and chaos decisions.
    pub fn draw(&mut self, purpose: &str) -> [u8; 32] {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(self.counter.to_le_bytes());
        h.update(purpose.as_bytes());
        h.finalize().into()
    }

    /// A probability draw in [0, 1).
    pub fn chance(&mut self, purpose: &str) -> f64 {
        let bytes = self.draw(purpose);
        let mut n = [0u8; 8];
        n.copy_from_slice(&bytes[..8]);
        (u64::from_le_bytes(n) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A new id with Stripe's prefix, e.g. `cus_…`.
    pub fn new_id(&mut self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let len = if prefix.starts_with("cs_") { 58 } else { 24 };
        let mut out = String::with_capacity(prefix.len() + len);
        out.push_str(prefix);
        while out.len() < prefix.len() + len {
            for b in self.draw(prefix) {
                if out.len() >= prefix.len() + len {
                    break;
                }
                out.push(ALPHABET[(b as usize) % ALPHABET.len()] as char);
            }
        }
        out
    }

    pub fn ledger(&mut self, acct: &str) -> &mut Ledger {
        self.ledgers.entry(acct.to_owned()).or_default()
    }

    pub fn find(&self, acct: &str, id: &str) -> Option<&Value> {
        self.ledgers.get(acct).and_then(|l| l.objects.get(id))
    }

    /// The object with this id, or Stripe's 404 naming `param`.
    pub fn get(&self, acct: &str, kind: &str, id: &str) -> Result<Value, ApiError> {
        match self.find(acct, id) {
            Some(v) if v["object"] == kind => Ok(v.clone()),
            _ => Err(ApiError::not_found(param_name(kind), id)),
        }
    }

    /// Inserts or replaces an object; new ids are appended to their type's order.
    pub fn put(&mut self, acct: &str, value: Value) {
        let id = value["id"].as_str().unwrap_or_default().to_owned();
        let kind = value["object"].as_str().unwrap_or_default().to_owned();
        let ledger = self.ledger(acct);
        if ledger.objects.insert(id.clone(), value).is_none() {
            ledger.order.entry(kind).or_default().push(id);
        }
    }

    pub fn remove(&mut self, acct: &str, kind: &str, id: &str) {
        let ledger = self.ledger(acct);
        ledger.objects.remove(id);
        if let Some(order) = ledger.order.get_mut(kind) {
            order.retain(|x| x != id);
        }
    }

    /// All objects of a type, oldest first.
    pub fn all(&self, acct: &str, kind: &str) -> Vec<Value> {
        let Some(ledger) = self.ledgers.get(acct) else {
            return Vec::new();
        };
        ledger
            .order
            .get(kind)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| ledger.objects.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A Stripe list envelope over the objects of `kind` that pass `keep`, newest first, paginated.
    pub fn list(
        &self,
        acct: &str,
        kind: &str,
        params: &Params,
        url: &str,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Value, ApiError> {
        // Filters by reference and clones only the page: lists stay cheap with many objects.
        let Some(ledger) = self.ledgers.get(acct) else {
            return page_refs(Vec::new(), params, url);
        };
        let mut bounds = Vec::new();
        if let Some(created) = params.object("created") {
            for (op, bound) in created {
                let bound = crate::params::value_i64(Some(bound), "created")?.unwrap_or(0);
                bounds.push((op.clone(), bound));
            }
        } else if let Some(exact) = params.i64("created")? {
            bounds.push(("eq".to_owned(), exact));
        }
        let items: Vec<&Value> = ledger
            .order
            .get(kind)
            .into_iter()
            .flatten()
            .rev()
            .filter_map(|id| ledger.objects.get(id))
            .filter(|v| keep(v))
            .filter(|v| {
                let c = v["created"].as_i64().unwrap_or(0);
                bounds.iter().all(|(op, bound)| match op.as_str() {
                    "gt" => c > *bound,
                    "gte" => c >= *bound,
                    "lt" => c < *bound,
                    "lte" => c <= *bound,
                    "eq" => c == *bound,
                    _ => true,
                })
            })
            .collect();
        page_refs(items, params, url)
    }

    /// Replaces expandable ids by their objects along each dotted path of `expand[]`.
    pub fn expand(&self, acct: &str, value: &mut Value, paths: &[String]) {
        for path in paths {
            let parts: Vec<&str> = path.split('.').collect();
            self.expand_path(acct, value, &parts, 0);
        }
    }

    fn expand_path(&self, acct: &str, value: &mut Value, path: &[&str], depth: usize) {
        // Stripe allows at most four levels of expansion.
        let Some((head, rest)) = path.split_first() else {
            return;
        };
        if depth > 4 {
            return;
        }
        if *head == "data"
            && let Some(Value::Array(items)) = value.get_mut("data")
        {
            for item in items {
                self.expand_path(acct, item, rest, depth);
            }
            return;
        }
        let Some(field) = value.get_mut(*head) else {
            return;
        };
        match field {
            Value::String(id) => {
                if let Some(found) = self.find(acct, id) {
                    let mut found = found.clone();
                    self.expand_path(acct, &mut found, rest, depth + 1);
                    *field = found;
                }
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if let Value::String(id) = item
                        && let Some(found) = self.find(acct, id)
                    {
                        *item = found.clone();
                    }
                    self.expand_path(acct, item, rest, depth + 1);
                }
            }
            Value::Object(_) => self.expand_path(acct, field, rest, depth + 1),
            _ => {}
        }
    }

    /// Records an event for a state change and queues it for delivery; `previous` is `previous_attributes`.
    pub fn emit(
        &mut self,
        acct: &str,
        kind: &str,
        object: &Value,
        previous: Option<Value>,
    ) -> String {
        let id = self.new_id("evt_");
        let now = self.now();
        // Events created by a test clock carry the clock's time, as Stripe's do.
        let created = object["test_clock"]
            .as_str()
            .and_then(|c| self.find(acct, c))
            .and_then(|c| c["frozen_time"].as_i64())
            .unwrap_or(now);
        let mut data = json!({ "object": object });
        if let Some(prev) = previous {
            data["previous_attributes"] = prev;
        }
        let (request_id, key) = self.request.clone().unwrap_or((String::new(), None));
        let mut event = template("event");
        event["id"] = json!(id);
        event["api_version"] = json!(API_VERSION);
        event["created"] = json!(created);
        event["data"] = data;
        event["type"] = json!(kind);
        event["pending_webhooks"] = json!(0);
        event["request"] = json!({
            "id": if request_id.is_empty() { Value::Null } else { json!(request_id) },
            "idempotency_key": key,
        });
        if acct != PLATFORM {
            event["account"] = json!(acct);
        }
        self.put(acct, event);
        self.outbox.push((acct.to_owned(), id.clone()));
        id
    }

    /// Events emitted so far, oldest first, on the platform and every connected account.
    pub fn take_outbox(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.outbox)
    }
}

/// Slices a newest-first list by `limit`, `starting_after` and `ending_before`.
pub fn page(items: Vec<Value>, params: &Params, url: &str) -> Result<Value, ApiError> {
    page_refs(items.iter().collect(), params, url)
}

fn page_refs(items: Vec<&Value>, params: &Params, url: &str) -> Result<Value, ApiError> {
    let limit = params.i64("limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "This value must be greater than or equal to 1 and less than or equal to 100.",
        ));
    }
    let limit = limit as usize;
    let position = |id: &str| items.iter().position(|v| v["id"] == id);
    let (slice, has_more) = if let Some(after) = params.str("starting_after") {
        let start =
            position(after).ok_or_else(|| ApiError::not_found("starting_after", after))? + 1;
        let rest = &items[start.min(items.len())..];
        (&rest[..rest.len().min(limit)], rest.len() > limit)
    } else if let Some(before) = params.str("ending_before") {
        let end = position(before).ok_or_else(|| ApiError::not_found("ending_before", before))?;
        let head = &items[..end];
        let from = head.len().saturating_sub(limit);
        (&head[from..], from > 0)
    } else {
        (&items[..items.len().min(limit)], items.len() > limit)
    };
    let data: Vec<Value> = slice.iter().map(|v| (*v).clone()).collect();
    Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
}

/// The parameter name Stripe uses in "No such …" messages for an object type.
fn param_name(kind: &str) -> &str {
    match kind {
        "checkout.session" => "checkout_session",
        "test_helpers.test_clock" => "test_clock",
        "billing_portal.session" => "billing_portal_session",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_ids() {
        let mut a = State::new(7, None);
        let mut b = State::new(7, None);
        let ids_a: Vec<String> = (0..3).map(|_| a.new_id("cus_")).collect();
        let ids_b: Vec<String> = (0..3).map(|_| b.new_id("cus_")).collect();
        assert_eq!(ids_a, ids_b);
        assert!(ids_a[0].starts_with("cus_") && ids_a[0].len() == 28);
        assert_ne!(ids_a[0], ids_a[1]);
    }

    #[test]
    fn every_template_is_an_object_with_its_type() {
        for kind in [
            "customer",
            "subscription",
            "invoice",
            "checkout.session",
            "payment_intent",
            "charge",
            "refund",
        ] {
            assert_eq!(template(kind)["object"], kind);
        }
    }
}

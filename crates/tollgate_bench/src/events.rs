//! The deliveries a run sends: distinct signed-as-Stripe events, re-sends and forgeries, in a seeded order.

use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::Sha256;

/// The API version tollgate's Stripe client pins.
const API_VERSION: &str = "2026-09-30.endive";

/// What a delivery is, and so what the server should answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// First delivery of an event: 2xx.
    Genuine,
    /// A re-send of an event sent earlier in the list: 2xx, acknowledged as a duplicate.
    Duplicate,
    /// An event signed with a secret the server does not know: 400.
    Forgery,
}

impl Kind {
    pub fn expects_success(self) -> bool {
        !matches!(self, Kind::Forgery)
    }
}

/// One request to send: which body, and how to sign it.
#[derive(Debug)]
pub struct Delivery {
    pub kind: Kind,
    /// Index into `Plan::bodies`.
    pub body: usize,
}

/// Everything a run sends, generated before the clock starts.
#[derive(Debug)]
pub struct Plan {
    pub bodies: Vec<Vec<u8>>,
    pub deliveries: Vec<Delivery>,
    pub events: usize,
    pub duplicates: usize,
    pub forgeries: usize,
}

impl Plan {
    /// `events` distinct events of about `size` bytes, plus 5% re-sends of them and 1% forged
    /// events, in an order fixed by `seed` where every re-send comes after its original.
    pub fn generate(events: usize, size: usize, seed: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let duplicates = events * 5 / 100;
        let forgeries = events / 100;
        let created = unix_now() - 3600;
        let bodies: Vec<Vec<u8>> = (0..events + forgeries)
            .map(|seq| event_body(seq, created + (seq as i64 / 10), size))
            .collect();
        // A sort key per delivery: uniform for events and forgeries, and for a re-send uniform
        // between its original's key and the end, so it is always sent later.
        let mut keyed: Vec<(f64, Delivery)> = Vec::with_capacity(events + duplicates + forgeries);
        let mut keys = Vec::with_capacity(events);
        for body in 0..events {
            let key: f64 = rng.random();
            keys.push(key);
            keyed.push((
                key,
                Delivery {
                    kind: Kind::Genuine,
                    body,
                },
            ));
        }
        for body in events..events + forgeries {
            keyed.push((
                rng.random(),
                Delivery {
                    kind: Kind::Forgery,
                    body,
                },
            ));
        }
        for body in rand::seq::index::sample(&mut rng, events, duplicates) {
            let original = keys[body];
            let key = original + (1.0 - original) * rng.random::<f64>();
            keyed.push((
                key,
                Delivery {
                    kind: Kind::Duplicate,
                    body,
                },
            ));
        }
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        Plan {
            bodies,
            deliveries: keyed.into_iter().map(|(_, delivery)| delivery).collect(),
            events,
            duplicates,
            forgeries,
        }
    }

    pub fn average_body_len(&self) -> usize {
        self.bodies.iter().map(Vec::len).sum::<usize>() / self.bodies.len().max(1)
    }
}

/// An `invoice.paid` snapshot event shaped like Stripe's: an invoice with line items, then a
/// metadata string that pads it to `size` bytes (no padding when the event is already larger).
fn event_body(seq: usize, created: i64, size: usize) -> Vec<u8> {
    let line_item = |n: usize| {
        json!({
            "id": format!("il_bench{seq:08}x{n}"),
            "object": "line_item",
            "amount": 4900,
            "currency": "usd",
            "description": "1 × Membership (at $49.00 / month)",
            "livemode": false,
            "metadata": {},
            "period": {"end": created + 2_592_000, "start": created},
            "pricing": {"price_details": {"price": "price_benchmembership", "product": "prod_benchmembership"}, "type": "price_details", "unit_amount_decimal": "4900"},
            "quantity": 1,
        })
    };
    let mut lines = Vec::new();
    let mut event = build(seq, created, &lines, "");
    let item_len = line_item(0).to_string().len() + 1;
    while event.to_string().len() + item_len <= size && lines.len() < 100 {
        lines.push(line_item(lines.len()));
        event = build(seq, created, &lines, "");
    }
    let padding = size.saturating_sub(event.to_string().len());
    build(seq, created, &lines, &"x".repeat(padding))
        .to_string()
        .into_bytes()
}

fn build(seq: usize, created: i64, lines: &[Value], padding: &str) -> Value {
    json!({
        "id": format!("evt_bench{seq:08}"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {
            "object": {
                "id": format!("in_bench{seq:08}"),
                "object": "invoice",
                "account_country": "US",
                "amount_due": 4900,
                "amount_paid": 4900,
                "amount_remaining": 0,
                "billing_reason": "subscription_cycle",
                "collection_method": "charge_automatically",
                "created": created,
                "currency": "usd",
                "customer": format!("cus_bench{:05}", seq % 5000),
                "customer_email": format!("user{:05}@example.com", seq % 5000),
                "lines": {
                    "object": "list",
                    "data": lines,
                    "has_more": false,
                    "total_count": lines.len(),
                    "url": format!("/v1/invoices/in_bench{seq:08}/lines"),
                },
                "livemode": false,
                "metadata": {"bench_padding": padding},
                "number": format!("BENCH-{seq:06}"),
                "paid": true,
                "period_end": created,
                "period_start": created - 2_592_000,
                "status": "paid",
                "subtotal": 4900,
                "total": 4900,
            }
        },
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "invoice.paid",
    })
}

/// `Stripe-Signature` as Stripe sends it: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
/// keyed with the endpoint secret as given, `whsec_` included
/// (<https://docs.stripe.com/webhooks#verify-manually>).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("BUG: HMAC-SHA256 takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_counts_sizes_and_order_are_as_asked() {
        let plan = Plan::generate(1000, 3000, 7);
        assert_eq!(
            (plan.events, plan.duplicates, plan.forgeries),
            (1000, 50, 10)
        );
        assert_eq!(plan.deliveries.len(), 1060);
        assert!(plan.bodies.iter().all(|b| (3000..3050).contains(&b.len())));
        for (at, delivery) in plan.deliveries.iter().enumerate() {
            if delivery.kind == Kind::Duplicate {
                let original = plan
                    .deliveries
                    .iter()
                    .position(|d| d.kind == Kind::Genuine && d.body == delivery.body);
                assert!(original.is_some_and(|o| o < at));
            }
        }
        let again = Plan::generate(1000, 3000, 7);
        let order = |p: &Plan| p.deliveries.iter().map(|d| d.body).collect::<Vec<_>>();
        assert_eq!(order(&plan), order(&again));
    }

    #[test]
    fn events_are_valid_stripe_snapshot_json() {
        let body = event_body(3, 1_700_000_000, 3000);
        let event: Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(event["id"], "evt_bench00000003");
        assert_eq!(event["object"], "event");
        assert_eq!(event["data"]["object"]["id"], "in_bench00000003");
        assert_eq!(event["data"]["object"]["object"], "invoice");
    }

    #[test]
    fn signature_matches_stripes_documented_scheme() {
        // HMAC-SHA256("whsec_test", "1.{}") computed independently with `openssl dgst`.
        assert_eq!(
            signature("whsec_test", 1, b"{}"),
            "t=1,v1=7500d5d4be4b3ef07af1fe56f7d522d135cdaa7530de557e67cc1049c52de094"
        );
    }
}

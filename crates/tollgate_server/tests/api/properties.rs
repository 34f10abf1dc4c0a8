//! Fuzzing by properties (issue 24), bounded so it runs in `.ci/run`: the configuration loader
//! with any value in any environment variable it reads, and every JSON route of the router
//! with arbitrary JSON bodies from a signed-in admin (so each request reaches its body
//! parser). Neither may panic or answer 5xx: bad input is a 400 (or a configuration error).

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::Value;
use tollgate_server::Config;

use crate::support::{TestApp, admin};
use crate::tenant_matrix::every_declared_route;

/// Values an operator might mistype: numbers out of range, words, URLs, empty, odd Unicode.
fn setting() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{0,25}",
        "(true|false|yes|no|on|off|1|0|TRUE)",
        "(sqlite|postgres|http|https)://[ -~]{0,30}",
        "(sk|pk|whsec|rk)_(test|live)_[A-Za-z0-9]{0,30}",
        "[ -~]{0,40}",
        "\\PC{0,20}",
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_configuration_loads_or_names_the_key_at_fault_whatever_the_environment(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), setting()), 1..8)
    ) {
        let names: Vec<&str> = tollgate_server::config::environment_variables().collect();
        let env: BTreeMap<String, String> = picks
            .into_iter()
            .map(|(i, value)| (i.get(&names).to_string(), value))
            .collect();
        if let Err(error) = Config::load(None, &env) {
            prop_assert!(!error.to_string().is_empty());
        }
    }
}

/// Arbitrary JSON, mostly objects with the field names the routes read, of any type.
fn body() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,30}".prop_map(Value::from),
        Just(Value::from("usd")),
        Just(Value::from("credits_1000")),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let field = prop_oneof![
        Just("name"),
        Just("email"),
        Just("password"),
        Just("plan"),
        Just("package"),
        Just("amount"),
        Just("currency"),
        Just("payment_id"),
        Just("code"),
        Just("credits"),
        Just("feature"),
        Just("quantity"),
        Just("idempotency_key"),
        Just("scopes"),
        Just("customer_id"),
        Just("lines"),
        Just("invoice_id"),
        Just("country"),
        Just("application_fee_bps"),
        Just("application_fee_fixed"),
        Just("user_id"),
        Just("session_id"),
        Just("mentor_id"),
        Just("reason"),
        Just("seconds"),
        Just("token"),
    ];
    prop_oneof![
        1 => value.clone(),
        3 => proptest::collection::btree_map(field, value, 0..5)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
    ]
}

#[tokio::test]
async fn every_json_route_answers_arbitrary_bodies_without_a_5xx() {
    const BODIES_PER_ROUTE: usize = 40;
    for app in TestApp::all().await {
        let (client, csrf) = admin(&app, "fuzz-admin@example.com").await;
        let mut runner = TestRunner::deterministic();
        let strategy = body();
        let mut failures = Vec::new();
        let mut sent = 0;
        let mut statuses = BTreeMap::<u16, usize>::new();
        let routes = every_declared_route()
            .into_iter()
            .filter(|(method, path)| {
                method != "GET" && (path.starts_with("/api/") || path.starts_with("/webhook/"))
            })
            // Signing out would end the fuzzing session.
            .filter(|(_, path)| !path.contains("logout"));
        for (method, route) in routes {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let path = route
                .replace("{id}", "00000000-0000-4000-8000-000000000000")
                .replace("{user_id}", "00000000-0000-4000-8000-000000000000")
                .replace("{token}", "t");
            for _ in 0..BODIES_PER_ROUTE {
                let body = strategy.new_tree(&mut runner).expect("a body").current();
                let response = client
                    .request(method.clone(), app.url(&path))
                    .header("x-csrf-token", &csrf)
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
                sent += 1;
                let status = response.status();
                *statuses.entry(status.as_u16()).or_default() += 1;
                if status.is_server_error() {
                    let text = response.text().await.unwrap_or_default();
                    failures.push(format!("{method} {route} {body} → {status} {text}"));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {sent} bodies got a 5xx:\n{}",
            failures.len(),
            failures.join("\n")
        );
        eprintln!("fuzzed {sent} JSON bodies: {statuses:?}");
        app.stop().await;
    }
}

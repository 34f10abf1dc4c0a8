//! What a platform makes at Stripe before tollgate runs in real-Stripe mode: the membership
//! plan's price, which tollgate finds by lookup key at start. Shared by the tests that run
//! tollgate against an emulator standing in for Stripe (`tests/api/faults.rs`, and the
//! binary's `tests/crash.rs`, which includes this file by path).

use serde_json::Value;

/// Creates the product and the monthly price `tollgate_membership_monthly` of `unit_amount`.
pub async fn create_membership_price(api_base: &str, key: &str, unit_amount: i64) {
    let http = reqwest::Client::new();
    let product: Value = http
        .post(format!("{api_base}/v1/products"))
        .bearer_auth(key)
        .form(&[("name", "Membership")])
        .send()
        .await
        .expect("product")
        .json()
        .await
        .expect("json");
    let price = http
        .post(format!("{api_base}/v1/prices"))
        .bearer_auth(key)
        .form(&[
            ("product", product["id"].as_str().expect("product id")),
            ("currency", "usd"),
            ("unit_amount", &unit_amount.to_string()),
            ("recurring[interval]", "month"),
            ("lookup_key", "tollgate_membership_monthly"),
        ])
        .send()
        .await
        .expect("price");
    assert!(price.status().is_success(), "{:?}", price.text().await);
}

//! Property tests: form encoding round-trips, and money arithmetic on discounts and periods.

use proptest::prelude::*;

mod common;

proptest! {
    // No regression files: a failure prints its minimal input, which becomes a named test.
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever metadata a client sends in bracket notation comes back unchanged on the object.
    #[test]
    fn metadata_in_bracket_notation_round_trips(entries in proptest::collection::btree_map("[a-zA-Z0-9_.:\\- ]{1,12}", "[^\u{0}]{1,20}", 0..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let emu = common::Emu::start().await;
            let fields: Vec<(String, String)> = entries.iter().map(|(k, v)| (format!("metadata[{k}]"), v.clone())).collect();
            let resp = emu.http.post(emu.url("/v1/customers")).bearer_auth(common::KEY).form(&fields).send().await.expect("send");
            let body: serde_json::Value = resp.json().await.expect("json");
            let got: std::collections::BTreeMap<String, String> = body["metadata"]
                .as_object()
                .expect("metadata")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            prop_assert_eq!(got, entries);
            Ok(())
        })?;
    }

    /// An invoice never charges less than zero nor more than its subtotal, whatever the coupon.
    #[test]
    fn a_discounted_first_invoice_stays_between_zero_and_the_subtotal(amount in 1i64..1_000_000, percent in 1u32..=100, amount_off in 1i64..2_000_000, use_percent: bool) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let emu = common::Emu::start().await;
            let coupon = if use_percent {
                emu.ok("/v1/coupons", &[("percent_off", &percent.to_string())]).await
            } else {
                emu.ok("/v1/coupons", &[("amount_off", &amount_off.to_string()), ("currency", "usd")]).await
            };
            let customer = emu.ok("/v1/customers", &[("payment_method", "pm_card_visa")]).await;
            let (_, price) = emu.product_and_price(&amount.to_string(), Some("month")).await;
            let sub = emu.ok("/v1/subscriptions", &[
                ("customer", customer["id"].as_str().expect("id")),
                ("items[0][price]", &price),
                ("discounts[0][coupon]", coupon["id"].as_str().expect("id")),
                ("expand[]", "latest_invoice"),
            ]).await;
            let invoice = &sub["latest_invoice"];
            let total = invoice["total"].as_i64().expect("total");
            let discount = invoice["total_discount_amounts"][0]["amount"].as_i64().unwrap_or(0);
            prop_assert!((0..=amount).contains(&total));
            prop_assert_eq!(total + discount, amount);
            let expected = if use_percent { (amount * i64::from(percent) + 50) / 100 } else { amount_off.min(amount) };
            prop_assert_eq!(discount, expected);
            Ok(())
        })?;
    }
}

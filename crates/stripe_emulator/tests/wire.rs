//! The wire layer over real HTTP: auth, errors, idempotency, pagination, expand, search, scoping.

mod common;

use common::{Emu, KEY};
use serde_json::{Value, json};

#[tokio::test]
async fn a_request_without_a_key_is_refused_with_stripes_401_shape() {
    let emu = Emu::start().await;
    let resp = emu
        .http
        .get(emu.url("/v1/customers"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 401);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("API key"))
    );
}

#[tokio::test]
async fn a_live_or_unknown_key_is_refused_and_a_configured_key_is_accepted() {
    let emu = Emu::start_with(stripe_emulator::EmulatorConfig {
        api_keys: vec!["sk_test_only".into()],
        ..common::config()
    })
    .await;
    let live = emu
        .http
        .get(emu.url("/v1/customers"))
        .bearer_auth("sk_live_nope")
        .send()
        .await
        .expect("send");
    assert_eq!(live.status().as_u16(), 401);
    let other = emu
        .http
        .get(emu.url("/v1/customers"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("send");
    assert_eq!(other.status().as_u16(), 401);
    let ok = emu
        .http
        .get(emu.url("/v1/customers"))
        .bearer_auth("sk_test_only")
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn a_missing_object_is_a_404_resource_missing_naming_the_param() {
    let emu = Emu::start().await;
    let (status, body) = emu.get("/v1/customers/cus_nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "resource_missing");
    assert_eq!(body["error"]["param"], "customer");
}

#[tokio::test]
async fn a_missing_required_param_is_a_400_naming_it() {
    let emu = Emu::start().await;
    let (status, body) = emu.post("/v1/products", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "name");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_in_stripes_shape() {
    let emu = Emu::start().await;
    let (status, body) = emu.get("/v1/nothing_here").await;
    assert_eq!(status, 404);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Unrecognized request URL"))
    );
}

#[tokio::test]
async fn the_same_idempotency_key_and_params_replays_the_first_response() {
    let emu = Emu::start().await;
    let send = || {
        emu.http
            .post(emu.url("/v1/customers"))
            .bearer_auth(KEY)
            .header("Idempotency-Key", "k1")
            .form(&[("email", "a@example.com")])
            .send()
    };
    let first = send().await.expect("first");
    let first_body: serde_json::Value = first.json().await.expect("json");
    let second = send().await.expect("second");
    assert_eq!(
        second
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let second_body: serde_json::Value = second.json().await.expect("json");
    assert_eq!(first_body, second_body);
    let list = emu.fetch("/v1/customers").await;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "only one customer was created"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_with_other_params_is_an_idempotency_error() {
    let emu = Emu::start().await;
    let send = |email: &'static str| {
        emu.http
            .post(emu.url("/v1/customers"))
            .bearer_auth(KEY)
            .header("Idempotency-Key", "k2")
            .form(&[("email", email)])
            .send()
    };
    assert_eq!(
        send("a@example.com")
            .await
            .expect("first")
            .status()
            .as_u16(),
        200
    );
    let second = send("b@example.com").await.expect("second");
    assert_eq!(second.status().as_u16(), 400);
    let body: serde_json::Value = second.json().await.expect("json");
    assert_eq!(body["error"]["type"], "idempotency_error");
}

#[tokio::test]
async fn lists_page_newest_first_with_starting_after_and_ending_before() {
    let emu = Emu::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = emu
            .ok("/v1/customers", &[("email", &format!("c{i}@example.com"))])
            .await;
        ids.push(c["id"].as_str().expect("id").to_owned());
    }
    let first = emu.fetch("/v1/customers?limit=2").await;
    assert_eq!(first["object"], "list");
    assert_eq!(first["url"], "/v1/customers");
    assert_eq!(first["has_more"], true);
    assert_eq!(first["data"][0]["id"], ids[4]);
    assert_eq!(first["data"][1]["id"], ids[3]);
    let second = emu
        .fetch(&format!("/v1/customers?limit=2&starting_after={}", ids[3]))
        .await;
    assert_eq!(second["data"][0]["id"], ids[2]);
    let last = emu
        .fetch(&format!("/v1/customers?limit=2&starting_after={}", ids[1]))
        .await;
    assert_eq!(last["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(last["has_more"], false);
    let before = emu
        .fetch(&format!("/v1/customers?limit=2&ending_before={}", ids[1]))
        .await;
    assert_eq!(before["data"][0]["id"], ids[3]);
    assert_eq!(before["data"][1]["id"], ids[2]);
    assert_eq!(before["has_more"], true);
}

#[tokio::test]
async fn customers_are_found_by_email_and_metadata_search() {
    let emu = Emu::start().await;
    emu.ok(
        "/v1/customers",
        &[("email", "ada@example.com"), ("metadata[userId]", "u1")],
    )
    .await;
    emu.ok(
        "/v1/customers",
        &[("email", "bob@example.com"), ("metadata[userId]", "u2")],
    )
    .await;
    let by_email = emu
        .fetch("/v1/customers/search?query=email%3A%27ada%40example.com%27")
        .await;
    assert_eq!(by_email["object"], "search_result");
    assert_eq!(by_email["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_email["data"][0]["email"], "ada@example.com");
    let by_meta = emu
        .fetch("/v1/customers/search?query=metadata%5B%27userId%27%5D%3A%27u2%27")
        .await;
    assert_eq!(by_meta["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_meta["data"][0]["email"], "bob@example.com");
    let listed = emu.fetch("/v1/customers?email=bob@example.com").await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn customer_lifecycle_creates_updates_and_deletes_with_events() {
    let emu = Emu::start().await;
    let c = emu
        .ok(
            "/v1/customers",
            &[
                ("email", "x@example.com"),
                ("name", "X"),
                ("metadata[plan]", "free"),
            ],
        )
        .await;
    let id = c["id"].as_str().expect("id");
    assert!(id.starts_with("cus_"));
    assert_eq!(c["metadata"], json!({ "plan": "free" }));
    let u = emu
        .ok(
            &format!("/v1/customers/{id}"),
            &[
                ("metadata[plan]", ""),
                ("metadata[tier]", "pro"),
                ("name", "Y"),
            ],
        )
        .await;
    assert_eq!(u["metadata"], json!({ "tier": "pro" }));
    assert_eq!(u["name"], "Y");
    let (status, deleted) = emu.delete(&format!("/v1/customers/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        deleted,
        json!({ "id": id, "object": "customer", "deleted": true })
    );
    let again = emu.fetch(&format!("/v1/customers/{id}")).await;
    assert_eq!(again["deleted"], true);
    assert_eq!(
        emu.event_types().await,
        vec!["customer.created", "customer.updated", "customer.deleted"]
    );
    let updated = &emu.events().await[1];
    assert_eq!(updated["data"]["previous_attributes"]["name"], "X");
}

#[tokio::test]
async fn prices_are_listed_by_lookup_key_and_a_taken_key_is_refused_unless_transferred() {
    let emu = Emu::start().await;
    let (product, _) = emu.product_and_price("500", None).await;
    let monthly = emu
        .ok(
            "/v1/prices",
            &[
                ("product", &product),
                ("unit_amount", "900"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
                ("lookup_key", "pro_monthly"),
            ],
        )
        .await;
    assert_eq!(monthly["type"], "recurring");
    assert_eq!(monthly["recurring"]["interval"], "month");
    let (status, body) = emu
        .post(
            "/v1/prices",
            &[
                ("product", &product),
                ("unit_amount", "1000"),
                ("currency", "usd"),
                ("lookup_key", "pro_monthly"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "lookup_key");
    let moved = emu
        .ok(
            "/v1/prices",
            &[
                ("product", &product),
                ("unit_amount", "1000"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
                ("lookup_key", "pro_monthly"),
                ("transfer_lookup_key", "true"),
            ],
        )
        .await;
    let found = emu.fetch("/v1/prices?lookup_keys[]=pro_monthly").await;
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["data"][0]["id"], moved["id"]);
    let one_time = emu.fetch("/v1/prices?type=one_time").await;
    assert_eq!(one_time["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn expand_replaces_ids_with_objects_including_inside_lists() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("700", None).await;
    let plain = emu.fetch(&format!("/v1/prices/{price}")).await;
    assert!(
        plain["product"].is_string(),
        "expandable fields are ids unless expanded"
    );
    let expanded = emu
        .fetch(&format!("/v1/prices/{price}?expand[]=product"))
        .await;
    assert_eq!(expanded["product"]["object"], "product");
    let list = emu.fetch("/v1/prices?expand[]=data.product").await;
    assert_eq!(list["data"][0]["product"]["object"], "product");
}

#[tokio::test]
async fn stripe_account_header_scopes_objects_to_a_connected_account() {
    let emu = Emu::start().await;
    let tenant = emu.express_account("Tenant one").await;
    let resp = emu
        .http
        .post(emu.url("/v1/customers"))
        .bearer_auth(KEY)
        .header("Stripe-Account", &tenant)
        .form(&[("email", "t@example.com")])
        .send()
        .await
        .expect("send");
    let c: serde_json::Value = resp.json().await.expect("json");
    let id = c["id"].as_str().expect("id");
    let (status, _) = emu.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(
        status, 404,
        "the platform does not see the connected account's customer"
    );
    let scoped = emu
        .http
        .get(emu.url(&format!("/v1/customers/{id}")))
        .bearer_auth(KEY)
        .header("Stripe-Account", &tenant)
        .send()
        .await
        .expect("send");
    assert_eq!(scoped.status().as_u16(), 200);
    let events = emu
        .http
        .get(emu.url("/v1/events"))
        .bearer_auth(KEY)
        .header("Stripe-Account", &tenant)
        .send()
        .await
        .expect("send");
    let events: serde_json::Value = events.json().await.expect("json");
    assert_eq!(events["data"][0]["account"], tenant.as_str());
}

#[tokio::test]
async fn responses_carry_the_api_version_and_a_request_id() {
    let emu = Emu::start().await;
    let resp = emu
        .http
        .get(emu.url("/v1/customers"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.headers()
            .get("stripe-version")
            .and_then(|v| v.to_str().ok()),
        Some(stripe_emulator::API_VERSION)
    );
    assert!(
        resp.headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|r| r.starts_with("req_"))
    );
}

#[tokio::test]
async fn events_filter_by_type_and_created_range() {
    let emu = Emu::start_with(stripe_emulator::EmulatorConfig {
        fixed_time: Some(1_800_000_000),
        ..common::config()
    })
    .await;
    emu.ok("/v1/customers", &[("email", "e@example.com")]).await;
    emu.ok("/v1/products", &[("name", "P")]).await;
    let customers = emu.fetch("/v1/events?type=customer.created").await;
    assert_eq!(customers["data"].as_array().map(Vec::len), Some(1));
    let wildcard = emu.fetch("/v1/events?type=product.*").await;
    assert_eq!(wildcard["data"][0]["type"], "product.created");
    let later = emu.fetch("/v1/events?created[gt]=1800000000").await;
    assert_eq!(later["data"].as_array().map(Vec::len), Some(0));
    let at = emu.fetch("/v1/events?created[gte]=1800000000").await;
    assert_eq!(at["data"].as_array().map(Vec::len), Some(2));
    let id = at["data"][0]["id"].as_str().expect("id");
    let one = emu.fetch(&format!("/v1/events/{id}")).await;
    assert_eq!(one["api_version"], stripe_emulator::API_VERSION);
}

#[tokio::test]
async fn basic_auth_with_the_key_as_user_name_is_accepted_as_curl_u_sends_it() {
    let emu = Emu::start().await;
    let resp = emu
        .http
        .get(emu.url("/v1/customers"))
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let wrong = emu
        .http
        .get(emu.url("/v1/customers"))
        .basic_auth("pk_test_public", Some(""))
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status().as_u16(), 401);
}

#[tokio::test]
async fn deleting_a_customer_cancels_its_subscriptions() {
    let emu = Emu::start().await;
    let customer = emu
        .ok("/v1/customers", &[("payment_method", "pm_card_visa")])
        .await;
    let cus = customer["id"].as_str().expect("id");
    let (_, price) = emu.product_and_price("1000", Some("month")).await;
    let sub = emu
        .ok(
            "/v1/subscriptions",
            &[("customer", cus), ("items[0][price]", &price)],
        )
        .await;
    emu.delete(&format!("/v1/customers/{cus}")).await;
    let after = emu
        .fetch(&format!(
            "/v1/subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(after["status"], "canceled");
    let types = emu.event_types().await;
    let deleted_sub = types
        .iter()
        .position(|t| t == "customer.subscription.deleted");
    let deleted_customer = types.iter().position(|t| t == "customer.deleted");
    assert!(deleted_sub.is_some() && deleted_sub < deleted_customer);
}

#[tokio::test]
async fn a_malformed_stripe_version_is_refused_and_a_valid_one_is_answered_in_the_emulators_version()
 {
    let emu = Emu::start().await;
    let bad = emu
        .http
        .get(emu.url("/v1/customers"))
        .bearer_auth(KEY)
        .header("Stripe-Version", "yesterday")
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status().as_u16(), 400);
    let ok = emu
        .http
        .get(emu.url("/v1/customers"))
        .bearer_auth(KEY)
        .header("Stripe-Version", "2026-10-28.endive")
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        ok.headers()
            .get("stripe-version")
            .and_then(|v| v.to_str().ok()),
        Some(stripe_emulator::API_VERSION)
    );
}

#[tokio::test]
async fn unknown_parameters_on_post_and_get_are_refused_naming_them() {
    let emu = Emu::start().await;
    let (status, body) = emu
        .post(
            "/v1/customers",
            &[("email", "a@example.com"), ("emial", "x")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "parameter_unknown");
    assert_eq!(body["error"]["param"], "emial");
    let (status, body) = emu.get("/v1/customers?limit=3&colour=red").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "colour");
    let (status, body) = emu
        .post("/v1/customers", &[("address[planet]", "Mars")])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "address[planet]");
    let (status, body) = emu
        .post(
            "/v1/customers",
            &[("metadata[anything]", "1"), ("expand[]", "test_clock")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn wrong_types_and_empty_values_are_refused_with_stripes_codes() {
    let emu = Emu::start().await;
    let (status, body) = emu.post("/v1/customers", &[("balance", "lots")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "parameter_invalid_integer");
    assert_eq!(body["error"]["param"], "balance");
    let (status, body) = emu.post("/v1/customers", &[("balance", "")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "parameter_invalid_empty");
    let (status, body) = emu.post("/v1/checkout/sessions", &[("mode", "rent")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "mode");
}

#[tokio::test]
async fn a_refused_request_saves_nothing_for_its_idempotency_key_so_a_corrected_retry_goes_through()
{
    let emu = Emu::start().await;
    let send = |form: &'static [(&'static str, &'static str)]| {
        emu.http
            .post(emu.url("/v1/customers"))
            .bearer_auth(KEY)
            .header("Idempotency-Key", "retry-after-fix")
            .form(form)
            .send()
    };
    let refused = send(&[("email", "a@example.com"), ("emial", "typo")])
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 400);
    let fixed = send(&[("email", "a@example.com")]).await.expect("post");
    assert_eq!(fixed.status().as_u16(), 200);
    let first: Value = fixed.json().await.expect("json");
    let replay = send(&[("email", "a@example.com")]).await.expect("post");
    assert_eq!(
        replay
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let replayed: Value = replay.json().await.expect("json");
    assert_eq!(replayed["id"], first["id"]);
}

#[tokio::test]
async fn pm_card_mastercard_is_a_mastercard_ending_4444() {
    let emu = Emu::start().await;
    let customer = emu
        .ok("/v1/customers", &[("email", "mc@example.com")])
        .await;
    let cus = customer["id"].as_str().expect("id").to_owned();
    let pm = emu
        .ok(
            "/v1/payment_methods/pm_card_mastercard/attach",
            &[("customer", &cus)],
        )
        .await;
    assert_eq!(pm["card"]["brand"], "mastercard", "{pm}");
    assert_eq!(pm["card"]["last4"], "4444");
}

#[tokio::test]
async fn checkout_sessions_speak_the_2026_ui_modes() {
    let emu = Emu::start().await;
    let (_, price) = emu.product_and_price("500", None).await;
    let form = [
        ("mode", "payment"),
        ("line_items[0][price]", price.as_str()),
        ("line_items[0][quantity]", "1"),
        ("success_url", "https://example.com/ok"),
    ];
    let session = emu.ok("/v1/checkout/sessions", &form).await;
    assert_eq!(session["ui_mode"], "hosted_page");
    let mut old = form.to_vec();
    old.push(("ui_mode", "hosted"));
    let (status, body) = emu.post("/v1/checkout/sessions", &old).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "ui_mode");
}

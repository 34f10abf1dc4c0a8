//! The HTTP surface: `/v1` with Stripe's auth, idempotency, errors and `expand`, plus `/_emulator/*` and hosted pages.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::ledger::{PLATFORM, Replay, State};
use crate::params::Params;
use crate::{
    API_VERSION, Shared, account, balance, catalog, checkout, connect_page, coupon, customer,
    fresh_state, hosted_page, invoice, param_table, payment, portal, setup, subscription,
    test_clock, transfer, webhook,
};

/// Who is asking, and where hosted pages live.
pub struct Ctx<'a> {
    pub acct: &'a str,
    pub base_url: &'a str,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/{*path}", any(stripe_api))
        .route("/v2/{*path}", any(stripe_api_v2))
        .route("/_emulator/deliveries", get(deliveries))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/chaos", post(chaos))
        .route("/_emulator/accounts/{id}/{action}", post(account_knob))
        .merge(hosted_page::routes())
        .merge(connect_page::routes())
        .with_state(shared)
}

fn json_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    let mut resp = (status, axum::Json(body.clone())).into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", v);
    }
    headers.insert("stripe-version", HeaderValue::from_static(API_VERSION));
    resp
}

/// The API key from `Authorization: Bearer sk_…` (or Basic with the key as user name, as curl -u sends it).
fn api_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(key) = value.strip_prefix("Bearer ") {
        return Some(key.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = decode_base64(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split(':').next().unwrap_or_default().to_owned())
}

fn decode_base64(input: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in input.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        buffer = (buffer << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = api_key(headers) else {
        return Err(ApiError::authentication(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ));
    };
    let accepted = if shared.config.api_keys.is_empty() {
        key.starts_with("sk_test_") || key.starts_with("rk_test_")
    } else {
        shared.config.api_keys.contains(&key)
    };
    if accepted {
        Ok(())
    } else {
        let tail: String = key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(ApiError::authentication(format!(
            "Invalid API Key provided: {}****{tail}",
            key.chars().take(8).collect::<String>()
        )))
    }
}

async fn stripe_api(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = shared.lock();
    let request_id = st.new_id("req_");
    if let Err(e) = authenticate(&shared, &headers) {
        return json_response(e.status_code(), &e.body(), &request_id);
    }
    if let Some(version) = headers.get("stripe-version").and_then(|v| v.to_str().ok())
        && !valid_version(version)
    {
        let e = ApiError::invalid(
            "Stripe-Version",
            format!("Invalid Stripe API version: {version}"),
        );
        return json_response(e.status_code(), &e.body(), &request_id);
    }
    let mut params = Params::parse(uri.query().unwrap_or_default().as_bytes());
    if method == Method::POST {
        params.0.extend(Params::parse(&body).0);
    }
    let acct = headers
        .get("stripe-account")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| PLATFORM.to_owned());
    if !account::accessible(&st, &acct) {
        let e = account::invalid_account(&acct);
        return json_response(e.status_code(), &e.body(), &request_id);
    }
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path
        .trim_start_matches("/v1/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    // Stripe validates before it looks at the idempotency key, and saves nothing for a refused request.
    if let Err(e) = param_table::admit(method.as_str(), &segments, &params) {
        return json_response(e.status_code(), &e.body(), &request_id);
    }
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|_| method == Method::POST)
        .map(str::to_owned);
    let fingerprint = format!("{method} {path} {}", params.fingerprint());
    if let Some(key) = &idempotency_key
        && let Some(replay) = st.ledger(&acct).idempotency.get(key).cloned()
    {
        if replay.fingerprint != fingerprint {
            let e = ApiError::idempotency();
            return json_response(e.status_code(), &e.body(), &request_id);
        }
        let status = StatusCode::from_u16(replay.status).unwrap_or(StatusCode::OK);
        let mut resp = json_response(status, &replay.body, &request_id);
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return resp;
    }
    st.request = Some((request_id.clone(), idempotency_key.clone()));
    let ctx = Ctx {
        acct: &acct,
        base_url: &shared.base_url,
    };
    let draws_before = st.counter;
    let result = dispatch(&mut st, &ctx, &method, &segments, &params).map(|mut body| {
        st.expand(&acct, &mut body, &params.expand());
        body
    });
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => (e.status_code(), e.body()),
    };
    // Stripe saves a result only once the endpoint began executing: a success, or a failure after side
    // effects (any id or chance drawn, as a declined card's payment intent). A refusal saves nothing, so a
    // corrected retry with the same key goes through. https://docs.stripe.com/api/idempotent_requests
    let executed = status.is_success() || st.counter != draws_before;
    if let Some(key) = idempotency_key.filter(|_| executed) {
        st.ledger(&acct).idempotency.insert(
            key,
            Replay {
                fingerprint,
                status: status.as_u16(),
                body: body.clone(),
            },
        );
    }
    st.request = None;
    if method != Method::GET {
        shared.commit(&mut st);
    }
    drop(st);
    json_response(status, &body, &request_id)
}

/// The v2 API (JSON bodies): event destinations and thin events.
async fn stripe_api_v2(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = shared.lock();
    let request_id = st.new_id("req_");
    if let Err(e) = authenticate(&shared, &headers) {
        return json_response(e.status_code(), &e.body(), &request_id);
    }
    let json_body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let e = ApiError::state(format!("The request body is not valid JSON: {e}"));
                return json_response(e.status_code(), &e.body(), &request_id);
            }
        }
    };
    let query = Params::parse(uri.query().unwrap_or_default().as_bytes());
    let path = uri.path().trim_start_matches("/v2/").to_owned();
    let seg: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    use crate::event_destination as ed;
    let result = match (method.as_str(), seg.as_slice()) {
        ("POST", ["core", "event_destinations"]) => ed::create(&mut st, &json_body),
        ("GET", ["core", "event_destinations"]) => Ok(ed::list(&st)),
        ("GET", ["core", "event_destinations", id]) => ed::retrieve(&st, id),
        ("DELETE", ["core", "event_destinations", id]) => ed::delete(&mut st, id),
        ("POST", ["core", "event_destinations", id, "disable"]) => {
            ed::set_enabled(&mut st, id, false)
        }
        ("POST", ["core", "event_destinations", id, "enable"]) => {
            ed::set_enabled(&mut st, id, true)
        }
        ("GET", ["core", "events"]) => Ok(ed::list_events(&st, query.str("object_id"))),
        ("GET", ["core", "events", id]) => ed::retrieve_event(&st, id),
        _ => Err(ApiError::unknown_route(method.as_str(), uri.path())),
    };
    if method != Method::GET {
        shared.commit(&mut st);
    }
    drop(st);
    match result {
        Ok(v) => json_response(StatusCode::OK, &v, &request_id),
        Err(e) => json_response(e.status_code(), &e.body(), &request_id),
    }
}

/// `YYYY-MM-DD` with an optional `.name` (`2026-09-30.endive`). Any well-formed version is answered in the one
/// version the emulator renders, which the `Stripe-Version` response header names.
fn valid_version(version: &str) -> bool {
    let date = version.split('.').next().unwrap_or_default();
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3
        && [4, 2, 2]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_digit()))
}

fn dispatch(
    st: &mut State,
    ctx: &Ctx<'_>,
    method: &Method,
    seg: &[&str],
    p: &Params,
) -> Result<Value, ApiError> {
    let acct = ctx.acct;
    match (method.as_str(), seg) {
        ("POST", ["customers"]) => customer::create(st, acct, p),
        ("GET", ["customers"]) => customer::list(st, acct, p),
        ("GET", ["customers", "search"]) => customer::search(st, acct, p),
        ("GET", ["customers", id]) => customer::retrieve(st, acct, id),
        ("POST", ["customers", id]) => customer::update(st, acct, id, p),
        ("DELETE", ["customers", id]) => customer::delete(st, acct, id),
        ("GET", ["customers", id, "payment_methods"]) => {
            payment::list_customer_methods(st, acct, id, p)
        }

        ("POST", ["products"]) => catalog::create_product(st, acct, p),
        ("GET", ["products"]) => catalog::list_products(st, acct, p),
        ("GET", ["products", id]) => st.get(acct, "product", id),
        ("POST", ["products", id]) => catalog::update_product(st, acct, id, p),
        ("DELETE", ["products", id]) => catalog::delete_product(st, acct, id),
        ("POST", ["prices"]) => catalog::create_price(st, acct, p),
        ("GET", ["prices"]) => catalog::list_prices(st, acct, p),
        ("GET", ["prices", id]) => st.get(acct, "price", id),
        ("POST", ["prices", id]) => catalog::update_price(st, acct, id, p),

        ("POST", ["checkout", "sessions"]) => checkout::create(st, ctx, p),
        ("GET", ["checkout", "sessions"]) => checkout::list(st, acct, p),
        ("GET", ["checkout", "sessions", id]) => checkout::retrieve(st, acct, id, p),
        ("GET", ["payment_pages", id]) => checkout::payment_page(st, acct, id),
        ("POST", ["payment_pages", id, "confirm"]) => {
            checkout::confirm_payment_page(st, acct, id, p)
        }
        ("POST", ["checkout", "sessions", id, "expire"]) => checkout::expire(st, acct, id),
        ("GET", ["checkout", "sessions", id, "line_items"]) => {
            checkout::line_items(st, acct, id, p)
        }

        ("POST", ["subscriptions"]) => subscription::create(st, ctx, p),
        ("GET", ["subscriptions"]) => subscription::list(st, acct, p),
        ("GET", ["subscriptions", id]) => st.get(acct, "subscription", id),
        ("POST", ["subscriptions", id]) => subscription::update(st, ctx, id, p),
        ("DELETE", ["subscriptions", id]) => subscription::cancel(st, acct, id, p),
        ("POST", ["subscriptions", id, "resume"]) => subscription::resume(st, ctx, id),

        ("GET", ["invoices"]) => subscription::list_invoices(st, acct, p),
        ("GET", ["invoices", id]) => st.get(acct, "invoice", id),
        ("POST", ["invoices"]) => invoice::create(st, ctx, p),
        ("POST", ["invoices", "create_preview"]) => invoice::preview(st, acct, p),
        ("POST", ["invoices", id]) => invoice::update(st, acct, id, p),
        ("DELETE", ["invoices", id]) => invoice::delete(st, acct, id),
        ("GET", ["invoices", id, "lines"]) => invoice::lines(st, acct, id, p),
        ("POST", ["invoices", id, "finalize"]) => invoice::finalize(st, acct, id),
        ("POST", ["invoices", id, "send"]) => invoice::send(st, acct, id),
        ("POST", ["invoices", id, "pay"]) => invoice::pay(st, ctx, id, p),
        ("POST", ["invoiceitems"]) => invoice::create_item(st, acct, p),
        ("GET", ["invoiceitems"]) => invoice::list_items(st, acct, p),
        ("GET", ["invoiceitems", id]) => st.get(acct, "invoiceitem", id),
        ("DELETE", ["invoiceitems", id]) => invoice::delete_item(st, acct, id),
        ("POST", ["invoices", id, "void"]) => subscription::void_invoice(st, acct, id),
        ("POST", ["invoices", id, "mark_uncollectible"]) => {
            subscription::mark_uncollectible(st, acct, id)
        }

        ("POST", ["payment_intents"]) => payment::create_intent(st, acct, p),
        ("GET", ["payment_intents"]) => payment::list_intents(st, acct, p),
        ("GET", ["payment_intents", id]) => st.get(acct, "payment_intent", id),
        ("POST", ["payment_intents", id]) => payment::update_intent(st, acct, id, p),
        ("POST", ["payment_intents", id, "confirm"]) => payment::confirm_intent(st, acct, id, p),
        ("POST", ["payment_intents", id, "cancel"]) => payment::cancel_intent(st, acct, id, p),
        ("GET", ["charges"]) => payment::list_charges(st, acct, p),
        ("GET", ["charges", id]) => st.get(acct, "charge", id),
        ("GET", ["charges", id, "refunds"]) => payment::list_refunds_of_charge(st, acct, id, p),
        ("POST", ["refunds"]) => payment::create_refund(st, acct, p),
        ("GET", ["refunds"]) => payment::list_refunds(st, acct, p),
        ("GET", ["refunds", id]) => st.get(acct, "refund", id),
        ("POST", ["refunds", id]) => payment::update_refund(st, acct, id, p),
        ("GET", ["payment_methods", id]) => payment::retrieve_method(st, acct, id),
        ("POST", ["payment_methods", id, "attach"]) => payment::attach_method(st, acct, id, p),
        ("POST", ["payment_methods"]) => setup::create_method(st, acct, p),
        ("GET", ["payment_methods"]) => setup::list_methods(st, acct, p),
        ("POST", ["payment_methods", id, "detach"]) => setup::detach(st, acct, id),
        ("POST", ["setup_intents"]) => setup::create_intent(st, acct, p),
        ("GET", ["setup_intents"]) => setup::list_intents(st, acct, p),
        ("GET", ["setup_intents", id]) => st.get(acct, "setup_intent", id),
        ("POST", ["setup_intents", id, "confirm"]) => setup::confirm_intent(st, acct, id, p),
        ("POST", ["setup_intents", id, "cancel"]) => setup::cancel_intent(st, acct, id, p),

        ("GET", ["events"]) => list_events(st, acct, p),
        ("GET", ["events", id]) => st.get(acct, "event", id),

        ("POST", ["webhook_endpoints"]) => webhook::create(st, p),
        ("GET", ["webhook_endpoints"]) => st.list(
            PLATFORM,
            "webhook_endpoint",
            p,
            "/v1/webhook_endpoints",
            |_| true,
        ),
        ("GET", ["webhook_endpoints", id]) => st.get(PLATFORM, "webhook_endpoint", id),
        ("POST", ["webhook_endpoints", id]) => webhook::update(st, id, p),
        ("DELETE", ["webhook_endpoints", id]) => webhook::delete(st, id),

        ("POST", ["test_helpers", "test_clocks"]) => test_clock::create(st, acct, p),
        ("GET", ["test_helpers", "test_clocks"]) => st.list(
            acct,
            "test_helpers.test_clock",
            p,
            "/v1/test_helpers/test_clocks",
            |_| true,
        ),
        ("GET", ["test_helpers", "test_clocks", id]) => st.get(acct, "test_helpers.test_clock", id),
        ("DELETE", ["test_helpers", "test_clocks", id]) => test_clock::delete(st, acct, id),
        ("POST", ["test_helpers", "test_clocks", id, "advance"]) => {
            test_clock::advance(st, ctx, id, p)
        }

        ("POST", ["billing_portal", "sessions"]) => portal::create(st, ctx, p),

        ("POST", ["accounts"]) => account::create(st, ctx, p),
        ("GET", ["accounts"]) => account::list(st, ctx, p),
        ("GET", ["accounts", id]) => account::retrieve_for(st, ctx, id),
        ("POST", ["accounts", id]) => account::update(st, ctx, id, p),
        ("DELETE", ["accounts", id]) => account::delete(st, ctx, id),
        ("GET", ["account"]) => account::retrieve(st, acct),
        ("GET", ["accounts", id, "capabilities"]) => account::list_capabilities(st, ctx, id),
        ("GET", ["accounts", id, "capabilities", name]) => {
            account::retrieve_capability(st, ctx, id, name)
        }
        ("POST", ["accounts", id, "login_links"]) => account::create_login_link(st, ctx, id),
        ("POST", ["account_links"]) => account::create_link(st, ctx, p),

        ("GET", ["balance"]) => Ok(balance::retrieve(st, acct)),
        ("GET", ["balance_transactions"]) => balance::list_transactions(st, acct, p),
        ("GET", ["balance_transactions", id]) => balance::retrieve_transaction(st, acct, id),
        ("GET", ["payouts"]) => balance::list_payouts(st, acct, p),
        ("GET", ["payouts", id]) => st.get(acct, "payout", id),
        ("POST", ["transfers"]) => transfer::create(st, acct, p),
        ("GET", ["transfers"]) => transfer::list(st, acct, p),
        ("GET", ["transfers", id]) => st.get(acct, "transfer", id),
        ("POST", ["transfers", id, "reversals"]) => transfer::create_reversal(st, acct, id, p),
        ("GET", ["transfers", id, "reversals"]) => transfer::list_reversals(st, acct, id, p),
        ("GET", ["application_fees"]) => transfer::list_fees(st, acct, p),
        ("GET", ["application_fees", id]) => st.get(acct, "application_fee", id),
        ("POST", ["application_fees", id, "refunds"]) => transfer::refund_fee(st, acct, id, p),
        ("GET", ["application_fees", id, "refunds"]) => transfer::list_fee_refunds(st, acct, id, p),

        ("POST", ["coupons"]) => coupon::create_coupon(st, acct, p),
        ("GET", ["coupons"]) => st.list(acct, "coupon", p, "/v1/coupons", |_| true),
        ("GET", ["coupons", id]) => st.get(acct, "coupon", id),
        ("DELETE", ["coupons", id]) => coupon::delete_coupon(st, acct, id),
        ("POST", ["promotion_codes"]) => coupon::create_promotion_code(st, acct, p),
        ("GET", ["promotion_codes"]) => coupon::list_promotion_codes(st, acct, p),
        ("GET", ["promotion_codes", id]) => st.get(acct, "promotion_code", id),
        ("POST", ["promotion_codes", id]) => coupon::update_promotion_code(st, acct, id, p),

        _ => Err(ApiError::unknown_route(
            method.as_str(),
            &format!("/v1/{}", seg.join("/")),
        )),
    }
}

fn list_events(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let types: Vec<String> = match (p.str("type"), p.get("types")) {
        (Some(t), _) => vec![t.to_owned()],
        (None, Some(Value::Array(ts))) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    st.list(acct, "event", p, "/v1/events", |e| {
        let t = e["type"].as_str().unwrap_or_default();
        types.is_empty()
            || types.iter().any(|want| match want.strip_suffix('*') {
                Some(prefix) => t.starts_with(prefix),
                None => t == want,
            })
    })
}

async fn deliveries(AxumState(shared): AxumState<Arc<Shared>>, uri: Uri) -> Response {
    let p = Params::parse(uri.query().unwrap_or_default().as_bytes());
    let st = shared.lock();
    let data: Vec<&crate::ledger::DeliveryRecord> = st
        .deliveries
        .iter()
        .filter(|d| p.str("event").is_none_or(|e| d.event_id == e))
        .filter(|d| p.str("type").is_none_or(|t| d.event_type == t))
        .filter(|d| p.str("endpoint").is_none_or(|e| d.endpoint_id == e))
        .collect();
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

/// Test knobs for connected accounts: `verify` finishes a pending verification, `deauthorize` revokes the
/// platform's access (`account.application.deauthorized`), `payout_failure` (`fail=true|false`) makes its
/// next payouts fail.
async fn account_knob(
    AxumState(shared): AxumState<Arc<Shared>>,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    body: Bytes,
) -> Response {
    let p = Params::parse(&body);
    let mut st = shared.lock();
    let result = match action.as_str() {
        "verify" => account::transition(&mut st, &id, account::Onboarding::Complete),
        "deauthorize" => account::get(&st, &id).map(|_| {
            account::deauthorize(&mut st, &id);
            json!({ "id": id, "deauthorized": true })
        }),
        "payout_failure" => account::get(&st, &id).and_then(|_| {
            let fail = p.bool("fail")?.unwrap_or(true);
            st.connect.failing_payouts.retain(|a| *a != id);
            if fail {
                st.connect.failing_payouts.push(id.clone());
            }
            Ok(json!({ "id": id, "payout_failure": fail }))
        }),
        other => Err(ApiError::unknown_route(
            "POST",
            &format!("/_emulator/accounts/{id}/{other}"),
        )),
    };
    shared.commit(&mut st);
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => (e.status_code(), axum::Json(e.body())).into_response(),
    }
}

async fn reset(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    let mut st = shared.lock();
    *st = fresh_state(&shared.config);
    st.base_url = shared.base_url.clone();
    shared.commit(&mut st);
    axum::Json(json!({ "reset": true })).into_response()
}

async fn chaos(AxumState(shared): AxumState<Arc<Shared>>, uri: Uri, body: Bytes) -> Response {
    let mut p = Params::parse(uri.query().unwrap_or_default().as_bytes());
    p.0.extend(Params::parse(&body).0);
    let mut st = shared.lock();
    match webhook::set_chaos(&mut st, &p) {
        Ok(v) => {
            shared.commit(&mut st);
            axum::Json(v).into_response()
        }
        Err(e) => (e.status_code(), axum::Json(e.body())).into_response(),
    }
}

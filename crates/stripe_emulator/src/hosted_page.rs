//! Hosted pages as plain HTML forms that work without JavaScript: checkout (with the 3D Secure challenge),
//! the billing portal, payment-intent authentication and hosted invoices.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::Value;

use crate::Shared;
use crate::checkout::{self, PageOutcome};
use crate::ledger::State;
use crate::params::Params;
use crate::payment::{self, Attempt};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/checkout/{id}", get(checkout_page).post(checkout_submit))
        .route(
            "/checkout/{id}/authenticate",
            get(challenge_page).post(challenge_submit),
        )
        .route(
            "/authenticate/{pi}",
            get(challenge_page).post(intent_challenge_submit),
        )
        .route("/portal/{id}", get(portal_page).post(portal_submit))
        .route("/invoice/{id}", get(invoice_page).post(invoice_submit))
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(crate) fn money(amount: i64, currency: &str) -> String {
    // Zero-decimal currencies (JPY, KRW, …) have no minor unit.
    let zero_decimal = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    if zero_decimal.contains(&currency) {
        format!("{amount} {}", currency.to_uppercase())
    } else {
        format!(
            "{}.{:02} {}",
            amount / 100,
            (amount % 100).abs(),
            currency.to_uppercase()
        )
    }
}

pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}\
.banner{{background:#fff3cd;padding:.5rem;border-radius:4px}}.error{{color:#b00020;font-weight:bold}}\
label{{display:block;margin:.5rem 0}}input,select{{width:100%;padding:.4rem}}button{{margin:.3rem 0;padding:.5rem 1rem}}\
table{{width:100%}}td:last-child{{text-align:right}}</style></head><body>\
<p class=\"banner\">Test mode — emulated Stripe</p><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

/// Which account holds an object (hosted pages are reached without a `Stripe-Account` header).
fn owner(st: &State, id: &str) -> Option<String> {
    st.ledgers
        .iter()
        .find(|(_, l)| l.objects.contains_key(id))
        .map(|(a, _)| a.clone())
}

pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page(
            "Not found",
            "<p>This page does not exist or has expired.</p>",
        )),
    )
        .into_response()
}

/// The business a connected account's page is from (its `business_profile.name`); nothing on the platform's.
fn merchant(st: &State, acct: &str) -> String {
    if acct == crate::ledger::PLATFORM {
        return String::new();
    }
    let account = crate::account::get(st, acct).unwrap_or_default();
    let name = account["business_profile"]["name"]
        .as_str()
        .or(account["email"].as_str())
        .unwrap_or(acct);
    format!("<p class=\"merchant\">{}</p>", escape(name))
}

fn render_checkout(st: &mut State, acct: &str, id: &str, error: Option<&str>) -> Option<String> {
    let cs = st.find(acct, id)?.clone();
    let currency = cs["currency"].as_str().unwrap_or("usd").to_owned();
    let status = cs["status"].as_str().unwrap_or_default();
    if status == "expired" {
        return Some(page(
            "Session expired",
            "<p>This checkout session has expired.</p>",
        ));
    }
    if status == "complete" {
        let link = cs["success_url"]
            .as_str()
            .unwrap_or_default()
            .replace("{CHECKOUT_SESSION_ID}", id);
        return Some(page(
            "Already paid",
            &format!(
                "<p>This checkout session is complete.</p><p><a href=\"{}\">Continue</a></p>",
                escape(&link)
            ),
        ));
    }
    let mut rows = String::new();
    for li in st
        .find(acct, &format!("{id}:line_items"))
        .and_then(|l| l["data"].as_array().cloned())
        .unwrap_or_default()
    {
        let every = li["price"]["recurring"]["interval"]
            .as_str()
            .map(|i| format!(" / {i}"))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{} × {}</td><td>{}{}</td></tr>",
            li["quantity"],
            escape(li["description"].as_str().unwrap_or_default()),
            money(li["amount_subtotal"].as_i64().unwrap_or(0), &currency),
            escape(&every)
        ));
    }
    let discount = cs["total_details"]["amount_discount"].as_i64().unwrap_or(0);
    if discount > 0 {
        rows.push_str(&format!(
            "<tr><td>Discount</td><td>−{}</td></tr>",
            money(discount, &currency)
        ));
    }
    let trial = st
        .find(acct, &format!("{id}:setup"))
        .and_then(|s| s["trial_period_days"].as_i64())
        .filter(|d| *d > 0);
    if let Some(days) = trial {
        rows.push_str(&format!("<tr><td>Free trial</td><td>{days} days</td></tr>"));
    }
    rows.push_str(&format!(
        "<tr><th>Total due today</th><th>{}</th></tr>",
        money(cs["amount_total"].as_i64().unwrap_or(0), &currency)
    ));
    let email_field = if let Some(fixed) = cs["customer_email"].as_str() {
        format!(
            "<label>Email <input name=\"email\" type=\"email\" value=\"{}\" readonly></label>",
            escape(fixed)
        )
    } else if cs["customer"].is_null() {
        "<label>Email <input name=\"email\" type=\"email\"></label>".to_owned()
    } else {
        String::new()
    };
    let promo = if cs["allow_promotion_codes"] == true {
        "<form method=\"post\"><label>Promotion code <input name=\"promotion_code\"></label><button name=\"action\" value=\"apply_promotion_code\">Apply</button></form>"
    } else {
        ""
    };
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let back = cs["cancel_url"]
        .as_str()
        .map(|u| format!("<p><a href=\"{}\">← Back</a></p>", escape(u)))
        .unwrap_or_default();
    // Bank debits settle later (Stripe's delayed payment methods); the emulator offers them for one-time payments.
    let bank = if cs["mode"] == "payment" {
        let email = if cs["customer"].is_null() && cs["customer_email"].is_null() {
            "<label>Email <input name=\"email\" type=\"email\"></label>"
        } else {
            ""
        };
        format!(
            "<h2>Or pay by US bank account</h2><form method=\"post\">{email}<label>Account number \
<input name=\"account_number\" placeholder=\"000123456789\"></label><button name=\"action\" value=\"pay_by_bank\">Pay by bank</button></form>"
        )
    } else {
        String::new()
    };
    let merchant = merchant(st, acct);
    Some(page(
        "Checkout",
        &format!(
            "{merchant}{back}<table>{rows}</table>{error}{promo}<form method=\"post\">{email_field}\
<label>Card number <input name=\"card_number\" inputmode=\"numeric\" autocomplete=\"cc-number\" placeholder=\"4242 4242 4242 4242\"></label>\
<label>Expiry <input name=\"exp\" placeholder=\"MM / YY\" value=\"12 / 34\"></label>\
<label>CVC <input name=\"cvc\" value=\"123\"></label>\
<label>Name on card <input name=\"name\"></label>\
<button name=\"action\" value=\"pay\">{}</button></form>{bank}",
            match cs["mode"].as_str() {
                Some("subscription") => "Subscribe",
                Some("setup") => "Save card",
                _ => "Pay",
            }
        ),
    ))
}

async fn checkout_page(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let mut st = shared.lock();
    let Some(acct) = owner(&st, &id) else {
        return not_found();
    };
    let _ = checkout::expire_if_due(&mut st, &acct, &id);
    let html = render_checkout(&mut st, &acct, &id, None);
    shared.commit(&mut st);
    match html {
        Some(html) => Html(html).into_response(),
        None => not_found(),
    }
}

async fn checkout_submit(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let mut st = shared.lock();
    let Some(acct) = owner(&st, &id) else {
        return not_found();
    };
    let outcome = if form.str("action") == Some("apply_promotion_code") {
        match checkout::apply_promotion_code(
            &mut st,
            &acct,
            &id,
            form.str("promotion_code").unwrap_or_default(),
        ) {
            Ok(()) => Ok(None),
            Err(e) => Err(e),
        }
    } else if form.str("action") == Some("pay_by_bank") {
        checkout::pay_by_bank(
            &mut st,
            &acct,
            &id,
            form.str("account_number").unwrap_or_default(),
            form.str("email"),
        )
        .map(Some)
    } else {
        match form.str("card_number") {
            None => Err(crate::api_error::ApiError::card(
                "incomplete_number",
                None,
                "Your card number is incomplete.",
            )),
            Some(card) => checkout::pay(
                &mut st,
                &acct,
                &id,
                card,
                form.str("email"),
                form.str("name"),
            )
            .map(Some),
        }
    };
    let response = match outcome {
        Ok(Some(PageOutcome::Completed(url))) => Redirect::to(&url).into_response(),
        Ok(Some(PageOutcome::NeedsAuthentication)) => {
            Redirect::to(&format!("/checkout/{id}/authenticate")).into_response()
        }
        Ok(Some(PageOutcome::Declined(e))) | Err(e) => {
            let html = render_checkout(&mut st, &acct, &id, Some(&e.message)).unwrap_or_default();
            (StatusCode::PAYMENT_REQUIRED, Html(html)).into_response()
        }
        Ok(None) => {
            Html(render_checkout(&mut st, &acct, &id, None).unwrap_or_default()).into_response()
        }
    };
    shared.commit(&mut st);
    response
}

fn challenge(title: &str) -> String {
    page(
        title,
        "<p>This is a 3D Secure test challenge. Approve or fail the authentication.</p>\
<form method=\"post\"><button name=\"action\" value=\"complete\">Complete authentication</button>\
<button name=\"action\" value=\"fail\">Fail authentication</button></form>",
    )
}

/// The 3D Secure challenge, the same page for a checkout session and for a payment intent.
async fn challenge_page(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let st = shared.lock();
    if owner(&st, &id).is_none() {
        return not_found();
    }
    Html(challenge("Authenticate your payment")).into_response()
}

async fn challenge_submit(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let approve = form.str("action") == Some("complete");
    let mut st = shared.lock();
    let Some(acct) = owner(&st, &id) else {
        return not_found();
    };
    let response = match checkout::authenticate(&mut st, &acct, &id, approve) {
        Ok(PageOutcome::Completed(url)) => Redirect::to(&url).into_response(),
        Ok(PageOutcome::NeedsAuthentication) => {
            Redirect::to(&format!("/checkout/{id}/authenticate")).into_response()
        }
        Ok(PageOutcome::Declined(e)) | Err(e) => {
            let html = render_checkout(&mut st, &acct, &id, Some(&e.message)).unwrap_or_default();
            (StatusCode::PAYMENT_REQUIRED, Html(html)).into_response()
        }
    };
    shared.commit(&mut st);
    response
}

async fn intent_challenge_submit(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(pi): Path<String>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let approve = form.str("action") == Some("complete");
    let mut st = shared.lock();
    let Some(acct) = owner(&st, &pi) else {
        return not_found();
    };
    let result = payment::finish_authentication(&mut st, &acct, &pi, approve);
    shared.commit(&mut st);
    let text = match result {
        Ok(Attempt::Succeeded) => "Authentication complete. The payment succeeded.".to_owned(),
        Ok(Attempt::Declined(e)) | Err(e) => e.message.clone(),
        Ok(Attempt::RequiresAction) => "Authentication is still required.".to_owned(),
    };
    Html(page("Authentication", &format!("<p>{}</p>", escape(&text)))).into_response()
}

fn render_portal(
    st: &State,
    acct: &str,
    id: &str,
    message: Option<(&str, bool)>,
) -> Option<String> {
    let session = st.find(acct, id)?;
    let customer = session["customer"].as_str()?;
    let mut body = String::new();
    if let Some((text, is_error)) = message {
        let class = if is_error { "error" } else { "notice" };
        body.push_str(&format!(
            "<p class=\"{class}\" role=\"status\">{}</p>",
            escape(text)
        ));
    }
    let prices: Vec<Value> = st
        .all(acct, "price")
        .into_iter()
        .filter(|p| p["active"] == true && p["type"] == "recurring")
        .collect();
    for sub in st.all(acct, "subscription").into_iter().filter(|s| {
        s["customer"] == customer
            && s["status"] != "canceled"
            && s["status"] != "incomplete_expired"
    }) {
        let sid = escape(sub["id"].as_str().unwrap_or_default());
        let item = &sub["items"]["data"][0];
        let currency = item["price"]["currency"].as_str().unwrap_or("usd");
        let end = item["current_period_end"].as_i64().unwrap_or(0);
        body.push_str(&format!(
            "<section><h2>Subscription</h2><p>{} every {} — status <strong>{}</strong>{}</p><p>Current period ends at {end} (unix time).</p>",
            money(item["price"]["unit_amount"].as_i64().unwrap_or(0), currency),
            escape(item["price"]["recurring"]["interval"].as_str().unwrap_or("month")),
            escape(sub["status"].as_str().unwrap_or_default()),
            if sub["cancel_at_period_end"] == true { ", cancels at period end" } else { "" },
        ));
        let button = |action: &str, label: &str| {
            format!(
                "<form method=\"post\"><input type=\"hidden\" name=\"subscription\" value=\"{sid}\"><button name=\"action\" value=\"{action}\">{label}</button></form>"
            )
        };
        if sub["cancel_at_period_end"] == true {
            body.push_str(&button("resume", "Renew subscription"));
        } else {
            body.push_str(&button("cancel_at_period_end", "Cancel at period end"));
        }
        body.push_str(&button("cancel_now", "Cancel now"));
        let options: String = prices
            .iter()
            .filter(|p| p["id"] != item["price"]["id"])
            .map(|p| {
                format!(
                    "<option value=\"{}\">{} / {}{}</option>",
                    escape(p["id"].as_str().unwrap_or_default()),
                    money(
                        p["unit_amount"].as_i64().unwrap_or(0),
                        p["currency"].as_str().unwrap_or("usd")
                    ),
                    escape(p["recurring"]["interval"].as_str().unwrap_or_default()),
                    p["nickname"]
                        .as_str()
                        .map(|n| format!(" ({})", escape(n)))
                        .unwrap_or_default()
                )
            })
            .collect();
        if !options.is_empty() {
            body.push_str(&format!("<form method=\"post\"><input type=\"hidden\" name=\"subscription\" value=\"{sid}\"><label>Switch plan <select name=\"price\">{options}</select></label><button name=\"action\" value=\"switch\">Switch plan</button></form>"));
        }
        body.push_str("</section>");
    }
    body.push_str("<section><h2>Payment method</h2><form method=\"post\"><label>New card number <input name=\"card_number\" inputmode=\"numeric\"></label><button name=\"action\" value=\"update_card\">Update card</button></form></section>");
    if let Some(url) = session["return_url"].as_str() {
        body.push_str(&format!("<p><a href=\"{}\">Return</a></p>", escape(url)));
    }
    Some(page("Billing", &format!("{}{body}", merchant(st, acct))))
}

async fn portal_page(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let st = shared.lock();
    let Some(acct) = owner(&st, &id) else {
        return not_found();
    };
    match render_portal(&st, &acct, &id, None) {
        Some(html) => Html(html).into_response(),
        None => not_found(),
    }
}

async fn portal_submit(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let mut st = shared.lock();
    let Some(acct) = owner(&st, &id) else {
        return not_found();
    };
    let result = crate::portal::act(&mut st, &acct, &id, &form);
    shared.commit(&mut st);
    let (status, html) = match &result {
        Ok(message) => (
            StatusCode::OK,
            render_portal(&st, &acct, &id, Some((message, false))),
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            render_portal(&st, &acct, &id, Some((&e.message, true))),
        ),
    };
    (status, Html(html.unwrap_or_default())).into_response()
}

async fn invoice_page(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let st = shared.lock();
    render_invoice(&st, &id, None)
}

/// Pays an open invoice on its hosted page with a test card.
async fn invoice_submit(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let mut st = shared.lock();
    let Some(acct) = owner(&st, &id) else {
        return not_found();
    };
    let card = form.str("card_number").unwrap_or_default().to_owned();
    let result = match payment::card_number(&card) {
        None => Err(crate::api_error::ApiError::card(
            "incorrect_number",
            None,
            "Your card number is incorrect.",
        )),
        Some(behaviour) => {
            let digits: String = card.chars().filter(char::is_ascii_digit).collect();
            let last4 = digits[digits.len().saturating_sub(4)..].to_owned();
            let open = st.find(&acct, &id).is_some_and(|i| i["status"] == "open");
            if open {
                let pm = payment::new_card(&mut st, &acct, behaviour, &last4, None);
                let now = payment::now_for(&st, &acct, None);
                match crate::invoice::charge(&mut st, &acct, &id, &pm, now) {
                    Ok(None) => Ok(()),
                    Ok(Some(e)) | Err(e) => Err(e),
                }
            } else {
                Err(crate::api_error::ApiError::state(
                    "This invoice cannot be paid.",
                ))
            }
        }
    };
    shared.commit(&mut st);
    match result {
        Ok(()) => render_invoice(&st, &id, None),
        Err(e) => {
            let mut resp = render_invoice(&st, &id, Some(&e.message));
            *resp.status_mut() = StatusCode::PAYMENT_REQUIRED;
            resp
        }
    }
}

fn render_invoice(st: &State, id: &str, error: Option<&str>) -> Response {
    let Some(acct) = owner(st, id) else {
        return not_found();
    };
    let Some(inv) = st.find(&acct, id) else {
        return not_found();
    };
    let currency = inv["currency"].as_str().unwrap_or("usd");
    let mut rows = String::new();
    for line in inv["lines"]["data"].as_array().cloned().unwrap_or_default() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(line["description"].as_str().unwrap_or_default()),
            money(line["amount"].as_i64().unwrap_or(0), currency)
        ));
    }
    let body = format!(
        "{}<p>Invoice {} — status <strong>{}</strong></p><table>{rows}<tr><th>Amount due</th><th>{}</th></tr></table>",
        merchant(st, &acct),
        escape(inv["number"].as_str().unwrap_or("(draft)")),
        escape(inv["status"].as_str().unwrap_or_default()),
        money(inv["amount_due"].as_i64().unwrap_or(0), currency)
    );
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let form = if inv["status"] == "open" {
        "<form method=\"post\"><label>Card number <input name=\"card_number\" inputmode=\"numeric\" placeholder=\"4242 4242 4242 4242\"></label>\
<button name=\"action\" value=\"pay\">Pay invoice</button></form>"
    } else {
        ""
    };
    let body = format!("{body}{error}{form}");
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(page("Invoice", &body)),
    )
        .into_response()
}

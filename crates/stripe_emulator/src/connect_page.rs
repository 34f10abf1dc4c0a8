//! The hosted Connect pages: onboarding behind an account link (complete, submit with a document left to
//! verify, or leave) and the Express dashboard behind a login link (balance and payments). Plain HTML forms.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::Value;

use crate::Shared;
use crate::account::{self, Onboarding};
use crate::hosted_page::{escape, money, not_found, page};
use crate::params::Params;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/connect/onboarding/{account}/{token}",
            get(onboarding_page).post(onboarding_submit),
        )
        .route("/express/{account}/{token}", get(dashboard_page))
}

/// Opening a link spends it: a second visit, a used or an expired link goes to `refresh_url`, as at Stripe.
async fn onboarding_page(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((acct, token)): Path<(String, String)>,
) -> Response {
    let mut st = shared.lock();
    let now = st.now();
    let Some(link) = st
        .connect
        .links
        .get_mut(&token)
        .filter(|l| l.account == acct)
    else {
        return not_found();
    };
    if link.opened || link.finished || link.expires_at < now {
        return Redirect::to(&link.refresh_url).into_response();
    }
    link.opened = true;
    let kind = link.kind.clone();
    let account = account::get(&st, &acct).unwrap_or(Value::Null);
    shared.commit(&mut st);
    let name = account["business_profile"]["name"]
        .as_str()
        .or(account["email"].as_str())
        .unwrap_or(&acct)
        .to_owned();
    let due = account["requirements"]["currently_due"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(Value::as_str)
                .map(|f| format!("<li>{}</li>", escape(f)))
                .collect::<String>()
        })
        .unwrap_or_default();
    let body = format!(
        "<p>Account <code>{id}</code> ({name}), {kind}.</p><p>Information still due:</p><ul>{due}</ul>\
<form method=\"post\">\
<button name=\"action\" value=\"complete\">Complete onboarding</button>\
<button name=\"action\" value=\"pending\">Submit, leave the identity document pending verification</button>\
<button name=\"action\" value=\"leave\">Leave for now</button></form>",
        id = escape(&acct),
        name = escape(&name),
        kind = escape(&kind.replace('_', " ")),
    );
    Html(page("Set up payouts", &body)).into_response()
}

async fn onboarding_submit(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((acct, token)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let mut st = shared.lock();
    let now = st.now();
    let Some(link) = st
        .connect
        .links
        .get(&token)
        .filter(|l| l.account == acct)
        .cloned()
    else {
        return not_found();
    };
    if link.finished || link.expires_at < now {
        return Redirect::to(&link.refresh_url).into_response();
    }
    let target = match form.str("action") {
        Some("complete") => Some(Onboarding::Complete),
        Some("pending") => Some(Onboarding::Pending),
        _ => None,
    };
    if let Some(l) = st.connect.links.get_mut(&token) {
        l.finished = true;
    }
    // Completing never goes backwards: an account already complete stays so.
    let current = account::onboarding_state(&st, &acct);
    if let Some(to) = target
        && current != Onboarding::Complete
        && current != to
        && account::transition(&mut st, &acct, to).is_err()
    {
        return not_found();
    }
    shared.commit(&mut st);
    Redirect::to(&link.return_url).into_response()
}

async fn dashboard_page(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((acct, token)): Path<(String, String)>,
) -> Response {
    let st = shared.lock();
    if st.connect.login_links.get(&token) != Some(&acct) {
        return not_found();
    }
    let Ok(account) = account::get(&st, &acct) else {
        return not_found();
    };
    let balance = crate::balance::retrieve(&st, &acct);
    let mut rows = String::new();
    for side in ["available", "pending"] {
        for b in balance[side].as_array().cloned().unwrap_or_default() {
            let amount = b["amount"].as_i64().unwrap_or(0);
            let currency = b["currency"].as_str().unwrap_or("usd");
            rows.push_str(&format!(
                "<tr><td>{side}</td><td>{}</td></tr>",
                escape(&money(amount, currency))
            ));
        }
    }
    let mut payments = String::new();
    for ch in st.all(&acct, "charge").iter().rev().take(20) {
        if ch["status"] != "succeeded" {
            continue;
        }
        let amount = ch["amount"].as_i64().unwrap_or(0);
        let currency = ch["currency"].as_str().unwrap_or("usd");
        payments.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            escape(ch["id"].as_str().unwrap_or_default()),
            escape(&money(amount, currency))
        ));
    }
    let name = account["business_profile"]["name"]
        .as_str()
        .unwrap_or(&acct)
        .to_owned();
    let body = format!(
        "<p>{}</p><h2>Balance</h2><table>{rows}</table><h2>Payments</h2><table>{payments}</table>",
        escape(&name)
    );
    Html(page("Express dashboard", &body)).into_response()
}

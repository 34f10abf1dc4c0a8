//! Subscriptions and their invoices: start, renew, retry failed payments, update, cancel, resume.
//! Periods live on subscription items and invoices name their subscription under `parent`, as since API 2025-03-31.

use serde_json::{Value, json};

use crate::api::Ctx;
use crate::api_error::ApiError;
use crate::config::FinalAction;
use crate::customer::previous;
use crate::ledger::{State, SubscriptionBilling, template};
use crate::params::{Params, merge_metadata, value_i64};
use crate::payment::{self, Attempt};

const DAY: i64 = 86_400;

/// What a new subscription is made of.
pub struct NewSubscription {
    pub customer: String,
    /// (price object, quantity)
    pub items: Vec<(Value, i64)>,
    pub metadata: Value,
    pub trial_days: Option<i64>,
    pub payment_method: Option<String>,
    pub coupon: Option<String>,
    pub promotion_code: Option<String>,
    /// `default_incomplete`: leave the first invoice open instead of charging it.
    pub charge_now: bool,
    /// The share of each invoice a connected account's subscription pays the platform.
    pub application_fee_percent: Option<f64>,
    /// `collection_method=send_invoice`: each invoice is emailed, due this many days after it
    /// is finalized, and never charged automatically. `None`: `charge_automatically`.
    pub send_invoice_days: Option<i64>,
    /// `cancel_at`: the subscription ends then; the period that contains it is cut short there
    /// and charged for the share it covers.
    pub cancel_at: Option<i64>,
}

/// `application_fee_percent` (0–100, up to two decimals), only on a connected account's subscription.
pub fn fee_percent(
    value: Option<&Value>,
    param: &str,
    acct: &str,
) -> Result<Option<f64>, ApiError> {
    let Some(raw) = value.and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let pct: f64 = raw
        .parse()
        .map_err(|_| ApiError::invalid(param, format!("Invalid decimal: {raw}")))?;
    if !(0.0..=100.0).contains(&pct) {
        return Err(ApiError::invalid(
            param,
            "This value must be greater than or equal to 0 and less than or equal to 100.",
        ));
    }
    if acct == crate::ledger::PLATFORM {
        return Err(ApiError::invalid(
            param,
            "Can only apply an application_fee_percent when the request is made on behalf of another account (using an OAuth key or the Stripe-Account header).",
        ));
    }
    Ok(Some(pct))
}

/// The application fee of an invoice of `total` under `percent`, rounded to the nearest minor unit.
pub fn invoice_fee(total: i64, percent: f64) -> i64 {
    (total as f64 * percent / 100.0).round() as i64
}

/// Unix time → (year, month 1-12, day) and back, for calendar-month periods (Howard Hinnant's algorithms).
fn civil(ts: i64) -> (i64, i64, i64, i64) {
    let days = ts.div_euclid(DAY);
    let secs = ts.rem_euclid(DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs)
}

fn from_civil(y: i64, m: i64, d: i64, secs: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * DAY + secs
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `anchor` moved forward by `n` intervals; month ends clamp (Jan 31 → Feb 28 → Mar 31) as Stripe's billing does.
pub fn add_interval(anchor: i64, interval: &str, count: i64, n: i64) -> i64 {
    match interval {
        "day" => anchor + n * count * DAY,
        "week" => anchor + n * count * 7 * DAY,
        "year" | "month" => {
            let months = if interval == "year" {
                12 * count * n
            } else {
                count * n
            };
            let (y, m, d, secs) = civil(anchor);
            let total = y * 12 + (m - 1) + months;
            let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
            from_civil(ny, nm, d.min(days_in_month(ny, nm)), secs)
        }
        _ => anchor + n * 30 * DAY,
    }
}

fn interval_of(sub: &Value) -> (String, i64) {
    let price = &sub["items"]["data"][0]["price"];
    (
        price["recurring"]["interval"]
            .as_str()
            .unwrap_or("month")
            .to_owned(),
        price["recurring"]["interval_count"].as_i64().unwrap_or(1),
    )
}

/// The current period's end (taken from the first item: all items share the anchor here).
pub fn period_end(sub: &Value) -> i64 {
    sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap_or(0)
}

fn period_start(sub: &Value) -> i64 {
    sub["items"]["data"][0]["current_period_start"]
        .as_i64()
        .unwrap_or(0)
}

fn set_period(sub: &mut Value, start: i64, end: i64) {
    if let Some(items) = sub["items"]["data"].as_array_mut() {
        for item in items {
            item["current_period_start"] = json!(start);
            item["current_period_end"] = json!(end);
        }
    }
}

fn new_item(st: &mut State, sub_id: &str, price: &Value, quantity: i64, now: i64) -> Value {
    let mut si = template("subscription_item");
    si["id"] = json!(st.new_id("si_"));
    si["created"] = json!(now);
    si["price"] = price.clone();
    si["plan"] = crate::catalog::plan_of(price);
    si["quantity"] = json!(quantity);
    si["subscription"] = json!(sub_id);
    si["metadata"] = json!({});
    si
}

/// The default payment method: the subscription's, else the customer's invoice default.
fn default_method(st: &State, acct: &str, sub: &Value) -> Option<String> {
    sub["default_payment_method"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            let customer = sub["customer"].as_str()?;
            st.find(acct, customer)?["invoice_settings"]["default_payment_method"]
                .as_str()
                .map(str::to_owned)
        })
}

/// Creates a subscription with its first invoice; charges it unless there is a trial or `charge_now` is off.
pub fn start(st: &mut State, acct: &str, new: NewSubscription) -> Result<Value, ApiError> {
    let customer = st.get(acct, "customer", &new.customer)?;
    let now = payment::now_for(st, acct, Some(&new.customer));
    let Some((first_price, _)) = new.items.first() else {
        return Err(ApiError::missing("items"));
    };
    if first_price["type"] != "recurring" {
        return Err(ApiError::invalid(
            "items",
            "All prices on a subscription must be recurring.",
        ));
    }
    let currency = first_price["currency"].clone();
    let interval = first_price["recurring"]["interval"]
        .as_str()
        .unwrap_or("month")
        .to_owned();
    let count = first_price["recurring"]["interval_count"]
        .as_i64()
        .unwrap_or(1);
    if new.cancel_at.is_some_and(|at| at <= now) {
        return Err(ApiError::invalid(
            "cancel_at",
            "cancel_at must be a timestamp in the future.",
        ));
    }
    let trial_end = new.trial_days.filter(|d| *d > 0).map(|d| now + d * DAY);
    let anchor = trial_end.unwrap_or(now);
    let full_end = trial_end.unwrap_or_else(|| add_interval(anchor, &interval, count, 1));
    let end = new.cancel_at.map_or(full_end, |at| full_end.min(at));
    let id = st.new_id("sub_");
    let mut items = Vec::new();
    for (price, qty) in &new.items {
        let mut si = new_item(st, &id, price, *qty, now);
        si["current_period_start"] = json!(now);
        si["current_period_end"] = json!(end);
        items.push(si);
    }
    let mut sub = template("subscription");
    sub["id"] = json!(id);
    sub["customer"] = customer["id"].clone();
    sub["currency"] = currency;
    sub["created"] = json!(now);
    sub["start_date"] = json!(now);
    sub["billing_cycle_anchor"] = json!(anchor);
    sub["items"] = json!({ "object": "list", "data": items, "has_more": false, "total_count": new.items.len(), "url": format!("/v1/subscription_items?subscription={id}") });
    sub["metadata"] = new.metadata.clone();
    sub["default_payment_method"] = json!(new.payment_method);
    sub["test_clock"] = customer["test_clock"].clone();
    sub["trial_start"] = json!(trial_end.map(|_| now));
    sub["trial_end"] = json!(trial_end);
    sub["status"] = json!(if trial_end.is_some() {
        "trialing"
    } else {
        "incomplete"
    });
    sub["cancellation_details"] = json!({ "comment": null, "feedback": null, "reason": null });
    sub["application_fee_percent"] = json!(new.application_fee_percent);
    sub["collection_method"] = json!(if new.send_invoice_days.is_some() {
        "send_invoice"
    } else {
        "charge_automatically"
    });
    sub["days_until_due"] = json!(new.send_invoice_days);
    sub["cancel_at"] = json!(new.cancel_at);
    if let Some(coupon) = &new.coupon {
        let discount =
            crate::coupon::new_discount(st, acct, coupon, new.promotion_code.as_deref(), &id, now)?;
        // Expandable: the subscription names its discounts by id.
        sub["discounts"] = json!([discount["id"]]);
    }
    let months_left = new
        .coupon
        .as_deref()
        .and_then(|c| st.find(acct, c))
        .map(crate::coupon::invoices_covered);
    st.ledger(acct).billing.insert(
        id.clone(),
        SubscriptionBilling {
            coupon: new.coupon.clone(),
            promotion_code: new.promotion_code.clone(),
            discount_invoices_left: months_left.flatten(),
            ..SubscriptionBilling::default()
        },
    );
    st.put(acct, sub.clone());
    st.emit(acct, "customer.subscription.created", &sub, None);

    let mut lines = item_lines(&sub, now, end, trial_end.is_some());
    prorate(&mut lines, end - now, full_end - now);
    let invoice = new_invoice(st, acct, &sub, "subscription_create", lines, now, now)?;
    let inv_id = invoice["id"].as_str().unwrap_or_default().to_owned();
    let mut sub = st.get(acct, "subscription", &id)?;
    sub["latest_invoice"] = json!(inv_id);
    st.put(acct, sub);
    let invoice = finalize(st, acct, &inv_id, now)?;
    if invoice["amount_due"].as_i64().unwrap_or(0) == 0 {
        mark_paid(st, acct, &inv_id, None, now)?;
    } else if new.send_invoice_days.is_some() {
        // Stripe makes a send_invoice subscription active at once; its invoice waits for the customer.
        // https://docs.stripe.com/billing/collection-method
        if trial_end.is_none() {
            set_status(st, acct, &id, "active")?;
        }
        st.emit(acct, "invoice.sent", &invoice, None);
    } else if new.charge_now {
        collect(st, acct, &inv_id, true, now)?;
    }
    st.get(acct, "subscription", &id)
}

/// Invoice lines for each item over [start, end); a trial's lines are free.
fn item_lines(sub: &Value, start: i64, end: i64, trial: bool) -> Vec<Value> {
    let mut lines = Vec::new();
    for item in sub["items"]["data"].as_array().cloned().unwrap_or_default() {
        let qty = item["quantity"].as_i64().unwrap_or(1);
        let unit = if trial {
            0
        } else {
            item["price"]["unit_amount"].as_i64().unwrap_or(0)
        };
        let name = item["price"]["nickname"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| "Subscription".to_owned());
        let desc = if trial {
            format!("Trial period for {name}")
        } else {
            format!("{qty} × {name}")
        };
        lines.push(json!({
            "amount": unit * qty, "description": desc, "quantity": qty, "price": item["price"]["id"],
            "product": item["price"]["product"], "unit": unit, "subscription_item": item["id"],
            "period": { "start": start, "end": end }, "proration": false,
        }));
    }
    lines
}

/// Lines of a period cut short by `cancel_at` pay for the share of it they cover (`covered` of
/// `full` seconds), as Stripe prorates them; a whole period's lines are left as they are.
fn prorate(lines: &mut [Value], covered: i64, full: i64) {
    if covered >= full || full <= 0 {
        return;
    }
    for line in lines {
        let amount = line["amount"].as_i64().unwrap_or(0);
        line["amount"] =
            json!((i128::from(amount) * i128::from(covered) / i128::from(full)) as i64);
        line["proration"] = json!(true);
    }
}

/// A draft invoice for a subscription; emits `invoice.created`. Discounts from the subscription's coupon apply.
pub fn new_invoice(
    st: &mut State,
    acct: &str,
    sub: &Value,
    reason: &str,
    lines: Vec<Value>,
    now: i64,
    period_start: i64,
) -> Result<Value, ApiError> {
    let id = st.new_id("in_");
    let sub_id = sub["id"].as_str().unwrap_or_default().to_owned();
    let customer = st.get(
        acct,
        "customer",
        sub["customer"].as_str().unwrap_or_default(),
    )?;
    let currency = sub["currency"].clone();
    let mut data = Vec::new();
    let mut subtotal = 0;
    for line in &lines {
        let amount = line["amount"].as_i64().unwrap_or(0);
        subtotal += amount;
        let mut li = template("line_item");
        li["id"] = json!(st.new_id("il_"));
        li["amount"] = json!(amount);
        li["subtotal"] = json!(amount);
        li["currency"] = currency.clone();
        li["description"] = line["description"].clone();
        li["invoice"] = json!(id);
        li["metadata"] = json!({});
        li["period"] = line["period"].clone();
        li["quantity"] = line["quantity"].clone();
        li["subscription"] = json!(sub_id);
        li["parent"] = json!({
            "type": "subscription_item_details", "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null, "proration": line["proration"], "proration_details": { "credited_items": null },
                "subscription": sub_id, "subscription_item": line["subscription_item"],
            },
        });
        li["pricing"] = json!({ "type": "price_details", "price_details": { "price": line["price"], "product": line["product"] }, "unit_amount_decimal": line["unit"].as_i64().unwrap_or(0).to_string() });
        data.push(li);
    }
    let billing = st
        .ledger(acct)
        .billing
        .get(&sub_id)
        .cloned()
        .unwrap_or_default();
    let mut discount = 0;
    if let Some(coupon) = billing
        .coupon
        .as_deref()
        .and_then(|c| st.find(acct, c))
        .cloned()
        && billing.discount_invoices_left != Some(0)
        && subtotal > 0
    {
        discount = crate::coupon::discount_amount(&coupon, subtotal);
        if let Some(b) = st.ledger(acct).billing.get_mut(&sub_id) {
            b.discount_invoices_left = b.discount_invoices_left.map(|n| n - 1);
        }
    }
    let total = subtotal - discount;
    let mut inv = template("invoice");
    inv["id"] = json!(id);
    inv["customer"] = customer["id"].clone();
    inv["customer_email"] = customer["email"].clone();
    inv["customer_name"] = customer["name"].clone();
    inv["currency"] = currency;
    inv["created"] = json!(now);
    inv["period_start"] = json!(period_start);
    inv["period_end"] = json!(now);
    inv["billing_reason"] = json!(reason);
    inv["status"] = json!("draft");
    inv["subtotal"] = json!(subtotal);
    inv["subtotal_excluding_tax"] = json!(subtotal);
    inv["total"] = json!(total);
    inv["total_excluding_tax"] = json!(total);
    inv["amount_due"] = json!(total);
    inv["amount_remaining"] = json!(total);
    inv["amount_paid"] = json!(0);
    inv["collection_method"] = sub["collection_method"].clone();
    inv["days_until_due"] = sub["days_until_due"].clone();
    inv["application_fee_amount"] = match sub["application_fee_percent"].as_f64() {
        Some(pct) => json!(invoice_fee(total, pct)),
        None => Value::Null,
    };
    inv["total_discount_amounts"] = if discount > 0 {
        json!([{ "amount": discount, "discount": sub["discounts"][0] }])
    } else {
        json!([])
    };
    inv["discounts"] = if discount > 0 {
        json!([sub["discounts"][0]])
    } else {
        json!([])
    };
    inv["lines"] = json!({ "object": "list", "data": data, "has_more": false, "total_count": lines.len(), "url": format!("/v1/invoices/{id}/lines") });
    inv["parent"] = json!({
        "type": "subscription_details", "quote_details": null,
        "subscription_details": { "metadata": sub["metadata"], "subscription": sub_id },
    });
    inv["test_clock"] = sub["test_clock"].clone();
    inv["hosted_invoice_url"] = json!(format!("{}/invoice/{id}", st.base_url));
    inv["invoice_pdf"] = Value::Null;
    inv["metadata"] = json!({});
    inv["webhooks_delivered_at"] = json!(now);
    inv["issuer"] = json!({ "type": "self" });
    inv["payments"] =
        json!({ "object": "list", "data": [], "has_more": false, "url": "/v1/invoice_payments" });
    st.put(acct, inv.clone());
    st.emit(acct, "invoice.created", &inv, None);
    Ok(inv)
}

/// draft → open, with a number; emits `invoice.finalized`.
pub fn finalize(st: &mut State, acct: &str, id: &str, now: i64) -> Result<Value, ApiError> {
    let mut inv = st.get(acct, "invoice", id)?;
    let customer_id = inv["customer"].as_str().unwrap_or_default().to_owned();
    let mut customer = st.get(acct, "customer", &customer_id)?;
    let seq = customer["next_invoice_sequence"].as_i64().unwrap_or(1);
    customer["next_invoice_sequence"] = json!(seq + 1);
    st.put(acct, customer.clone());
    inv["number"] = json!(format!(
        "{}-{seq:04}",
        customer["invoice_prefix"].as_str().unwrap_or("EMU")
    ));
    inv["status"] = json!("open");
    if inv["collection_method"] == "send_invoice" && inv["due_date"].is_null() {
        inv["due_date"] = json!(now + inv["days_until_due"].as_i64().unwrap_or(0) * DAY);
    }
    inv["effective_at"] = json!(now);
    inv["status_transitions"]["finalized_at"] = json!(now);
    st.put(acct, inv.clone());
    st.emit(
        acct,
        "invoice.finalized",
        &inv,
        Some(json!({ "status": "draft", "number": null })),
    );
    Ok(inv)
}

/// Marks an invoice paid (by `pi` when money moved); emits `invoice.paid` and `invoice.payment_succeeded`.
pub(crate) fn mark_paid(
    st: &mut State,
    acct: &str,
    id: &str,
    pi: Option<&str>,
    now: i64,
) -> Result<(), ApiError> {
    let mut inv = st.get(acct, "invoice", id)?;
    let due = inv["amount_due"].clone();
    inv["status"] = json!("paid");
    inv["amount_paid"] = due.clone();
    inv["amount_remaining"] = json!(0);
    inv["attempted"] = json!(true);
    inv["next_payment_attempt"] = Value::Null;
    inv["status_transitions"]["paid_at"] = json!(now);
    if let Some(pi) = pi {
        let pay_id = st.new_id("inpay_");
        inv["payments"]["data"] = json!([{
            "id": pay_id, "object": "invoice_payment", "amount_paid": due, "amount_requested": due,
            "created": now, "currency": inv["currency"], "invoice": id, "is_default": true, "livemode": false,
            "payment": { "type": "payment_intent", "payment_intent": pi },
            "status": "paid", "status_transitions": { "canceled_at": null, "paid_at": now },
        }]);
    }
    st.put(acct, inv.clone());
    st.emit(
        acct,
        "invoice.paid",
        &inv,
        Some(json!({ "status": "open", "amount_paid": 0 })),
    );
    st.emit(acct, "invoice.payment_succeeded", &inv, None);
    let sub_id = inv["parent"]["subscription_details"]["subscription"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Some(b) = st.ledger(acct).billing.get_mut(&sub_id)
        && b.open_invoice.as_deref() == Some(id)
    {
        b.open_invoice = None;
        b.next_retry_at = None;
        b.failed_attempts = 0;
    }
    // Paying the latest invoice makes an incomplete or past-due subscription active.
    if let Ok(sub) = st.get(acct, "subscription", &sub_id) {
        let status = sub["status"].as_str().unwrap_or_default();
        if ["incomplete", "past_due", "unpaid"].contains(&status) && sub["latest_invoice"] == id {
            set_status(st, acct, &sub_id, "active")?;
        }
    }
    Ok(())
}

fn set_status(st: &mut State, acct: &str, sub_id: &str, status: &str) -> Result<Value, ApiError> {
    let before = st.get(acct, "subscription", sub_id)?;
    let mut sub = before.clone();
    sub["status"] = json!(status);
    st.put(acct, sub.clone());
    st.emit(
        acct,
        "customer.subscription.updated",
        &sub,
        Some(json!({ "status": before["status"] })),
    );
    Ok(sub)
}

/// Charges an open invoice with the default payment method. `on_session`: the customer is present (first payment).
pub fn collect(
    st: &mut State,
    acct: &str,
    id: &str,
    on_session: bool,
    now: i64,
) -> Result<Option<ApiError>, ApiError> {
    let inv = st.get(acct, "invoice", id)?;
    let sub_id = inv["parent"]["subscription_details"]["subscription"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let sub = st.get(acct, "subscription", &sub_id)?;
    let pi_id = match inv["payments"]["data"][0]["payment"]["payment_intent"].as_str() {
        Some(pi) => pi.to_owned(),
        None => {
            let pi = payment::new_intent(
                st,
                acct,
                inv["amount_due"].as_i64().unwrap_or(0),
                inv["currency"].as_str().unwrap_or("usd"),
                inv["customer"].as_str(),
                Some("Subscription update"),
                json!({}),
            );
            let mut pi = pi;
            pi["application_fee_amount"] = inv["application_fee_amount"].clone();
            st.put(acct, pi.clone());
            let pi_id = pi["id"].as_str().unwrap_or_default().to_owned();
            let mut inv = st.get(acct, "invoice", id)?;
            let pay_id = st.new_id("inpay_");
            inv["payments"]["data"] = json!([{
                "id": pay_id, "object": "invoice_payment", "amount_paid": null, "amount_requested": inv["amount_due"],
                "created": now, "currency": inv["currency"], "invoice": id, "is_default": true, "livemode": false,
                "payment": { "type": "payment_intent", "payment_intent": pi_id },
                "status": "open", "status_transitions": { "canceled_at": null, "paid_at": null },
            }]);
            st.put(acct, inv);
            pi_id
        }
    };
    let outcome = match default_method(st, acct, &sub) {
        // A first payment happens with the customer present and already authenticated (hosted page or API caller).
        Some(pm) => payment::attempt(st, acct, &pi_id, &pm, !on_session, on_session)?,
        None => Attempt::Declined(ApiError::invalid(
            "payment_method",
            "The customer has no default payment method.",
        )),
    };
    let mut inv = st.get(acct, "invoice", id)?;
    inv["attempt_count"] = json!(inv["attempt_count"].as_i64().unwrap_or(0) + 1);
    inv["attempted"] = json!(true);
    st.put(acct, inv.clone());
    match outcome {
        Attempt::Succeeded => {
            mark_paid(st, acct, id, Some(&pi_id), now)?;
            Ok(None)
        }
        Attempt::Declined(error) => {
            failed(st, acct, id, &sub_id, now)?;
            Ok(Some(error))
        }
        Attempt::RequiresAction => {
            failed(st, acct, id, &sub_id, now)?;
            Ok(Some(ApiError::card(
                "authentication_required",
                Some("authentication_required"),
                "Your card was declined. This transaction requires authentication.",
            )))
        }
    }
}

/// A failed collection: schedule the next retry or give up, per the billing settings.
fn failed(
    st: &mut State,
    acct: &str,
    inv_id: &str,
    sub_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    let retry_days = st.billing_config.retry_days.clone();
    let final_action = st.billing_config.final_action;
    let attempts = {
        let b = st
            .ledger(acct)
            .billing
            .entry(sub_id.to_owned())
            .or_default();
        b.failed_attempts += 1;
        b.open_invoice = Some(inv_id.to_owned());
        b.failed_attempts
    };
    let next = retry_days.get(attempts as usize - 1).map(|d| now + d * DAY);
    if let Some(b) = st.ledger(acct).billing.get_mut(sub_id) {
        b.next_retry_at = next;
    }
    let mut inv = st.get(acct, "invoice", inv_id)?;
    inv["next_payment_attempt"] = json!(next);
    st.put(acct, inv.clone());
    st.emit(acct, "invoice.payment_failed", &inv, None);
    let sub = st.get(acct, "subscription", sub_id)?;
    let status = sub["status"].as_str().unwrap_or_default().to_owned();
    if status == "incomplete" {
        // A first payment that fails leaves the subscription incomplete; it expires after 23 hours.
        return Ok(());
    }
    if next.is_none() {
        match final_action {
            FinalAction::Cancel => {
                cancel_now(st, acct, sub_id, "payment_failed")?;
            }
            FinalAction::Unpaid => {
                set_status(st, acct, sub_id, "unpaid")?;
            }
        }
    } else if status != "past_due" {
        set_status(st, acct, sub_id, "past_due")?;
    }
    Ok(())
}

/// Ends a subscription now; emits `customer.subscription.deleted`.
pub fn cancel_now(st: &mut State, acct: &str, id: &str, reason: &str) -> Result<Value, ApiError> {
    let mut sub = st.get(acct, "subscription", id)?;
    if sub["status"] == "canceled" {
        return Err(ApiError::state(format!(
            "A canceled subscription can only update its cancellation_details and metadata. ({id})"
        )));
    }
    let now = payment::now_for(st, acct, sub["customer"].as_str());
    sub["status"] = json!("canceled");
    sub["canceled_at"] = json!(now);
    sub["ended_at"] = json!(now);
    sub["cancellation_details"]["reason"] = json!(reason);
    st.put(acct, sub.clone());
    if let Some(b) = st.ledger(acct).billing.get_mut(id) {
        b.next_retry_at = None;
    }
    st.emit(acct, "customer.subscription.deleted", &sub, None);
    Ok(sub)
}

/// Moves one subscription forward to `to`, doing each due thing at its own time; returns the next due time.
pub fn next_due(st: &mut State, acct: &str, id: &str) -> Option<i64> {
    let sub = st.find(acct, id)?.clone();
    let status = sub["status"].as_str().unwrap_or_default();
    if ["canceled", "incomplete_expired"].contains(&status) {
        return None;
    }
    let b = st.ledger(acct).billing.get(id).cloned().unwrap_or_default();
    let end = period_end(&sub);
    let mut due = vec![end];
    if status == "incomplete" {
        return Some(sub["created"].as_i64().unwrap_or(0) + 23 * 3600);
    }
    if status == "trialing" && !b.trial_will_end_sent {
        due.push(end - 3 * DAY);
    }
    if status != "trialing"
        && b.upcoming_sent_for != Some(end)
        && !sub["cancel_at_period_end"].as_bool().unwrap_or(false)
    {
        due.push(end - 3 * DAY);
    }
    if let Some(retry) = b.next_retry_at {
        due.push(retry);
    }
    if let Some((_, at)) = b.finalize_at {
        due.push(at);
    }
    due.into_iter().min()
}

/// Does what is due for a subscription at `now` (its clock's time).
pub fn run_due(st: &mut State, acct: &str, id: &str, now: i64) -> Result<(), ApiError> {
    let sub = st.get(acct, "subscription", id)?;
    let status = sub["status"].as_str().unwrap_or_default().to_owned();
    let end = period_end(&sub);
    let b = st.ledger(acct).billing.get(id).cloned().unwrap_or_default();
    if status == "incomplete" {
        if now >= sub["created"].as_i64().unwrap_or(0) + 23 * 3600 {
            set_status(st, acct, id, "incomplete_expired")?;
        }
        return Ok(());
    }
    if status == "trialing" && !b.trial_will_end_sent && now >= end - 3 * DAY && now < end {
        st.ledger(acct)
            .billing
            .entry(id.to_owned())
            .or_default()
            .trial_will_end_sent = true;
        st.emit(acct, "customer.subscription.trial_will_end", &sub, None);
    }
    if status != "trialing"
        && b.upcoming_sent_for != Some(end)
        && now >= end - 3 * DAY
        && now < end
        && !sub["cancel_at_period_end"].as_bool().unwrap_or(false)
    {
        st.ledger(acct)
            .billing
            .entry(id.to_owned())
            .or_default()
            .upcoming_sent_for = Some(end);
        let mut upcoming = template("invoice");
        upcoming["id"] = Value::Null;
        upcoming["customer"] = sub["customer"].clone();
        upcoming["currency"] = sub["currency"].clone();
        upcoming["created"] = json!(now);
        let amount: i64 = item_lines(&sub, end, end, false)
            .iter()
            .map(|l| l["amount"].as_i64().unwrap_or(0))
            .sum();
        for k in [
            "amount_due",
            "amount_remaining",
            "subtotal",
            "subtotal_excluding_tax",
            "total",
            "total_excluding_tax",
        ] {
            upcoming[k] = json!(amount);
        }
        upcoming["next_payment_attempt"] = json!(end);
        upcoming["parent"] = json!({ "type": "subscription_details", "quote_details": null, "subscription_details": { "metadata": sub["metadata"], "subscription": id } });
        upcoming["lines"]["data"] = json!([]);
        upcoming["billing_reason"] = json!("upcoming");
        upcoming.as_object_mut().map(|o| o.remove("id"));
        st.emit(acct, "invoice.upcoming", &upcoming, None);
    }
    if let Some(retry) = b.next_retry_at
        && now >= retry
        && let Some(inv) = b.open_invoice.clone()
    {
        if let Some(bm) = st.ledger(acct).billing.get_mut(id) {
            bm.next_retry_at = None;
        }
        collect(st, acct, &inv, false, now)?;
    }
    if let Some((inv, at)) = b.finalize_at.clone()
        && now >= at
    {
        if let Some(bm) = st.ledger(acct).billing.get_mut(id) {
            bm.finalize_at = None;
        }
        let sub = st.get(acct, "subscription", id)?;
        if sub["status"] != "canceled" {
            finalize_and_collect(st, acct, id, &inv, now)?;
        }
    }
    let sub = st.get(acct, "subscription", id)?;
    if now >= end && sub["status"] != "canceled" {
        renew(st, acct, id, now)?;
    }
    Ok(())
}

/// A period ended: cancel if asked to, else start the next period and invoice it.
fn renew(st: &mut State, acct: &str, id: &str, now: i64) -> Result<(), ApiError> {
    let before = st.get(acct, "subscription", id)?;
    let end = period_end(&before);
    let cancel_at = before["cancel_at"].as_i64();
    if before["cancel_at_period_end"].as_bool().unwrap_or(false)
        || cancel_at.is_some_and(|at| at <= end)
    {
        let mut sub = before.clone();
        sub["status"] = json!("canceled");
        sub["ended_at"] = json!(end);
        sub["canceled_at"] = json!(sub["canceled_at"].as_i64().unwrap_or(end));
        st.put(acct, sub.clone());
        st.emit(acct, "customer.subscription.deleted", &sub, None);
        return Ok(());
    }
    let (interval, count) = interval_of(&before);
    let anchor = before["billing_cycle_anchor"].as_i64().unwrap_or(end);
    let mut n = 1;
    while add_interval(anchor, &interval, count, n) <= end {
        n += 1;
    }
    let full_end = add_interval(anchor, &interval, count, n);
    let new_end = cancel_at.map_or(full_end, |at| full_end.min(at));
    let mut sub = before.clone();
    set_period(&mut sub, end, new_end);
    let was_trial = before["status"] == "trialing";
    if was_trial {
        sub["status"] = json!("active");
    }
    st.put(acct, sub.clone());
    let mut prev = json!({ "items": before["items"] });
    if was_trial {
        prev["status"] = json!("trialing");
    }
    st.emit(acct, "customer.subscription.updated", &sub, Some(prev));
    let mut lines = item_lines(&sub, end, new_end, false);
    prorate(&mut lines, new_end - end, full_end - end);
    let pending = std::mem::take(
        &mut st
            .ledger(acct)
            .billing
            .entry(id.to_owned())
            .or_default()
            .pending_prorations,
    );
    lines.extend(pending);
    let inv = new_invoice(
        st,
        acct,
        &sub,
        "subscription_cycle",
        lines,
        now.max(end),
        period_start(&before),
    )?;
    let inv_id = inv["id"].as_str().unwrap_or_default().to_owned();
    let mut sub = st.get(acct, "subscription", id)?;
    sub["latest_invoice"] = json!(inv_id);
    st.put(acct, sub.clone());
    if inv["amount_due"].as_i64().unwrap_or(0) <= 0 {
        finalize(st, acct, &inv_id, now)?;
        return mark_paid(st, acct, &inv_id, None, now);
    }
    // Stripe leaves a renewal invoice in draft for about an hour before finalizing and charging it.
    // https://docs.stripe.com/billing/subscriptions/overview#invoice-lifecycle
    let finalize_at = now.max(end) + 3600;
    let mut draft = st.get(acct, "invoice", &inv_id)?;
    draft["automatically_finalizes_at"] = json!(finalize_at);
    st.put(acct, draft);
    st.ledger(acct)
        .billing
        .entry(id.to_owned())
        .or_default()
        .finalize_at = Some((inv_id, finalize_at));
    Ok(())
}

/// The draft renewal invoice's hour is up: finalize it and charge it.
fn finalize_and_collect(
    st: &mut State,
    acct: &str,
    id: &str,
    inv_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    let sub = st.get(acct, "subscription", id)?;
    let invoice = finalize(st, acct, inv_id, now)?;
    if sub["collection_method"] == "send_invoice" {
        // Emailed to the customer, who pays it on its hosted page; Stripe never charges it.
        st.emit(acct, "invoice.sent", &invoice, None);
        return Ok(());
    }
    if sub["status"] == "unpaid" {
        // Unpaid subscriptions keep invoicing but stop trying to collect, as Stripe does.
        return Ok(());
    }
    // A new period's invoice replaces the retry schedule of an older one.
    if let Some(b) = st.ledger(acct).billing.get_mut(id) {
        b.failed_attempts = 0;
        b.next_retry_at = None;
    }
    collect(st, acct, inv_id, false, now)?;
    Ok(())
}

/// `POST /v1/subscriptions` for a customer with a default payment method.
pub fn create(st: &mut State, ctx: &Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let acct = ctx.acct;
    let customer = p.required_str("customer")?.to_owned();
    st.get(acct, "customer", &customer)?;
    let mut items = Vec::new();
    for (i, item) in p.array("items").iter().enumerate() {
        let price_id = item["price"]
            .as_str()
            .ok_or_else(|| ApiError::missing(&format!("items[{i}][price]")))?;
        let price = st.get(acct, "price", price_id)?;
        let qty = value_i64(item.get("quantity"), "quantity")?.unwrap_or(1);
        items.push((price, qty));
    }
    if items.is_empty() {
        return Err(ApiError::missing("items"));
    }
    let mut metadata = json!({});
    merge_metadata(&mut metadata, p.object("metadata"));
    let payment_method = match p.str("default_payment_method") {
        Some(pm) => Some(payment::resolve_method(st, acct, pm, Some(&customer))?),
        None => None,
    };
    let (coupon, promo) = crate::coupon::from_params(st, acct, p)?;
    let send_invoice_days = collection(p)?;
    let sub = start(
        st,
        acct,
        NewSubscription {
            customer,
            items,
            metadata,
            trial_days: p.i64("trial_period_days")?,
            payment_method,
            coupon,
            promotion_code: promo,
            charge_now: p.str("payment_behavior") != Some("default_incomplete"),
            application_fee_percent: fee_percent(
                p.get("application_fee_percent"),
                "application_fee_percent",
                acct,
            )?,
            send_invoice_days,
            cancel_at: p.i64("cancel_at")?,
        },
    )?;
    Ok(sub)
}

/// `collection_method` and `days_until_due`, refused together as Stripe refuses them: the days of a
/// `send_invoice` subscription, `None` for `charge_automatically`.
fn collection(p: &Params) -> Result<Option<i64>, ApiError> {
    let days = p.i64("days_until_due")?;
    match (
        p.str("collection_method").unwrap_or("charge_automatically"),
        days,
    ) {
        ("send_invoice", Some(days)) if days >= 0 => Ok(Some(days)),
        ("send_invoice", Some(_)) => Err(ApiError::invalid(
            "days_until_due",
            "This value must be greater than or equal to 0.",
        )),
        ("send_invoice", None) => Err(ApiError::invalid(
            "days_until_due",
            "Subscriptions with collection_method=send_invoice must have days_until_due.",
        )),
        ("charge_automatically", Some(_)) => Err(ApiError::invalid(
            "days_until_due",
            "Subscriptions with collection_method=charge_automatically cannot have days_until_due.",
        )),
        ("charge_automatically", None) => Ok(None),
        _ => Err(ApiError::invalid(
            "collection_method",
            "Invalid collection_method: must be one of charge_automatically or send_invoice",
        )),
    }
}

pub fn list(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.str("customer").map(str::to_owned);
    let status = p.str("status").map(str::to_owned);
    let price = p.str("price").map(str::to_owned);
    let clock = p.str("test_clock").map(str::to_owned);
    st.list(acct, "subscription", p, "/v1/subscriptions", |s| {
        let st_ok = match status.as_deref() {
            None => s["status"] != "canceled" && s["status"] != "incomplete_expired",
            Some("all") => true,
            Some(want) => s["status"] == want,
        };
        st_ok
            && customer.as_deref().is_none_or(|c| s["customer"] == c)
            && clock.as_deref().is_none_or(|c| s["test_clock"] == c)
            && price.as_deref().is_none_or(|pr| {
                s["items"]["data"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| i["price"]["id"] == pr))
            })
    })
}

/// `POST /v1/subscriptions/:id`: cancel at period end, price swap (with proration), metadata, payment method.
pub fn update(st: &mut State, ctx: &Ctx<'_>, id: &str, p: &Params) -> Result<Value, ApiError> {
    let acct = ctx.acct;
    let before = st.get(acct, "subscription", id)?;
    if before["status"] == "canceled"
        && (p.get("items").is_some() || p.get("cancel_at_period_end").is_some())
    {
        return Err(ApiError::state(format!(
            "A canceled subscription can only update its cancellation_details and metadata. ({id})"
        )));
    }
    let now = payment::now_for(st, acct, before["customer"].as_str());
    let mut sub = before.clone();
    merge_metadata(&mut sub["metadata"], p.object("metadata"));
    if let Some(cancel) = p.bool("cancel_at_period_end")? {
        sub["cancel_at_period_end"] = json!(cancel);
        sub["cancel_at"] = if cancel {
            json!(period_end(&sub))
        } else {
            Value::Null
        };
        sub["canceled_at"] = if cancel { json!(now) } else { Value::Null };
        sub["cancellation_details"]["reason"] = if cancel {
            json!("cancellation_requested")
        } else {
            Value::Null
        };
    }
    if let Some(pm) = p.str("default_payment_method") {
        let customer = sub["customer"].as_str().map(str::to_owned);
        sub["default_payment_method"] =
            json!(payment::resolve_method(st, acct, pm, customer.as_deref())?);
    }
    let mut proration_lines = Vec::new();
    for (i, change) in p.array("items").iter().enumerate() {
        let Some(price_id) = change["price"].as_str() else {
            continue;
        };
        let price = st.get(acct, "price", price_id)?;
        let qty = value_i64(change.get("quantity"), "quantity")?;
        let item_id = change["id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| sub["items"]["data"][0]["id"].as_str().map(str::to_owned));
        let Some(items) = sub["items"]["data"].as_array_mut() else {
            continue;
        };
        let Some(item) = items
            .iter_mut()
            .find(|it| it["id"].as_str() == item_id.as_deref())
        else {
            return Err(ApiError::invalid(
                &format!("items[{i}][id]"),
                "No such subscription item",
            ));
        };
        let (start, end) = (
            item["current_period_start"].as_i64().unwrap_or(now),
            item["current_period_end"].as_i64().unwrap_or(now),
        );
        let old_qty = item["quantity"].as_i64().unwrap_or(1);
        let new_qty = qty.unwrap_or(old_qty);
        let old_amount = item["price"]["unit_amount"].as_i64().unwrap_or(0) * old_qty;
        let new_amount = price["unit_amount"].as_i64().unwrap_or(0) * new_qty;
        // Proration: the unused share of the old price is credited and the same share of the new one charged.
        let span = (end - start).max(1) as i128;
        let left = (end - now).clamp(0, end - start) as i128;
        let credit = -((old_amount as i128 * left / span) as i64);
        let debit = (new_amount as i128 * left / span) as i64;
        for (amount, desc, pr) in [
            (credit, "Unused time", &item["price"]),
            (debit, "Remaining time", &price),
        ] {
            if amount != 0 {
                proration_lines.push(json!({
                    "amount": amount, "description": format!("{desc} on {}", pr["nickname"].as_str().unwrap_or("plan")),
                    "quantity": 1, "price": pr["id"], "product": pr["product"], "unit": amount,
                    "subscription_item": item["id"], "period": { "start": now, "end": end }, "proration": true,
                }));
            }
        }
        item["price"] = price.clone();
        item["plan"] = crate::catalog::plan_of(&price);
        item["quantity"] = json!(new_qty);
    }
    st.put(acct, sub.clone());
    if sub != before {
        st.emit(
            acct,
            "customer.subscription.updated",
            &sub,
            Some(previous(&before, &sub)),
        );
    }
    if !proration_lines.is_empty() {
        match p.str("proration_behavior").unwrap_or("create_prorations") {
            "none" => {}
            "always_invoice" => {
                let inv = new_invoice(
                    st,
                    acct,
                    &sub,
                    "subscription_update",
                    proration_lines,
                    now,
                    now,
                )?;
                let inv_id = inv["id"].as_str().unwrap_or_default().to_owned();
                sub["latest_invoice"] = json!(inv_id);
                st.put(acct, sub.clone());
                let inv = finalize(st, acct, &inv_id, now)?;
                if inv["amount_due"].as_i64().unwrap_or(0) > 0 {
                    collect(st, acct, &inv_id, false, now)?;
                } else {
                    mark_paid(st, acct, &inv_id, None, now)?;
                }
            }
            _ => {
                st.ledger(acct)
                    .billing
                    .entry(id.to_owned())
                    .or_default()
                    .pending_prorations
                    .extend(proration_lines);
            }
        }
    }
    st.get(acct, "subscription", id)
}

pub fn cancel(st: &mut State, acct: &str, id: &str, _p: &Params) -> Result<Value, ApiError> {
    cancel_now(st, acct, id, "cancellation_requested")
}

/// Undoes a scheduled cancellation (or a pause): the subscription renews again.
pub fn resume(st: &mut State, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    let sub = st.get(ctx.acct, "subscription", id)?;
    if sub["status"] == "canceled" {
        return Err(ApiError::state(
            "A canceled subscription cannot be resumed.",
        ));
    }
    let p = Params(serde_json::Map::from_iter([(
        "cancel_at_period_end".to_owned(),
        json!("false"),
    )]));
    update(st, ctx, id, &p)
}

pub fn list_invoices(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.str("customer").map(str::to_owned);
    let subscription = p.str("subscription").map(str::to_owned);
    let status = p.str("status").map(str::to_owned);
    st.list(acct, "invoice", p, "/v1/invoices", |i| {
        customer.as_deref().is_none_or(|c| i["customer"] == c)
            && subscription
                .as_deref()
                .is_none_or(|s| i["parent"]["subscription_details"]["subscription"] == s)
            && status.as_deref().is_none_or(|s| i["status"] == s)
    })
}

pub fn pay_invoice(st: &mut State, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    let inv = st.get(ctx.acct, "invoice", id)?;
    if inv["status"] != "open" {
        return Err(ApiError::state(format!(
            "Invoice is already {}.",
            inv["status"].as_str().unwrap_or_default()
        )));
    }
    let now = payment::now_for(st, ctx.acct, inv["customer"].as_str());
    if let Some(error) = collect(st, ctx.acct, id, false, now)? {
        return Err(error);
    }
    st.get(ctx.acct, "invoice", id)
}

pub fn void_invoice(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let mut inv = st.get(acct, "invoice", id)?;
    if inv["status"] != "open" {
        return Err(ApiError::state("You can only void open invoices."));
    }
    inv["status"] = json!("void");
    inv["status_transitions"]["voided_at"] = json!(st.now());
    inv["next_payment_attempt"] = Value::Null;
    st.put(acct, inv.clone());
    st.emit(
        acct,
        "invoice.voided",
        &inv,
        Some(json!({ "status": "open" })),
    );
    Ok(inv)
}

pub fn mark_uncollectible(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let mut inv = st.get(acct, "invoice", id)?;
    if inv["status"] != "open" {
        return Err(ApiError::state(
            "You can only mark open invoices as uncollectible.",
        ));
    }
    inv["status"] = json!("uncollectible");
    inv["status_transitions"]["marked_uncollectible_at"] = json!(st.now());
    inv["next_payment_attempt"] = Value::Null;
    st.put(acct, inv.clone());
    st.emit(
        acct,
        "invoice.marked_uncollectible",
        &inv,
        Some(json!({ "status": "open" })),
    );
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monthly_periods_clamp_to_the_end_of_short_months() {
        let jan31 = from_civil(2026, 1, 31, 3600);
        assert_eq!(
            civil(add_interval(jan31, "month", 1, 1)),
            (2026, 2, 28, 3600)
        );
        assert_eq!(
            civil(add_interval(jan31, "month", 1, 2)),
            (2026, 3, 31, 3600)
        );
        assert_eq!(
            civil(add_interval(jan31, "year", 1, 1)),
            (2027, 1, 31, 3600)
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for ts in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let (y, m, d, s) = civil(ts);
            assert_eq!(from_civil(y, m, d, s), ts);
        }
    }
}

//! One-off invoices and invoice items: draft → open (finalize) → paid, void or uncollectible; `send_invoice`
//! collection with a due date; paying with the default card, a named payment method or out of band; the
//! preview of what a customer will be invoiced next. Subscription invoices are made in `subscription.rs` and
//! share the finalize and paid steps. See <https://docs.stripe.com/invoicing/integration/workflow-transitions>.

use serde_json::{Value, json};

use crate::api::Ctx;
use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::{Params, merge_metadata};
use crate::payment::{self, Attempt};
use crate::subscription;

/// `POST /v1/invoiceitems`: a pending line for the customer's next invoice (or for the draft named).
pub fn create_item(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.required_str("customer")?.to_owned();
    let customer_obj = st
        .get(acct, "customer", &customer)
        .map_err(|_| ApiError::invalid_reference("customer", &customer))?;
    let quantity = p.i64("quantity")?.unwrap_or(1);
    if quantity < 1 {
        return Err(ApiError::invalid(
            "quantity",
            "This value must be greater than or equal to 1.",
        ));
    }
    // Since 2025-03-31.basil a price is named under `pricing[price]`.
    let price_id = p
        .object("pricing")
        .and_then(|pr| pr.get("price"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (amount, currency, price) = match (&price_id, p.i64("amount")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "amount",
                "You may only specify one of these parameters: amount, pricing[price].",
            ));
        }
        (Some(id), None) => {
            let price = st
                .get(acct, "price", id)
                .map_err(|_| ApiError::invalid_reference("pricing[price]", id))?;
            let unit = price["unit_amount"].as_i64().unwrap_or(0);
            let currency = price["currency"].as_str().unwrap_or("usd").to_owned();
            (unit * quantity, currency, Some(price))
        }
        (None, Some(amount)) => (amount, p.required_str("currency")?.to_lowercase(), None),
        (None, None) => return Err(ApiError::missing("amount")),
    };
    let invoice = match p.str("invoice") {
        Some(inv_id) => {
            let inv = st
                .get(acct, "invoice", inv_id)
                .map_err(|_| ApiError::invalid_reference("invoice", inv_id))?;
            if inv["status"] != "draft" {
                return Err(ApiError::invalid(
                    "invoice",
                    "Invoice items can only be added to draft invoices.",
                ));
            }
            Some(inv_id.to_owned())
        }
        None => None,
    };
    let now = payment::now_for(st, acct, Some(&customer));
    let id = st.new_id("ii_");
    let mut ii = template("invoiceitem");
    ii["id"] = json!(id);
    ii["amount"] = json!(amount);
    ii["currency"] = json!(currency);
    ii["customer"] = json!(customer);
    ii["date"] = json!(now);
    ii["description"] = json!(p.str("description"));
    ii["invoice"] = json!(invoice);
    ii["quantity"] = json!(quantity);
    ii["quantity_decimal"] = json!(quantity.to_string());
    ii["net_amount"] = json!(amount);
    ii["period"] = json!({ "start": now, "end": now });
    ii["test_clock"] = customer_obj["test_clock"].clone();
    ii["pricing"] = match &price {
        Some(pr) => json!({
            "type": "price_details", "price_details": { "price": pr["id"], "product": pr["product"] },
            "unit_amount_decimal": pr["unit_amount"].as_i64().unwrap_or(0).to_string(),
        }),
        None => {
            json!({ "type": "price_details", "price_details": null, "unit_amount_decimal": (amount / quantity).to_string() })
        }
    };
    ii["metadata"] = json!({});
    merge_metadata(&mut ii["metadata"], p.object("metadata"));
    st.put(acct, ii.clone());
    st.emit(acct, "invoiceitem.created", &ii, None);
    if let Some(inv_id) = invoice {
        recompute(st, acct, &inv_id)?;
    }
    Ok(ii)
}

pub fn list_items(st: &State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.str("customer").map(str::to_owned);
    let invoice = p.str("invoice").map(str::to_owned);
    let pending = p.bool("pending")?;
    st.list(acct, "invoiceitem", p, "/v1/invoiceitems", |ii| {
        customer.as_deref().is_none_or(|c| ii["customer"] == c)
            && invoice.as_deref().is_none_or(|i| ii["invoice"] == i)
            && pending.is_none_or(|want| ii["invoice"].is_null() == want)
    })
}

/// Deletes an invoice item that is pending or on a draft.
pub fn delete_item(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let ii = st.get(acct, "invoiceitem", id)?;
    if let Some(inv) = ii["invoice"].as_str()
        && st.find(acct, inv).is_some_and(|i| i["status"] != "draft")
    {
        return Err(ApiError::state(
            "You can only delete invoice items that are pending or on a draft invoice.",
        ));
    }
    st.remove(acct, "invoiceitem", id);
    st.emit(acct, "invoiceitem.deleted", &ii, None);
    if let Some(inv) = ii["invoice"].as_str() {
        recompute(st, acct, inv)?;
    }
    Ok(json!({ "id": id, "object": "invoiceitem", "deleted": true }))
}

/// The invoice line of an invoice item.
fn line_of(st: &mut State, ii: &Value, invoice: &str) -> Value {
    let mut li = template("line_item");
    li["id"] = json!(st.new_id("il_"));
    li["amount"] = ii["amount"].clone();
    li["subtotal"] = ii["amount"].clone();
    li["currency"] = ii["currency"].clone();
    li["description"] = ii["description"].clone();
    li["invoice"] = json!(invoice);
    li["metadata"] = ii["metadata"].clone();
    li["period"] = ii["period"].clone();
    li["quantity"] = ii["quantity"].clone();
    li["pricing"] = ii["pricing"].clone();
    li["parent"] = json!({
        "type": "invoice_item_details", "subscription_item_details": null,
        "invoice_item_details": { "invoice_item": ii["id"], "proration": false, "proration_details": { "credited_items": null }, "subscription": null },
    });
    li
}

/// Sets a draft's lines and totals from the invoice items on it.
fn recompute(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let mut inv = st.get(acct, "invoice", id)?;
    let items: Vec<Value> = st
        .all(acct, "invoiceitem")
        .into_iter()
        .filter(|ii| ii["invoice"] == id)
        .collect();
    let lines: Vec<Value> = items.iter().map(|ii| line_of(st, ii, id)).collect();
    let total: i64 = items
        .iter()
        .map(|ii| ii["amount"].as_i64().unwrap_or(0))
        .sum();
    if let Some(c) = items.first().and_then(|ii| ii["currency"].as_str()) {
        inv["currency"] = json!(c);
    }
    inv["lines"] = json!({ "object": "list", "data": lines, "has_more": false, "total_count": items.len(), "url": format!("/v1/invoices/{id}/lines") });
    for key in [
        "subtotal",
        "subtotal_excluding_tax",
        "total",
        "total_excluding_tax",
        "amount_due",
        "amount_remaining",
    ] {
        inv[key] = json!(total);
    }
    st.put(acct, inv.clone());
    Ok(inv)
}

/// `POST /v1/invoices`: a draft for `customer`, taking its pending invoice items when
/// `pending_invoice_items_behavior=include` (the default since 2022-08-01 is `exclude`).
pub fn create(st: &mut State, ctx: &Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let acct = ctx.acct;
    let customer_id = p.required_str("customer")?.to_owned();
    let customer = st
        .get(acct, "customer", &customer_id)
        .map_err(|_| ApiError::invalid_reference("customer", &customer_id))?;
    let method = p.str("collection_method").unwrap_or("charge_automatically");
    if !["charge_automatically", "send_invoice"].contains(&method) {
        return Err(ApiError::invalid(
            "collection_method",
            "Invalid collection_method: must be one of charge_automatically or send_invoice",
        ));
    }
    let days = p.i64("days_until_due")?;
    match (method, days) {
        ("send_invoice", None) if p.i64("due_date")?.is_none() => {
            return Err(ApiError::invalid(
                "days_until_due",
                "Invoices with collection_method=send_invoice must have days_until_due or due_date.",
            ));
        }
        ("charge_automatically", Some(_)) => {
            return Err(ApiError::invalid(
                "days_until_due",
                "Invoices with collection_method=charge_automatically cannot have days_until_due.",
            ));
        }
        _ => {}
    }
    let behavior = p.str("pending_invoice_items_behavior").unwrap_or("exclude");
    if !["include", "exclude"].contains(&behavior) {
        return Err(ApiError::invalid(
            "pending_invoice_items_behavior",
            "Invalid pending_invoice_items_behavior: must be one of exclude or include",
        ));
    }
    let fee = p.i64("application_fee_amount")?;
    if fee.is_some() && acct == crate::ledger::PLATFORM {
        return Err(ApiError::invalid(
            "application_fee_amount",
            "Can only apply an application_fee_amount when the request is made on behalf of another account (using an OAuth key or the Stripe-Account header).",
        ));
    }
    let default_pm = match p.str("default_payment_method") {
        Some(pm) => Some(payment::resolve_method(st, acct, pm, Some(&customer_id))?),
        None => None,
    };
    let now = payment::now_for(st, acct, Some(&customer_id));
    let id = st.new_id("in_");
    let mut inv = template("invoice");
    inv["id"] = json!(id);
    inv["customer"] = json!(customer_id);
    inv["customer_email"] = customer["email"].clone();
    inv["customer_name"] = customer["name"].clone();
    inv["currency"] = json!(
        p.str("currency")
            .map(str::to_lowercase)
            .unwrap_or_else(|| "usd".into())
    );
    inv["created"] = json!(now);
    inv["period_start"] = json!(now);
    inv["period_end"] = json!(now);
    inv["billing_reason"] = json!("manual");
    inv["collection_method"] = json!(method);
    inv["auto_advance"] = json!(p.bool("auto_advance")?.unwrap_or(false));
    inv["status"] = json!("draft");
    inv["amount_paid"] = json!(0);
    inv["attempt_count"] = json!(0);
    inv["attempted"] = json!(false);
    inv["application_fee_amount"] = json!(fee);
    inv["days_until_due"] = json!(days);
    inv["due_date"] = json!(p.i64("due_date")?);
    inv["default_payment_method"] = json!(default_pm);
    inv["description"] = json!(p.str("description"));
    inv["footer"] = json!(p.str("footer"));
    inv["discounts"] = json!([]);
    inv["total_discount_amounts"] = json!([]);
    inv["parent"] = Value::Null;
    inv["test_clock"] = customer["test_clock"].clone();
    inv["hosted_invoice_url"] = json!(format!("{}/invoice/{id}", ctx.base_url));
    inv["invoice_pdf"] = Value::Null;
    inv["metadata"] = json!({});
    merge_metadata(&mut inv["metadata"], p.object("metadata"));
    inv["issuer"] = json!({ "type": "self" });
    inv["payments"] =
        json!({ "object": "list", "data": [], "has_more": false, "url": "/v1/invoice_payments" });
    st.put(acct, inv);
    if behavior == "include" {
        let pending: Vec<Value> = st
            .all(acct, "invoiceitem")
            .into_iter()
            .filter(|ii| ii["customer"] == customer_id.as_str() && ii["invoice"].is_null())
            .collect();
        for mut ii in pending {
            ii["invoice"] = json!(id);
            st.put(acct, ii);
        }
    }
    let inv = recompute(st, acct, &id)?;
    st.emit(acct, "invoice.created", &inv, None);
    Ok(inv)
}

/// `POST /v1/invoices/{id}` on a draft: description, footer, metadata, days until due, fee.
pub fn update(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let before = st.get(acct, "invoice", id)?;
    let mut inv = before.clone();
    let draft = inv["status"] == "draft";
    for key in ["description", "footer"] {
        if let Some(v) = p.get(key).and_then(Value::as_str) {
            inv[key] = if v.is_empty() { Value::Null } else { json!(v) };
        }
    }
    merge_metadata(&mut inv["metadata"], p.object("metadata"));
    for key in ["days_until_due", "application_fee_amount", "auto_advance"] {
        if p.get(key).is_some() && !draft && key != "auto_advance" {
            return Err(ApiError::invalid(
                key,
                "This field can only be changed on a draft invoice.",
            ));
        }
    }
    if let Some(d) = p.i64("days_until_due")? {
        inv["days_until_due"] = json!(d);
    }
    if let Some(f) = p.i64("application_fee_amount")? {
        inv["application_fee_amount"] = json!(f);
    }
    if let Some(a) = p.bool("auto_advance")? {
        inv["auto_advance"] = json!(a);
    }
    st.put(acct, inv.clone());
    let previous = crate::customer::previous(&before, &inv);
    if previous.as_object().is_some_and(|m| !m.is_empty()) {
        st.emit(acct, "invoice.updated", &inv, Some(previous));
    }
    Ok(inv)
}

/// Finalizes a draft; a `send_invoice` invoice gets its due date.
pub fn finalize(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let inv = st.get(acct, "invoice", id)?;
    if inv["status"] != "draft" {
        return Err(ApiError::state(format!(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice. (status: {})",
            inv["status"].as_str().unwrap_or_default()
        )));
    }
    let now = payment::now_for(st, acct, inv["customer"].as_str());
    // A send_invoice invoice gets its due date as it is finalized.
    let finalized = subscription::finalize(st, acct, id, now)?;
    // An invoice with nothing to pay is paid when it is finalized, as at Stripe.
    if finalized["amount_due"].as_i64().unwrap_or(0) == 0 {
        subscription::mark_paid(st, acct, id, None, now)?;
    }
    st.get(acct, "invoice", id)
}

/// `POST /v1/invoices/{id}/send`: emails the hosted link (here: records it) with `invoice.sent`.
pub fn send(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let inv = st.get(acct, "invoice", id)?;
    if inv["collection_method"] != "send_invoice" {
        return Err(ApiError::state(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
        ));
    }
    let inv = if inv["status"] == "draft" {
        finalize(st, acct, id)?
    } else {
        inv
    };
    if inv["status"] != "open" {
        return Err(ApiError::state("You can only send open invoices."));
    }
    st.emit(acct, "invoice.sent", &inv, None);
    Ok(inv)
}

/// `POST /v1/invoices/{id}/pay`: finalizes a draft first; then `paid_out_of_band`, or a charge to
/// `payment_method`, the invoice's default or the customer's default payment method.
pub fn pay(st: &mut State, ctx: &Ctx<'_>, id: &str, p: &Params) -> Result<Value, ApiError> {
    let acct = ctx.acct;
    let inv = st.get(acct, "invoice", id)?;
    if inv["status"] == "draft" {
        finalize(st, acct, id)?;
    }
    let inv = st.get(acct, "invoice", id)?;
    if inv["status"] != "open" {
        return Err(ApiError::state(format!(
            "Invoice is already {}.",
            inv["status"].as_str().unwrap_or_default()
        )));
    }
    let now = payment::now_for(st, acct, inv["customer"].as_str());
    if p.bool("paid_out_of_band")?.unwrap_or(false) {
        subscription::mark_paid(st, acct, id, None, now)?;
        return st.get(acct, "invoice", id);
    }
    let is_subscription = inv["parent"]["subscription_details"]["subscription"].is_string();
    if is_subscription && p.str("payment_method").is_none() {
        return subscription::pay_invoice(st, ctx, id);
    }
    let customer = inv["customer"].as_str().unwrap_or_default().to_owned();
    let pm = match p.str("payment_method") {
        Some(pm) => Some(payment::resolve_method(st, acct, pm, Some(&customer))?),
        None => inv["default_payment_method"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| {
                st.find(acct, &customer).and_then(|c| {
                    c["invoice_settings"]["default_payment_method"]
                        .as_str()
                        .map(str::to_owned)
                })
            }),
    };
    let Some(pm) = pm else {
        let mut e = ApiError::state(
            "This customer has no attached payment source or default payment method. Please consider adding a default payment method.",
        );
        e.code = Some("invoice_no_customer_payment_method".into());
        return Err(e);
    };
    match charge(st, acct, id, &pm, now)? {
        None => st.get(acct, "invoice", id),
        Some(error) => Err(error),
    }
}

/// Charges an open invoice to `pm` (the customer present, as on the hosted page or an API call).
pub fn charge(
    st: &mut State,
    acct: &str,
    id: &str,
    pm: &str,
    now: i64,
) -> Result<Option<ApiError>, ApiError> {
    let inv = st.get(acct, "invoice", id)?;
    let mut pi = payment::new_intent(
        st,
        acct,
        inv["amount_due"].as_i64().unwrap_or(0),
        inv["currency"].as_str().unwrap_or("usd"),
        inv["customer"].as_str(),
        inv["description"].as_str().or(Some("Invoice")),
        json!({}),
    );
    pi["application_fee_amount"] = inv["application_fee_amount"].clone();
    st.put(acct, pi.clone());
    let pi_id = pi["id"].as_str().unwrap_or_default().to_owned();
    let outcome = payment::attempt(st, acct, &pi_id, pm, false, true)?;
    let mut inv = st.get(acct, "invoice", id)?;
    inv["attempt_count"] = json!(inv["attempt_count"].as_i64().unwrap_or(0) + 1);
    inv["attempted"] = json!(true);
    st.put(acct, inv.clone());
    match outcome {
        Attempt::Succeeded => {
            subscription::mark_paid(st, acct, id, Some(&pi_id), now)?;
            Ok(None)
        }
        Attempt::Declined(error) => {
            st.emit(acct, "invoice.payment_failed", &inv, None);
            Ok(Some(error))
        }
        Attempt::RequiresAction => {
            st.emit(acct, "invoice.payment_action_required", &inv, None);
            Ok(Some(ApiError::card(
                "authentication_required",
                Some("authentication_required"),
                "This payment requires authentication.",
            )))
        }
    }
}

/// `POST /v1/invoices/create_preview` (what replaced `GET /v1/invoices/upcoming`): the customer's next
/// invoice, either the subscription's next period or their pending invoice items. Nothing is stored.
pub fn preview(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.str("customer").map(str::to_owned);
    let sub_id = p.str("subscription").map(str::to_owned);
    let (customer, sub) = match (&customer, &sub_id) {
        (_, Some(s)) => {
            let sub = st
                .get(acct, "subscription", s)
                .map_err(|_| ApiError::invalid_reference("subscription", s))?;
            (
                sub["customer"].as_str().unwrap_or_default().to_owned(),
                Some(sub),
            )
        }
        (Some(c), None) => {
            st.get(acct, "customer", c)
                .map_err(|_| ApiError::invalid_reference("customer", c))?;
            (c.clone(), None)
        }
        (None, None) => return Err(ApiError::missing("customer")),
    };
    let id = format!("upcoming_{}", st.new_id("in_"));
    let mut lines = Vec::new();
    let mut currency = json!("usd");
    if let Some(sub) = &sub {
        currency = sub["currency"].clone();
        for item in sub["items"]["data"].as_array().cloned().unwrap_or_default() {
            let qty = item["quantity"].as_i64().unwrap_or(1);
            let amount = item["price"]["unit_amount"].as_i64().unwrap_or(0) * qty;
            let mut li = template("line_item");
            li["id"] = json!(st.new_id("il_tmp_"));
            li["amount"] = json!(amount);
            li["subtotal"] = json!(amount);
            li["currency"] = currency.clone();
            li["invoice"] = json!(id);
            li["quantity"] = json!(qty);
            li["period"] = json!({ "start": item["current_period_end"], "end": Value::Null });
            lines.push(li);
        }
    }
    for ii in st.all(acct, "invoiceitem") {
        if ii["customer"] == customer.as_str() && ii["invoice"].is_null() {
            currency = ii["currency"].clone();
            lines.push(line_of(st, &ii, &id));
        }
    }
    let total: i64 = lines
        .iter()
        .map(|l| l["amount"].as_i64().unwrap_or(0))
        .sum();
    let mut inv = template("invoice");
    inv["id"] = json!(id);
    inv["customer"] = json!(customer);
    inv["currency"] = currency;
    inv["status"] = json!("draft");
    inv["created"] = json!(payment::now_for(st, acct, Some(&customer)));
    inv["lines"] = json!({ "object": "list", "data": lines, "has_more": false, "total_count": lines.len(), "url": format!("/v1/invoices/{id}/lines") });
    for key in [
        "subtotal",
        "subtotal_excluding_tax",
        "total",
        "total_excluding_tax",
        "amount_due",
        "amount_remaining",
    ] {
        inv[key] = json!(total);
    }
    inv["amount_paid"] = json!(0);
    inv["parent"] = match &sub {
        Some(s) => {
            json!({ "type": "subscription_details", "quote_details": null, "subscription_details": { "metadata": s["metadata"], "subscription": s["id"] } })
        }
        None => Value::Null,
    };
    inv["hosted_invoice_url"] = Value::Null;
    inv["invoice_pdf"] = Value::Null;
    Ok(inv)
}

/// `GET /v1/invoices/{id}/lines`.
pub fn lines(st: &State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let inv = st.get(acct, "invoice", id)?;
    let items = inv["lines"]["data"].as_array().cloned().unwrap_or_default();
    crate::ledger::page(items, p, &format!("/v1/invoices/{id}/lines"))
}

/// `DELETE /v1/invoices/{id}`: only a draft can be deleted; its invoice items become pending again.
pub fn delete(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let inv = st.get(acct, "invoice", id)?;
    if inv["status"] != "draft" {
        return Err(ApiError::state(
            "You can only delete draft invoices. Void the invoice instead.",
        ));
    }
    for mut ii in st.all(acct, "invoiceitem") {
        if ii["invoice"] == id {
            ii["invoice"] = Value::Null;
            st.put(acct, ii);
        }
    }
    st.remove(acct, "invoice", id);
    st.emit(acct, "invoice.deleted", &inv, None);
    Ok(json!({ "id": id, "object": "invoice", "deleted": true }))
}

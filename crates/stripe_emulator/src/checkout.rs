//! Checkout Sessions: creation with every parameter tollgate uses, expiry, line items, and completion
//! (payment mode: a paid payment intent; subscription mode: customer, default card, subscription, paid invoice).

use serde_json::{Value, json};

use crate::api::Ctx;
use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::{Params, merge_metadata, value_i64};
use crate::payment::{self, Attempt};
use crate::subscription::{self, NewSubscription};

/// What a session remembers beyond Stripe's object: its line items and how to set up the subscription.
fn setup_id(session: &str) -> String {
    format!("{session}:setup")
}

pub fn create(st: &mut State, ctx: &Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let acct = ctx.acct;
    let mode = p.required_str("mode")?.to_owned();
    if !["payment", "subscription", "setup"].contains(&mode.as_str()) {
        return Err(ApiError::invalid(
            "mode",
            format!("Invalid mode: must be one of payment, setup or subscription (got {mode})"),
        ));
    }
    let setup_mode = mode == "setup";
    // The 2026 names (hosted_page, embedded_page, elements, form): the table refuses the older ones.
    let ui_mode = p.str("ui_mode").unwrap_or("hosted_page");
    let success_url = p.str("success_url");
    if ui_mode == "hosted_page" && success_url.is_none() {
        return Err(ApiError::missing("success_url"));
    }
    let customer = match p.str("customer") {
        Some(c) => Some(st.get(acct, "customer", c)?),
        None => None,
    };
    if customer.is_some() && p.str("customer_email").is_some() {
        return Err(ApiError::invalid(
            "customer_email",
            "You may only specify one of these parameters: customer, customer_email.",
        ));
    }
    let now = payment::now_for(st, acct, customer.as_ref().and_then(|c| c["id"].as_str()));
    let expires_at = p.i64("expires_at")?.unwrap_or(now + 24 * 3600);
    if expires_at < now + 30 * 60 || expires_at > now + 24 * 3600 {
        return Err(ApiError::invalid(
            "expires_at",
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
        ));
    }
    let raw_items = p.array("line_items");
    if raw_items.is_empty() && !setup_mode {
        return Err(ApiError::missing("line_items"));
    }
    if setup_mode && !raw_items.is_empty() {
        return Err(ApiError::invalid(
            "line_items",
            "You can not pass `line_items` in `setup` mode.",
        ));
    }
    // Setup mode names the currency the saved card will be used in; there are no items to take it from.
    let setup_currency = if setup_mode {
        Some(p.required_str("currency")?.to_lowercase())
    } else {
        None
    };
    let mut items = Vec::new();
    let mut currency: Option<String> = None;
    for (i, raw) in raw_items.iter().enumerate() {
        let price = match (
            raw["price"].as_str(),
            raw.get("price_data").and_then(Value::as_object),
        ) {
            (Some(id), _) => st.get(acct, "price", id).map_err(|_| {
                ApiError::invalid(
                    &format!("line_items[{i}][price]"),
                    format!("No such price: '{id}'"),
                )
            })?,
            (None, Some(data)) => crate::catalog::create_price(st, acct, &Params(data.clone()))?,
            (None, None) => return Err(ApiError::missing(&format!("line_items[{i}][price]"))),
        };
        if price["active"] != true {
            return Err(ApiError::invalid(
                &format!("line_items[{i}][price]"),
                "The price specified is inactive. This field only accepts active prices.",
            ));
        }
        let recurring = price["type"] == "recurring";
        if mode == "payment" && recurring {
            return Err(ApiError::invalid(
                &format!("line_items[{i}][price]"),
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
            ));
        }
        if mode == "subscription" && !recurring && i == 0 {
            return Err(ApiError::invalid(
                &format!("line_items[{i}][price]"),
                "You must provide at least one recurring price in `subscription` mode when using prices.",
            ));
        }
        let c = price["currency"].as_str().unwrap_or("usd").to_owned();
        if currency.as_ref().is_some_and(|cur| *cur != c) {
            return Err(ApiError::invalid(
                &format!("line_items[{i}][price]"),
                "All prices must use the same currency.",
            ));
        }
        currency = Some(c);
        let qty =
            value_i64(raw.get("quantity"), &format!("line_items[{i}][quantity]"))?.unwrap_or(1);
        if qty < 1 {
            return Err(ApiError::invalid(
                &format!("line_items[{i}][quantity]"),
                "Quantity must be at least 1.",
            ));
        }
        items.push((price, qty));
    }
    let (coupon, promo) = crate::coupon::from_params(st, acct, p)?;
    let allow_promotion_codes = p.bool("allow_promotion_codes")?;
    if allow_promotion_codes == Some(true) && coupon.is_some() {
        return Err(ApiError::invalid(
            "allow_promotion_codes",
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
        ));
    }
    let sub_data = p.object("subscription_data").cloned().unwrap_or_default();
    let trial_days = value_i64(
        sub_data.get("trial_period_days"),
        "subscription_data[trial_period_days]",
    )?;
    if trial_days.is_some() && mode != "subscription" {
        return Err(ApiError::invalid(
            "subscription_data",
            "subscription_data can only be used in subscription mode.",
        ));
    }
    let fee_percent = crate::subscription::fee_percent(
        sub_data.get("application_fee_percent"),
        "subscription_data[application_fee_percent]",
        acct,
    )?;
    if fee_percent.is_some() && mode != "subscription" {
        return Err(ApiError::invalid(
            "subscription_data",
            "subscription_data can only be used in subscription mode.",
        ));
    }
    let pi_data = p.object("payment_intent_data").cloned().unwrap_or_default();
    let mut sub_metadata = json!({});
    merge_metadata(
        &mut sub_metadata,
        sub_data.get("metadata").and_then(Value::as_object),
    );
    let mut pi_metadata = json!({});
    merge_metadata(
        &mut pi_metadata,
        p.object("payment_intent_data")
            .and_then(|d| d.get("metadata"))
            .and_then(Value::as_object),
    );

    let id = st.new_id("cs_test_");
    let mut line_items = Vec::new();
    for (price, qty) in &items {
        let amount = price["unit_amount"].as_i64().unwrap_or(0) * qty;
        let product_name = price["product"]
            .as_str()
            .and_then(|pr| st.find(acct, pr))
            .and_then(|pr| pr["name"].as_str())
            .unwrap_or("Item")
            .to_owned();
        let mut li = template("item");
        li["id"] = json!(st.new_id("li_"));
        li["amount_subtotal"] = json!(amount);
        li["amount_total"] = json!(amount);
        li["amount_discount"] = json!(0);
        li["amount_tax"] = json!(0);
        li["currency"] = price["currency"].clone();
        li["description"] = json!(product_name);
        li["price"] = price.clone();
        li["quantity"] = json!(qty);
        line_items.push(li);
    }
    let subtotal: i64 = line_items
        .iter()
        .map(|l| l["amount_subtotal"].as_i64().unwrap_or(0))
        .sum();
    let mut cs = template("checkout.session");
    cs["id"] = json!(id);
    cs["mode"] = json!(mode);
    cs["ui_mode"] = json!(ui_mode);
    cs["status"] = json!("open");
    cs["payment_status"] = json!("unpaid");
    cs["created"] = json!(now);
    cs["expires_at"] = json!(expires_at);
    cs["url"] = json!(format!("{}/checkout/{id}", ctx.base_url));
    cs["success_url"] = json!(success_url);
    cs["cancel_url"] = json!(p.str("cancel_url"));
    cs["customer"] = json!(customer.as_ref().map(|c| c["id"].clone()));
    cs["customer_email"] = json!(p.str("customer_email"));
    cs["client_reference_id"] = json!(p.str("client_reference_id"));
    cs["allow_promotion_codes"] = json!(allow_promotion_codes);
    cs["currency"] = json!(currency);
    cs["amount_subtotal"] = json!(subtotal);
    cs["metadata"] = json!({});
    merge_metadata(&mut cs["metadata"], p.object("metadata"));
    cs["customer_creation"] = if mode == "payment" && customer.is_none() {
        json!(p.str("customer_creation").unwrap_or("if_required"))
    } else {
        Value::Null
    };
    cs["payment_method_types"] = json!(["card"]);
    cs["locale"] = json!(p.str("locale"));
    cs["submit_type"] = json!(p.str("submit_type"));
    cs["billing_address_collection"] = json!(p.str("billing_address_collection"));
    cs["payment_method_collection"] = if mode == "subscription" {
        json!(p.str("payment_method_collection").unwrap_or("always"))
    } else {
        Value::Null
    };
    cs["livemode"] = json!(false);
    st.put(acct, json!({ "id": format!("{id}:line_items"), "object": "checkout.line_items", "data": line_items }));
    st.put(
        acct,
        json!({
            "id": setup_id(&id), "object": "checkout.setup", "subscription_metadata": sub_metadata,
            "trial_period_days": trial_days, "payment_intent_metadata": pi_metadata,
            "coupon": coupon, "promotion_code": promo, "application_fee_percent": fee_percent,
            "payment_intent_data": pi_data,
        }),
    );
    price_session(st, acct, &mut cs);
    if let Some(c) = setup_currency {
        cs["currency"] = json!(c);
        cs["amount_subtotal"] = Value::Null;
        cs["amount_total"] = Value::Null;
        cs["payment_status"] = json!("no_payment_required");
    }
    if mode == "payment" {
        // Connect fields are checked now against the total, as Stripe refuses the session itself.
        let mut probe = json!({ "amount": cs["amount_total"] });
        crate::transfer::apply_intent_params(
            st,
            acct,
            &mut probe,
            &pi_data,
            "payment_intent_data",
        )?;
    } else if pi_data.contains_key("application_fee_amount") {
        return Err(ApiError::invalid(
            "payment_intent_data",
            "payment_intent_data can only be used in payment mode.",
        ));
    }
    st.put(acct, cs.clone());
    Ok(cs)
}

/// Recomputes totals and discounts from the line items and the applied coupon.
fn price_session(st: &State, acct: &str, cs: &mut Value) {
    let id = cs["id"].as_str().unwrap_or_default().to_owned();
    let subtotal = cs["amount_subtotal"].as_i64().unwrap_or(0);
    let coupon = st
        .find(acct, &setup_id(&id))
        .and_then(|s| s["coupon"].as_str())
        .and_then(|c| st.find(acct, c));
    let promo = st
        .find(acct, &setup_id(&id))
        .map(|s| s["promotion_code"].clone())
        .unwrap_or(Value::Null);
    // A trial's first payment is zero: the discount applies to what is actually charged now.
    let trial = st
        .find(acct, &setup_id(&id))
        .is_some_and(|s| s["trial_period_days"].as_i64().unwrap_or(0) > 0);
    let due_now = if trial { 0 } else { subtotal };
    let discount = coupon
        .map(|c| crate::coupon::discount_amount(c, due_now))
        .unwrap_or(0);
    cs["amount_total"] = json!(due_now - discount);
    cs["total_details"] =
        json!({ "amount_discount": discount, "amount_shipping": 0, "amount_tax": 0 });
    cs["discounts"] = match coupon {
        Some(c) if promo.is_null() => json!([{ "coupon": c["id"], "promotion_code": null }]),
        Some(_) => json!([{ "coupon": null, "promotion_code": promo }]),
        None => json!([]),
    };
}

/// Applies a customer-entered promotion code on the hosted page.
pub fn apply_promotion_code(
    st: &mut State,
    acct: &str,
    id: &str,
    code: &str,
) -> Result<(), ApiError> {
    let mut cs = get_open(st, acct, id)?;
    if cs["allow_promotion_codes"] != true {
        return Err(ApiError::invalid(
            "promotion_code",
            "Promotion codes are not enabled for this session.",
        ));
    }
    let now = payment::now_for(st, acct, cs["customer"].as_str());
    let (coupon, promo) = crate::coupon::lookup_code(st, acct, code, now)?;
    let mut setup = st.get(acct, "checkout.setup", &setup_id(id))?;
    setup["coupon"] = json!(coupon);
    setup["promotion_code"] = json!(promo);
    st.put(acct, setup);
    price_session(st, acct, &mut cs);
    st.put(acct, cs);
    Ok(())
}

pub fn retrieve(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    expire_if_due(st, acct, id)?;
    let mut cs = st.get(acct, "checkout.session", id)?;
    if p.expand().iter().any(|e| e == "line_items") {
        cs["line_items"] = line_items(st, acct, id, &Params::default())?;
    }
    Ok(cs)
}

pub fn list(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.str("customer").map(str::to_owned);
    let pi = p.str("payment_intent").map(str::to_owned);
    let sub = p.str("subscription").map(str::to_owned);
    let status = p.str("status").map(str::to_owned);
    st.list(acct, "checkout.session", p, "/v1/checkout/sessions", |s| {
        customer.as_deref().is_none_or(|c| s["customer"] == c)
            && pi.as_deref().is_none_or(|i| s["payment_intent"] == i)
            && sub.as_deref().is_none_or(|x| s["subscription"] == x)
            && status.as_deref().is_none_or(|x| s["status"] == x)
    })
}

pub fn line_items(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    st.get(acct, "checkout.session", id)?;
    let mut items: Vec<Value> = st
        .find(acct, &format!("{id}:line_items"))
        .and_then(|l| l["data"].as_array().cloned())
        .unwrap_or_default();
    // Lists read newest first; line items keep their order, so reverse the reversal.
    items.reverse();
    let mut page =
        crate::ledger::page(items, p, &format!("/v1/checkout/sessions/{id}/line_items"))?;
    if let Some(data) = page["data"].as_array_mut() {
        data.reverse();
    }
    Ok(page)
}

pub fn expire(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let cs = st.get(acct, "checkout.session", id)?;
    if cs["status"] != "open" {
        return Err(ApiError::state(format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".",
            cs["status"].as_str().unwrap_or_default()
        )));
    }
    do_expire(st, acct, cs)
}

fn do_expire(st: &mut State, acct: &str, mut cs: Value) -> Result<Value, ApiError> {
    cs["status"] = json!("expired");
    cs["url"] = Value::Null;
    st.put(acct, cs.clone());
    if let Some(pi) = cs["payment_intent"].as_str() {
        let pi = pi.to_owned();
        let _ = payment::cancel_intent(st, acct, &pi, &Params::default());
    }
    st.emit(acct, "checkout.session.expired", &cs, None);
    Ok(cs)
}

/// Expires a session whose `expires_at` has passed (checked whenever it is looked at, and by the sweeper).
pub fn expire_if_due(st: &mut State, acct: &str, id: &str) -> Result<(), ApiError> {
    let cs = st.get(acct, "checkout.session", id)?;
    let now = payment::now_for(st, acct, cs["customer"].as_str());
    if cs["status"] == "open" && cs["expires_at"].as_i64().is_some_and(|t| now >= t) {
        do_expire(st, acct, cs)?;
    }
    Ok(())
}

/// Expires every overdue open session in every account.
pub fn sweep(st: &mut State) {
    let accounts: Vec<String> = st.ledgers.keys().cloned().collect();
    for acct in accounts {
        let now = st.now();
        // Looks without cloning: the sweeper runs every second over every session.
        let Some(ledger) = st.ledgers.get(&acct) else {
            continue;
        };
        let open: Vec<String> = ledger
            .order
            .get("checkout.session")
            .into_iter()
            .flatten()
            .filter(|id| {
                ledger.objects.get(*id).is_some_and(|s| {
                    s["status"] == "open"
                        && (s["customer"].is_string()
                            || s["expires_at"].as_i64().is_some_and(|t| now >= t))
                })
            })
            .cloned()
            .collect();
        for id in open {
            let _ = expire_if_due(st, &acct, &id);
        }
    }
}

fn get_open(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    expire_if_due(st, acct, id)?;
    let cs = st.get(acct, "checkout.session", id)?;
    if cs["status"] != "open" {
        return Err(ApiError::state(format!(
            "This Checkout Session is {}.",
            cs["status"].as_str().unwrap_or_default()
        )));
    }
    Ok(cs)
}

/// What paying on the hosted page came to.
pub enum PageOutcome {
    /// Paid: redirect here.
    Completed(String),
    NeedsAuthentication,
    Declined(ApiError),
}

/// The hosted page's "Pay" button: a card number (and email) for an open session.
pub fn pay(
    st: &mut State,
    acct: &str,
    id: &str,
    card: &str,
    email: Option<&str>,
    name: Option<&str>,
) -> Result<PageOutcome, ApiError> {
    let cs = get_open(st, acct, id)?;
    let behaviour = payment::card_number(card).ok_or_else(|| {
        ApiError::card("incorrect_number", None, "Your card number is incorrect.")
    })?;
    let digits: String = card.chars().filter(char::is_ascii_digit).collect();
    let last4 = &digits[digits.len().saturating_sub(4)..];
    let pm = payment::new_card(st, acct, behaviour, last4, None);
    pay_with(st, acct, &cs, &pm, behaviour, email, name)
}

/// Pays the open session `cs` with the stored payment method `pm`.
fn pay_with(
    st: &mut State,
    acct: &str,
    cs: &Value,
    pm: &str,
    behaviour: payment::CardBehaviour,
    email: Option<&str>,
    name: Option<&str>,
) -> Result<PageOutcome, ApiError> {
    let id = cs["id"].as_str().unwrap_or_default();
    let mut setup = st.get(acct, "checkout.setup", &setup_id(id))?;
    setup["payment_method"] = json!(pm);
    // A session created with `customer_email` fixes the email; the page shows it read-only.
    setup["email"] = json!(cs["customer_email"].as_str().or(email));
    setup["name"] = json!(name);
    st.put(acct, setup);
    if cs["mode"] == "payment" && cs["amount_total"].as_i64().unwrap_or(0) > 0 {
        let pi = payment_intent_for(st, acct, cs)?;
        return match payment::attempt(st, acct, &pi, pm, false, false)? {
            Attempt::Succeeded => finish(st, acct, id).map(PageOutcome::Completed),
            Attempt::RequiresAction => Ok(PageOutcome::NeedsAuthentication),
            Attempt::Declined(e) => Ok(PageOutcome::Declined(e)),
        };
    }
    if behaviour == payment::CardBehaviour::RequiresAuthentication {
        return Ok(PageOutcome::NeedsAuthentication);
    }
    if let Some(decline) = behaviour.decline(false) {
        return Ok(PageOutcome::Declined(decline));
    }
    finish(st, acct, id).map(PageOutcome::Completed)
}

/// `GET /v1/payment_pages/:cs`: the session as the page Stripe's own hosted Checkout loads. Undocumented, but
/// the Stripe CLI's `checkout.session.*` fixtures call it and `…/confirm`
/// (https://github.com/stripe/stripe-cli/blob/master/pkg/fixtures/triggers/checkout.session.completed.json).
pub fn payment_page(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let mut page = get_open(st, acct, id)?;
    page["object"] = json!("checkout.session");
    Ok(page)
}

/// `POST /v1/payment_pages/:cs/confirm` with `payment_method` (and `expected_amount`, which must match the
/// session's total): pays the session as the hosted page's "Pay" button does; returns the session.
pub fn confirm_payment_page(
    st: &mut State,
    acct: &str,
    id: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    let cs = get_open(st, acct, id)?;
    if let Some(expected) = p.i64("expected_amount")?
        && Some(expected) != cs["amount_total"].as_i64()
    {
        return Err(ApiError::invalid(
            "expected_amount",
            "The expected amount does not match the Checkout Session's total.",
        ));
    }
    let pm = payment::resolve_method(st, acct, p.required_str("payment_method")?, None)?;
    let behaviour = payment::behaviour_of(st, acct, &pm);
    let email = st.get(acct, "payment_method", &pm)?["billing_details"]["email"]
        .as_str()
        .map(str::to_owned);
    match pay_with(st, acct, &cs, &pm, behaviour, email.as_deref(), None)? {
        PageOutcome::Completed(_) => st.get(acct, "checkout.session", id),
        PageOutcome::NeedsAuthentication => Err(ApiError::card(
            "authentication_required",
            None,
            "This payment needs 3D Secure, which only the hosted page can complete.",
        )),
        PageOutcome::Declined(e) => Err(e),
    }
}

/// The hosted page's bank debit (payment mode): the session completes `unpaid`, and settles on the next sweep
/// with `checkout.session.async_payment_succeeded` or `…_failed`, as Stripe's delayed payment methods do.
pub fn pay_by_bank(
    st: &mut State,
    acct: &str,
    id: &str,
    account_number: &str,
    email: Option<&str>,
) -> Result<PageOutcome, ApiError> {
    let cs = get_open(st, acct, id)?;
    if cs["mode"] != "payment" {
        return Err(ApiError::invalid(
            "payment_method_types",
            "The emulator offers bank debits in payment mode only.",
        ));
    }
    let succeeds = payment::bank_account(account_number).ok_or_else(|| {
        ApiError::invalid(
            "account_number",
            "Use a test account number: 000123456789 (settles) or 000111111113 (fails).",
        )
    })?;
    let pm = payment::new_bank_account(st, acct, account_number);
    let mut setup = st.get(acct, "checkout.setup", &setup_id(id))?;
    setup["payment_method"] = json!(pm);
    setup["email"] = json!(cs["customer_email"].as_str().or(email));
    setup["bank_debit_settles"] = json!(succeeds);
    st.put(acct, setup);
    let pi = payment_intent_for(st, acct, &cs)?;
    payment::start_debit(st, acct, &pi, &pm)?;
    st.async_payments.push((acct.to_owned(), id.to_owned()));
    finish(st, acct, id).map(PageOutcome::Completed)
}

/// Settles every pending bank-debit checkout.
pub fn settle_async_payments(st: &mut State) {
    for (acct, id) in std::mem::take(&mut st.async_payments) {
        let settled = (|| -> Result<(), ApiError> {
            let mut cs = st.get(&acct, "checkout.session", &id)?;
            let setup = st.get(&acct, "checkout.setup", &setup_id(&id))?;
            let pi = cs["payment_intent"].as_str().unwrap_or_default().to_owned();
            let ok = payment::settle_debit(st, &acct, &pi, setup["bank_debit_settles"] == true)?;
            cs["payment_status"] = json!(if ok { "paid" } else { "unpaid" });
            st.put(&acct, cs.clone());
            let kind = if ok {
                "checkout.session.async_payment_succeeded"
            } else {
                "checkout.session.async_payment_failed"
            };
            st.emit(&acct, kind, &cs, None);
            Ok(())
        })();
        if let Err(error) = settled {
            tracing::warn!(checkout.session = %id, %error, "stripe emulator could not settle a bank debit");
        }
    }
}

/// The 3D Secure challenge page's answer.
pub fn authenticate(
    st: &mut State,
    acct: &str,
    id: &str,
    approve: bool,
) -> Result<PageOutcome, ApiError> {
    let cs = get_open(st, acct, id)?;
    if let Some(pi) = cs["payment_intent"]
        .as_str()
        .filter(|_| cs["mode"] == "payment")
    {
        let pi = pi.to_owned();
        return match payment::finish_authentication(st, acct, &pi, approve)? {
            Attempt::Succeeded => finish(st, acct, id).map(PageOutcome::Completed),
            Attempt::RequiresAction => Ok(PageOutcome::NeedsAuthentication),
            Attempt::Declined(e) => Ok(PageOutcome::Declined(e)),
        };
    }
    if approve {
        finish(st, acct, id).map(PageOutcome::Completed)
    } else {
        Ok(PageOutcome::Declined(ApiError::card(
            "payment_intent_authentication_failure",
            None,
            "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
        )))
    }
}

fn payment_intent_for(st: &mut State, acct: &str, cs: &Value) -> Result<String, ApiError> {
    if let Some(pi) = cs["payment_intent"].as_str() {
        return Ok(pi.to_owned());
    }
    let setup = st.get(
        acct,
        "checkout.setup",
        &setup_id(cs["id"].as_str().unwrap_or_default()),
    )?;
    let mut pi = payment::new_intent(
        st,
        acct,
        cs["amount_total"].as_i64().unwrap_or(0),
        cs["currency"].as_str().unwrap_or("usd"),
        cs["customer"].as_str(),
        None,
        setup["payment_intent_metadata"].clone(),
    );
    if let Some(data) = setup["payment_intent_data"].as_object() {
        crate::transfer::apply_intent_params(st, acct, &mut pi, data, "payment_intent_data")?;
        st.put(acct, pi.clone());
    }
    let mut cs = cs.clone();
    cs["payment_intent"] = pi["id"].clone();
    st.put(acct, cs);
    Ok(pi["id"].as_str().unwrap_or_default().to_owned())
}

/// Completes a paid session and returns the success URL with `{CHECKOUT_SESSION_ID}` filled in.
fn finish(st: &mut State, acct: &str, id: &str) -> Result<String, ApiError> {
    let mut cs = st.get(acct, "checkout.session", id)?;
    let setup = st.get(acct, "checkout.setup", &setup_id(id))?;
    let pm = setup["payment_method"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let email = setup["email"].as_str().map(str::to_owned);
    let needs_customer = cs["mode"] == "subscription" || cs["customer_creation"] == "always";
    let mut customer = cs["customer"].as_str().map(str::to_owned);
    if customer.is_none() && needs_customer {
        let mut cp = Params::default();
        if let Some(e) = &email {
            cp.0.insert("email".into(), json!(e));
        }
        if let Some(n) = setup["name"].as_str() {
            cp.0.insert("name".into(), json!(n));
        }
        customer = Some(
            crate::customer::create(st, acct, &cp)?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let customer_obj = match &customer {
        Some(c) => Some(st.get(acct, "customer", c)?),
        None => None,
    };
    cs["customer"] = json!(customer);
    cs["customer_details"] = json!({
        "address": null, "email": email.clone().or(customer_obj.as_ref().and_then(|c| c["email"].as_str().map(str::to_owned))),
        "name": setup["name"], "phone": null, "tax_exempt": "none", "tax_ids": [], "business_name": null, "individual_name": null,
    });
    if cs["mode"] == "setup" {
        let si = crate::setup::succeeded_intent(st, acct, customer.as_deref(), &pm)?;
        cs["setup_intent"] = json!(si);
        cs["payment_status"] = json!("no_payment_required");
    } else if cs["mode"] == "subscription" {
        let cus = customer.clone().unwrap_or_default();
        payment::resolve_method(st, acct, &pm, Some(&cus))?;
        let mut up = Params::default();
        up.0.insert(
            "invoice_settings".into(),
            json!({ "default_payment_method": pm }),
        );
        crate::customer::update(st, acct, &cus, &up)?;
        let items: Vec<(Value, i64)> = st
            .find(acct, &format!("{id}:line_items"))
            .and_then(|l| l["data"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|li| (li["price"].clone(), li["quantity"].as_i64().unwrap_or(1)))
            .collect();
        let sub = subscription::start(
            st,
            acct,
            NewSubscription {
                customer: cus,
                items,
                metadata: setup["subscription_metadata"].clone(),
                trial_days: setup["trial_period_days"].as_i64(),
                payment_method: None,
                coupon: setup["coupon"].as_str().map(str::to_owned),
                promotion_code: setup["promotion_code"].as_str().map(str::to_owned),
                charge_now: true,
                application_fee_percent: setup["application_fee_percent"].as_f64(),
                send_invoice_days: None,
                cancel_at: None,
            },
        )?;
        cs["subscription"] = sub["id"].clone();
        cs["invoice"] = sub["latest_invoice"].clone();
        let paid = st
            .find(acct, sub["latest_invoice"].as_str().unwrap_or_default())
            .is_some_and(|i| i["status"] == "paid");
        if !paid {
            return Err(ApiError::card(
                "card_declined",
                Some("generic_decline"),
                "Your card was declined.",
            ));
        }
        cs["payment_status"] = json!(if cs["amount_total"] == 0 {
            "no_payment_required"
        } else {
            "paid"
        });
    } else {
        if let Some(coupon) = setup["coupon"].as_str() {
            crate::coupon::redeem_once(st, acct, coupon, setup["promotion_code"].as_str())?;
        }
        if let (Some(pi), Some(cus)) = (cs["payment_intent"].as_str(), &customer) {
            let mut pi = st.get(acct, "payment_intent", pi)?;
            pi["customer"] = json!(cus);
            st.put(acct, pi);
        }
        let processing = cs["payment_intent"]
            .as_str()
            .and_then(|pi| st.find(acct, pi))
            .is_some_and(|pi| pi["status"] == "processing");
        cs["payment_status"] = json!(if cs["amount_total"] == 0 {
            "no_payment_required"
        } else if processing {
            "unpaid"
        } else {
            "paid"
        });
    }
    cs["status"] = json!("complete");
    cs["url"] = Value::Null;
    st.put(acct, cs.clone());
    st.emit(acct, "checkout.session.completed", &cs, None);
    let success = cs["success_url"].as_str().unwrap_or_default();
    Ok(success.replace("{CHECKOUT_SESSION_ID}", id))
}

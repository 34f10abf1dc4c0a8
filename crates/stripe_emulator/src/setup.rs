//! Saving cards for later: `POST /v1/payment_methods` from test tokens, attach and detach, listing a
//! customer's cards, and SetupIntents (create, confirm, cancel) that end with the card attached. Checkout in
//! `setup` mode finishes through `succeeded_intent`. See <https://docs.stripe.com/payments/save-and-reuse>.

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::{Params, merge_metadata};
use crate::payment::{self, CardBehaviour};

/// `POST /v1/payment_methods` with `type=card` and a test token (`card[token]=tok_visa`) or a
/// `pm_card_*` shortcut as `payment_method`. Raw card numbers are refused, as Stripe refuses them from
/// integrations that have not been approved to send them.
pub fn create_method(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let kind = p.required_str("type")?;
    if kind != "card" {
        return Err(ApiError::invalid(
            "type",
            format!("The emulator creates card payment methods only (got {kind})."),
        ));
    }
    let card = p.object("card");
    if card.is_some_and(|c| c.contains_key("number")) {
        return Err(ApiError::invalid(
            "card[number]",
            "Sending credit card numbers directly to the Stripe API is generally unsafe. To continue processing use Stripe.js, the Stripe mobile bindings, or Stripe Elements. In test mode use a test token such as tok_visa.",
        ));
    }
    let token = card
        .and_then(|c| c.get("token"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::missing("card[token]"))?;
    let Some(name) = token.strip_prefix("tok_") else {
        return Err(ApiError::invalid_reference("card[token]", token));
    };
    let pm = payment::resolve_method(st, acct, &format!("pm_card_{name}"), None)
        .map_err(|_| ApiError::invalid_reference("card[token]", token))?;
    let mut obj = st.get(acct, "payment_method", &pm)?;
    merge_metadata(&mut obj["metadata"], p.object("metadata"));
    if let Some(details) = p.object("billing_details") {
        for (k, v) in details {
            if v.is_string() {
                obj["billing_details"][k] = v.clone();
            }
        }
    }
    st.put(acct, obj.clone());
    Ok(obj)
}

/// Detaches a card from its customer (`payment_method.detached`); a customer default that named it is cleared.
pub fn detach(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let mut pm = st.get(acct, "payment_method", id)?;
    let Some(customer) = pm["customer"].as_str().map(str::to_owned) else {
        return Err(ApiError::state(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
        ));
    };
    pm["customer"] = Value::Null;
    st.put(acct, pm.clone());
    if let Some(mut c) = st.find(acct, &customer).cloned()
        && c["invoice_settings"]["default_payment_method"] == id
    {
        let before = c.clone();
        c["invoice_settings"]["default_payment_method"] = Value::Null;
        st.put(acct, c.clone());
        st.emit(
            acct,
            "customer.updated",
            &c,
            Some(crate::customer::previous(&before, &c)),
        );
    }
    st.emit(
        acct,
        "payment_method.detached",
        &pm,
        Some(json!({ "customer": customer })),
    );
    Ok(pm)
}

/// `GET /v1/payment_methods?customer=…` (Stripe lists a customer's methods only).
pub fn list_methods(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.required_str("customer")?.to_owned();
    payment::list_customer_methods(st, acct, &customer, p)
}

fn new_intent(st: &mut State, acct: &str, customer: Option<&str>, usage: &str) -> Value {
    let id = st.new_id("seti_");
    let secret = st.new_id("");
    let mut si = template("setup_intent");
    si["id"] = json!(id);
    si["client_secret"] = json!(format!("{id}_secret_{secret}"));
    si["created"] = json!(payment::now_for(st, acct, customer));
    si["customer"] = json!(customer);
    si["usage"] = json!(usage);
    si["status"] = json!("requires_payment_method");
    si["last_setup_error"] = Value::Null;
    si["next_action"] = Value::Null;
    si["payment_method_configuration_details"] = Value::Null;
    si["metadata"] = json!({});
    si
}

pub fn create_intent(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = match p.str("customer") {
        Some(c) => Some(
            st.get(acct, "customer", c)
                .map_err(|_| ApiError::invalid_reference("customer", c))?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        None => None,
    };
    let usage = p.str("usage").unwrap_or("off_session");
    if !["off_session", "on_session"].contains(&usage) {
        return Err(ApiError::invalid(
            "usage",
            "Invalid usage: must be one of off_session or on_session",
        ));
    }
    let mut si = new_intent(st, acct, customer.as_deref(), usage);
    merge_metadata(&mut si["metadata"], p.object("metadata"));
    si["description"] = json!(p.str("description"));
    if let Some(pm) = p.str("payment_method") {
        let pm = payment::resolve_method(st, acct, pm, None)?;
        si["payment_method"] = json!(pm);
        si["status"] = json!("requires_confirmation");
    }
    st.put(acct, si.clone());
    st.emit(acct, "setup_intent.created", &si, None);
    if p.bool("confirm")?.unwrap_or(false) {
        return confirm_intent(st, acct, si["id"].as_str().unwrap_or_default(), p);
    }
    Ok(si)
}

/// Confirms a SetupIntent: a card that would decline fails the setup; any other is attached to the customer.
pub fn confirm_intent(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let mut si = st.get(acct, "setup_intent", id)?;
    if !["requires_payment_method", "requires_confirmation"]
        .contains(&si["status"].as_str().unwrap_or_default())
    {
        return Err(ApiError::state(format!(
            "You cannot confirm this SetupIntent because it has a status of {}.",
            si["status"].as_str().unwrap_or_default()
        )));
    }
    let pm = match p.str("payment_method") {
        Some(pm) => payment::resolve_method(st, acct, pm, None)?,
        None => si["payment_method"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::missing("payment_method"))?,
    };
    let behaviour = payment::behaviour_of(st, acct, &pm);
    // Setting up a card for later checks it once: a card that always declines fails here.
    let decline = match behaviour {
        CardBehaviour::FailsLater => None,
        other => other.decline(false),
    };
    if let Some(mut error) = decline {
        si["status"] = json!("requires_payment_method");
        si["payment_method"] = Value::Null;
        si["last_setup_error"] = json!({
            "type": "card_error", "code": error.code, "decline_code": error.decline_code, "message": error.message,
            "payment_method": st.find(acct, &pm).cloned().unwrap_or(Value::Null),
        });
        st.put(acct, si.clone());
        st.emit(acct, "setup_intent.setup_failed", &si, None);
        error.payment_intent = None;
        return Err(error);
    }
    succeed(st, acct, si, &pm)
}

fn succeed(st: &mut State, acct: &str, mut si: Value, pm: &str) -> Result<Value, ApiError> {
    let customer = si["customer"].as_str().map(str::to_owned);
    if let Some(c) = &customer {
        payment::resolve_method(st, acct, pm, Some(c))?;
    }
    si["payment_method"] = json!(pm);
    si["status"] = json!("succeeded");
    si["last_setup_error"] = Value::Null;
    st.put(acct, si.clone());
    st.emit(acct, "setup_intent.succeeded", &si, None);
    Ok(si)
}

/// The SetupIntent of a Checkout Session in `setup` mode, already succeeded with `pm`.
pub fn succeeded_intent(
    st: &mut State,
    acct: &str,
    customer: Option<&str>,
    pm: &str,
) -> Result<String, ApiError> {
    let mut si = new_intent(st, acct, customer, "off_session");
    si["payment_method"] = json!(pm);
    si["status"] = json!("requires_confirmation");
    st.put(acct, si.clone());
    st.emit(acct, "setup_intent.created", &si, None);
    let si = succeed(st, acct, si, pm)?;
    Ok(si["id"].as_str().unwrap_or_default().to_owned())
}

pub fn cancel_intent(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let mut si = st.get(acct, "setup_intent", id)?;
    if si["status"] == "succeeded" || si["status"] == "canceled" {
        return Err(ApiError::state(format!(
            "You cannot cancel this SetupIntent because it has a status of {}.",
            si["status"].as_str().unwrap_or_default()
        )));
    }
    si["status"] = json!("canceled");
    si["cancellation_reason"] = json!(
        p.str("cancellation_reason")
            .unwrap_or("requested_by_customer")
    );
    st.put(acct, si.clone());
    st.emit(acct, "setup_intent.canceled", &si, None);
    Ok(si)
}

pub fn list_intents(st: &State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.str("customer").map(str::to_owned);
    st.list(acct, "setup_intent", p, "/v1/setup_intents", |x| {
        customer.as_deref().is_none_or(|c| x["customer"] == c)
    })
}

//! Money movement: payment methods and Stripe's test cards, payment intents, charges and refunds.

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::{Params, merge_metadata};

/// How a test card behaves when charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBehaviour {
    Succeeds,
    Declined,
    InsufficientFunds,
    Expired,
    /// 3D Secure on every on-session payment; off-session ones go through, as with Stripe's 3155 card once set up.
    RequiresAuthentication,
    /// Succeeds on-session, fails every later off-session charge (Stripe's 0341 card).
    FailsLater,
}

impl CardBehaviour {
    pub fn name(self) -> &'static str {
        match self {
            CardBehaviour::Succeeds => "succeeds",
            CardBehaviour::Declined => "declined",
            CardBehaviour::InsufficientFunds => "insufficient_funds",
            CardBehaviour::Expired => "expired",
            CardBehaviour::RequiresAuthentication => "requires_authentication",
            CardBehaviour::FailsLater => "fails_later",
        }
    }

    fn from_name(name: &str) -> CardBehaviour {
        match name {
            "declined" => CardBehaviour::Declined,
            "insufficient_funds" => CardBehaviour::InsufficientFunds,
            "expired" => CardBehaviour::Expired,
            "requires_authentication" => CardBehaviour::RequiresAuthentication,
            "fails_later" => CardBehaviour::FailsLater,
            _ => CardBehaviour::Succeeds,
        }
    }

    /// The card error Stripe returns for a declined attempt, if this card declines it.
    pub fn decline(self, off_session: bool) -> Option<ApiError> {
        match self {
            CardBehaviour::Declined => Some(ApiError::card(
                "card_declined",
                Some("generic_decline"),
                "Your card was declined.",
            )),
            CardBehaviour::InsufficientFunds => Some(ApiError::card(
                "card_declined",
                Some("insufficient_funds"),
                "Your card has insufficient funds.",
            )),
            CardBehaviour::Expired => Some(ApiError::card(
                "expired_card",
                Some("expired_card"),
                "Your card has expired.",
            )),
            CardBehaviour::FailsLater if off_session => Some(ApiError::card(
                "card_declined",
                Some("generic_decline"),
                "Your card was declined.",
            )),
            _ => None,
        }
    }
}

/// A test card number (spaces allowed) → its behaviour; unknown numbers are rejected like Stripe's test mode does.
pub fn card_number(number: &str) -> Option<CardBehaviour> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    match digits.as_str() {
        "4242424242424242" | "4000056655665556" | "5555555555554444" => {
            Some(CardBehaviour::Succeeds)
        }
        // Succeeds, and its funds skip the pending balance (see `transfer::settle_charge`).
        "4000000000000077" => Some(CardBehaviour::Succeeds),
        "4000000000000002" => Some(CardBehaviour::Declined),
        "4000000000009995" => Some(CardBehaviour::InsufficientFunds),
        "4000000000000069" => Some(CardBehaviour::Expired),
        "4000002500003155" | "4000002760003184" => Some(CardBehaviour::RequiresAuthentication),
        "4000000000000341" => Some(CardBehaviour::FailsLater),
        _ => None,
    }
}

/// Stripe's test payment method shortcuts (`pm_card_visa`, …).
fn shortcut(id: &str) -> Option<(CardBehaviour, &'static str)> {
    Some(match id {
        "pm_card_visa" | "pm_card_us" => (CardBehaviour::Succeeds, "4242"),
        "pm_card_mastercard" => (CardBehaviour::Succeeds, "4444"),
        "pm_card_bypassPending" => (CardBehaviour::Succeeds, "0077"),
        "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined" => {
            (CardBehaviour::Declined, "0002")
        }
        "pm_card_chargeDeclinedInsufficientFunds"
        | "pm_card_visa_chargeDeclinedInsufficientFunds" => {
            (CardBehaviour::InsufficientFunds, "9995")
        }
        "pm_card_chargeDeclinedExpiredCard" | "pm_card_visa_chargeDeclinedExpiredCard" => {
            (CardBehaviour::Expired, "0069")
        }
        "pm_card_authenticationRequired"
        | "pm_card_threeDSecure2Required"
        | "pm_card_authenticationRequiredOnSetup" => {
            (CardBehaviour::RequiresAuthentication, "3155")
        }
        "pm_card_chargeCustomerFail" => (CardBehaviour::FailsLater, "0341"),
        _ => return None,
    })
}

/// Creates a card payment method object for a test card.
pub fn new_card(
    st: &mut State,
    acct: &str,
    behaviour: CardBehaviour,
    last4: &str,
    customer: Option<&str>,
) -> String {
    let id = st.new_id("pm_");
    let mut pm = template("payment_method");
    pm["id"] = json!(id);
    pm["created"] = json!(st.now());
    pm["customer"] = json!(customer);
    pm["card"]["last4"] = json!(last4);
    pm["card"]["fingerprint"] = json!(format!("emu{last4}"));
    st.put(acct, pm.clone());
    st.ledger(acct)
        .cards
        .insert(id.clone(), behaviour.name().to_owned());
    if customer.is_some() {
        st.emit(acct, "payment_method.attached", &pm, None);
    }
    id
}

/// Stripe's test bank account numbers for US bank debits: settles, or fails as a closed account.
pub fn bank_account(number: &str) -> Option<bool> {
    match number.trim() {
        "000123456789" | "000222222227" => Some(true),
        "000111111113" | "000111111116" => Some(false),
        _ => None,
    }
}

/// Creates a `us_bank_account` payment method for a test account number.
pub fn new_bank_account(st: &mut State, acct: &str, number: &str) -> String {
    let id = st.new_id("pm_");
    let mut pm = template("payment_method");
    pm["id"] = json!(id);
    pm["created"] = json!(st.now());
    pm["type"] = json!("us_bank_account");
    pm["card"] = Value::Null;
    let last4 = &number[number.len().saturating_sub(4)..];
    pm["us_bank_account"] = json!({
        "account_holder_type": "individual", "account_type": "checking", "bank_name": "STRIPE TEST BANK",
        "financial_connections_account": null, "fingerprint": format!("emuba{last4}"), "last4": last4,
        "networks": { "preferred": "ach", "supported": ["ach"] }, "routing_number": "110000000", "status_details": {},
    });
    st.put(acct, pm);
    id
}

/// Starts a bank debit: the intent is `processing` and the charge `pending` until `settle_debit`.
pub fn start_debit(st: &mut State, acct: &str, pi_id: &str, pm: &str) -> Result<(), ApiError> {
    let mut pi = st.get(acct, "payment_intent", pi_id)?;
    let bank = st
        .find(acct, pm)
        .map(|p| p["us_bank_account"].clone())
        .unwrap_or(Value::Null);
    let mut ch = new_charge(st, acct, &pi, pm, None);
    ch["status"] = json!("pending");
    ch["paid"] = json!(false);
    ch["outcome"] = Value::Null;
    ch["payment_method_details"] = json!({
        "type": "us_bank_account",
        "us_bank_account": {
            "account_holder_type": bank["account_holder_type"], "account_type": bank["account_type"],
            "bank_name": bank["bank_name"], "expected_debit_date": null, "fingerprint": bank["fingerprint"],
            "last4": bank["last4"], "mandate": null, "payment_reference": null, "routing_number": bank["routing_number"],
        },
    });
    st.put(acct, ch.clone());
    pi["payment_method"] = json!(pm);
    pi["payment_method_types"] = json!(["us_bank_account"]);
    pi["status"] = json!("processing");
    pi["latest_charge"] = ch["id"].clone();
    st.put(acct, pi.clone());
    st.emit(acct, "charge.pending", &ch, None);
    st.emit(acct, "payment_intent.processing", &pi, None);
    Ok(())
}

/// Settles a pending bank debit; returns whether the money arrived.
pub fn settle_debit(
    st: &mut State,
    acct: &str,
    pi_id: &str,
    succeeds: bool,
) -> Result<bool, ApiError> {
    let mut pi = st.get(acct, "payment_intent", pi_id)?;
    let ch_id = pi["latest_charge"].as_str().unwrap_or_default().to_owned();
    let mut ch = st.get(acct, "charge", &ch_id)?;
    if succeeds {
        ch["status"] = json!("succeeded");
        ch["paid"] = json!(true);
        pi["status"] = json!("succeeded");
        pi["amount_received"] = pi["amount"].clone();
        st.put(acct, ch.clone());
        st.put(acct, pi.clone());
        st.emit(
            acct,
            "charge.succeeded",
            &ch,
            Some(json!({ "status": "pending", "paid": false })),
        );
        st.emit(acct, "payment_intent.succeeded", &pi, None);
    } else {
        ch["status"] = json!("failed");
        ch["captured"] = json!(false);
        ch["amount_captured"] = json!(0);
        ch["failure_code"] = json!("account_closed");
        ch["failure_message"] = json!("The customer's bank account has been closed.");
        pi["status"] = json!("requires_payment_method");
        pi["last_payment_error"] = json!({
            "type": "invalid_request_error", "code": "payment_method_provider_decline",
            "message": "The customer's bank account has been closed.", "charge": ch_id,
        });
        st.put(acct, ch.clone());
        st.put(acct, pi.clone());
        st.emit(
            acct,
            "charge.failed",
            &ch,
            Some(json!({ "status": "pending" })),
        );
        st.emit(acct, "payment_intent.payment_failed", &pi, None);
    }
    Ok(succeeds)
}

/// Resolves a payment method id or test shortcut to a stored method, attached to `customer` when given.
pub fn resolve_method(
    st: &mut State,
    acct: &str,
    id: &str,
    customer: Option<&str>,
) -> Result<String, ApiError> {
    if let Some((behaviour, last4)) = shortcut(id) {
        let pm_id = new_card(st, acct, behaviour, last4, customer);
        // https://docs.stripe.com/testing#cards: pm_card_mastercard is 5555 5555 5555 4444.
        if id == "pm_card_mastercard"
            && let Some(mut pm) = st.find(acct, &pm_id).cloned()
        {
            pm["card"]["brand"] = json!("mastercard");
            pm["card"]["display_brand"] = json!("mastercard");
            st.put(acct, pm);
        }
        return Ok(pm_id);
    }
    let mut pm = st
        .get(acct, "payment_method", id)
        .map_err(|_| ApiError::not_found("payment_method", id))?;
    if let Some(cus) = customer
        && pm["customer"].is_null()
    {
        pm["customer"] = json!(cus);
        st.put(acct, pm.clone());
        st.emit(acct, "payment_method.attached", &pm, None);
    }
    Ok(id.to_owned())
}

pub fn behaviour_of(st: &mut State, acct: &str, pm: &str) -> CardBehaviour {
    st.ledger(acct)
        .cards
        .get(pm)
        .map(|n| CardBehaviour::from_name(n))
        .unwrap_or(CardBehaviour::Succeeds)
}

pub fn retrieve_method(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    st.get(acct, "payment_method", id)
}

pub fn attach_method(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.required_str("customer")?;
    st.get(acct, "customer", customer)?;
    let pm = resolve_method(st, acct, id, Some(customer))?;
    st.get(acct, "payment_method", &pm)
}

pub fn list_customer_methods(
    st: &mut State,
    acct: &str,
    customer: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    st.get(acct, "customer", customer)?;
    st.list(
        acct,
        "payment_method",
        p,
        &format!("/v1/customers/{customer}/payment_methods"),
        |pm| pm["customer"] == customer,
    )
}

/// A new payment intent in `requires_payment_method`; emits `payment_intent.created`.
pub fn new_intent(
    st: &mut State,
    acct: &str,
    amount: i64,
    currency: &str,
    customer: Option<&str>,
    description: Option<&str>,
    metadata: Value,
) -> Value {
    let id = st.new_id("pi_");
    let secret_tail = st.new_id("");
    let mut pi = template("payment_intent");
    pi["id"] = json!(id);
    pi["client_secret"] = json!(format!("{id}_secret_{secret_tail}"));
    pi["amount"] = json!(amount);
    pi["currency"] = json!(currency);
    pi["customer"] = json!(customer);
    pi["description"] = json!(description);
    pi["metadata"] = metadata;
    pi["created"] = json!(now_for(st, acct, customer));
    pi["status"] = json!("requires_payment_method");
    st.put(acct, pi.clone());
    st.emit(acct, "payment_intent.created", &pi, None);
    pi
}

/// The time a customer lives in: its test clock's frozen time, or the emulator's.
pub fn now_for(st: &State, acct: &str, customer: Option<&str>) -> i64 {
    customer
        .and_then(|c| st.find(acct, c))
        .and_then(|c| c["test_clock"].as_str())
        .and_then(|clock| st.find(acct, clock))
        .and_then(|clock| clock["frozen_time"].as_i64())
        .unwrap_or_else(|| st.now())
}

/// What one attempt to pay an intent came to.
#[derive(Debug)]
pub enum Attempt {
    Succeeded,
    Declined(ApiError),
    RequiresAction,
}

/// Tries to pay `pi_id` with `pm`, emitting the charge and payment intent events Stripe emits.
/// `authenticated`: 3D Secure already passed for this payment (on the hosted page).
pub fn attempt(
    st: &mut State,
    acct: &str,
    pi_id: &str,
    pm: &str,
    off_session: bool,
    authenticated: bool,
) -> Result<Attempt, ApiError> {
    let mut pi = st.get(acct, "payment_intent", pi_id)?;
    let behaviour = behaviour_of(st, acct, pm);
    pi["payment_method"] = json!(pm);
    if behaviour == CardBehaviour::RequiresAuthentication && !off_session && !authenticated {
        pi["status"] = json!("requires_action");
        pi["next_action"] = json!({
            "type": "redirect_to_url",
            "redirect_to_url": { "return_url": null, "url": format!("{}/authenticate/{pi_id}", st_base(st)) },
        });
        st.put(acct, pi.clone());
        st.emit(acct, "payment_intent.requires_action", &pi, None);
        return Ok(Attempt::RequiresAction);
    }
    let decline = behaviour.decline(off_session);
    let mut charge = new_charge(st, acct, &pi, pm, decline.as_ref());
    if decline.is_none() {
        charge = crate::transfer::settle_charge(st, acct, &pi, charge);
    }
    pi["latest_charge"] = charge["id"].clone();
    pi["next_action"] = Value::Null;
    match decline {
        None => {
            pi["status"] = json!("succeeded");
            pi["amount_received"] = pi["amount"].clone();
            pi["last_payment_error"] = Value::Null;
            st.put(acct, pi.clone());
            st.emit(acct, "charge.succeeded", &charge, None);
            st.emit(acct, "payment_intent.succeeded", &pi, None);
            Ok(Attempt::Succeeded)
        }
        Some(mut error) => {
            let pm_obj = st.find(acct, pm).cloned().unwrap_or(Value::Null);
            pi["status"] = json!("requires_payment_method");
            pi["last_payment_error"] = json!({
                "type": "card_error", "code": error.code, "decline_code": error.decline_code,
                "message": error.message, "charge": charge["id"], "payment_method": pm_obj,
                "doc_url": format!("https://stripe.com/docs/error-codes/{}", error.code.clone().unwrap_or_default().replace('_', "-")),
            });
            pi["payment_method"] = Value::Null;
            st.put(acct, pi.clone());
            st.emit(acct, "charge.failed", &charge, None);
            st.emit(acct, "payment_intent.payment_failed", &pi, None);
            error.payment_intent = Some(pi);
            Ok(Attempt::Declined(error))
        }
    }
}

fn st_base(st: &State) -> String {
    st.base_url.clone()
}

fn new_charge(
    st: &mut State,
    acct: &str,
    pi: &Value,
    pm: &str,
    decline: Option<&ApiError>,
) -> Value {
    let id = st.new_id("ch_");
    let customer = pi["customer"].as_str().map(str::to_owned);
    let mut ch = template("charge");
    let last4 = st
        .find(acct, pm)
        .map(|p| p["card"]["last4"].clone())
        .unwrap_or(json!("4242"));
    ch["id"] = json!(id);
    ch["amount"] = pi["amount"].clone();
    ch["currency"] = pi["currency"].clone();
    ch["customer"] = pi["customer"].clone();
    ch["description"] = pi["description"].clone();
    ch["metadata"] = pi["metadata"].clone();
    ch["payment_intent"] = pi["id"].clone();
    ch["payment_method"] = json!(pm);
    ch["created"] = json!(now_for(st, acct, customer.as_deref()));
    ch["billing_details"]["name"] = Value::Null;
    ch["payment_method_details"]["card"]["last4"] = last4;
    ch["refunds"] = json!({ "object": "list", "data": [], "has_more": false, "url": format!("/v1/charges/{id}/refunds") });
    ch["receipt_url"] = json!(format!("{}/receipts/{id}", st_base(st)));
    match decline {
        None => {
            ch["status"] = json!("succeeded");
            ch["paid"] = json!(true);
            ch["captured"] = json!(true);
            ch["amount_captured"] = pi["amount"].clone();
        }
        Some(e) => {
            ch["status"] = json!("failed");
            ch["paid"] = json!(false);
            ch["captured"] = json!(false);
            ch["amount_captured"] = json!(0);
            ch["failure_code"] = json!(e.code);
            ch["failure_message"] = json!(e.message);
            ch["outcome"] = json!({
                "advice_code": null, "network_advice_code": null, "network_decline_code": null,
                "network_status": "declined_by_network", "reason": e.decline_code, "risk_level": "normal",
                "seller_message": "The bank did not return any further details with this decline.", "type": "issuer_declined",
            });
        }
    }
    st.put(acct, ch.clone());
    ch
}

/// Finishes a 3D Secure challenge: approve pays the intent, fail leaves it to be paid another way.
pub fn finish_authentication(
    st: &mut State,
    acct: &str,
    pi_id: &str,
    approve: bool,
) -> Result<Attempt, ApiError> {
    let mut pi = st.get(acct, "payment_intent", pi_id)?;
    if pi["status"] != "requires_action" {
        return Err(ApiError::state(
            "This PaymentIntent does not require authentication.",
        ));
    }
    let pm = pi["payment_method"].as_str().unwrap_or_default().to_owned();
    if approve {
        // Once authenticated, the card pays like any other.
        pi["status"] = json!("requires_confirmation");
        st.put(acct, pi);
        return attempt(st, acct, pi_id, &pm, false, true);
    }
    let error = {
        let mut e = ApiError::card(
            "payment_intent_authentication_failure",
            None,
            "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
        );
        e.kind = "invalid_request_error";
        e
    };
    pi["status"] = json!("requires_payment_method");
    pi["next_action"] = Value::Null;
    pi["payment_method"] = Value::Null;
    pi["last_payment_error"] = json!({
        "type": "invalid_request_error", "code": error.code, "message": error.message,
        "payment_method": st.find(acct, &pm).cloned().unwrap_or(Value::Null),
    });
    st.put(acct, pi.clone());
    st.emit(acct, "payment_intent.payment_failed", &pi, None);
    Ok(Attempt::Declined(error))
}

pub fn create_intent(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let amount = p
        .i64("amount")?
        .ok_or_else(|| ApiError::missing("amount"))?;
    if amount < 1 {
        return Err(ApiError::invalid(
            "amount",
            "This value must be greater than or equal to 1.",
        ));
    }
    let currency = p.required_str("currency")?.to_lowercase();
    let customer = match p.str("customer") {
        Some(c) => Some(
            st.get(acct, "customer", c)?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        None => None,
    };
    let mut metadata = json!({});
    merge_metadata(&mut metadata, p.object("metadata"));
    let pi = new_intent(
        st,
        acct,
        amount,
        &currency,
        customer.as_deref(),
        p.str("description"),
        metadata,
    );
    let pi_id = pi["id"].as_str().unwrap_or_default().to_owned();
    let mut pi = pi;
    crate::transfer::apply_intent_params(st, acct, &mut pi, &p.0, "")?;
    st.put(acct, pi);
    if let Some(pm) = p.str("payment_method") {
        let pm = resolve_method(st, acct, pm, None)?;
        let mut pi = st.get(acct, "payment_intent", &pi_id)?;
        pi["payment_method"] = json!(pm);
        pi["status"] = json!("requires_confirmation");
        st.put(acct, pi);
    }
    if p.bool("confirm")?.unwrap_or(false) {
        return confirm_intent(st, acct, &pi_id, p);
    }
    st.get(acct, "payment_intent", &pi_id)
}

pub fn update_intent(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let mut pi = st.get(acct, "payment_intent", id)?;
    merge_metadata(&mut pi["metadata"], p.object("metadata"));
    if let Some(d) = p.str("description") {
        pi["description"] = json!(d);
    }
    st.put(acct, pi.clone());
    Ok(pi)
}

pub fn confirm_intent(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let pi = st.get(acct, "payment_intent", id)?;
    let status = pi["status"].as_str().unwrap_or_default();
    if ![
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
    ]
    .contains(&status)
    {
        return Err(ApiError::state(format!(
            "This PaymentIntent's status is {status}, but it must be requires_payment_method, requires_confirmation or requires_action to be confirmed."
        )));
    }
    let pm = match p.str("payment_method") {
        Some(pm) => resolve_method(st, acct, pm, None)?,
        None => pi["payment_method"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::missing("payment_method"))?,
    };
    let off_session = p.bool("off_session")?.unwrap_or(false);
    match attempt(st, acct, id, &pm, off_session, false)? {
        Attempt::Declined(error) => Err(error),
        _ => st.get(acct, "payment_intent", id),
    }
}

pub fn cancel_intent(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let mut pi = st.get(acct, "payment_intent", id)?;
    if pi["status"] == "succeeded" || pi["status"] == "canceled" {
        return Err(ApiError::state(format!(
            "You cannot cancel this PaymentIntent because it has a status of {}.",
            pi["status"].as_str().unwrap_or_default()
        )));
    }
    pi["status"] = json!("canceled");
    pi["canceled_at"] = json!(st.now());
    pi["cancellation_reason"] = json!(
        p.str("cancellation_reason")
            .unwrap_or("requested_by_customer")
    );
    pi["next_action"] = Value::Null;
    st.put(acct, pi.clone());
    st.emit(acct, "payment_intent.canceled", &pi, None);
    Ok(pi)
}

pub fn list_intents(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.str("customer").map(str::to_owned);
    st.list(acct, "payment_intent", p, "/v1/payment_intents", |x| {
        customer.as_deref().is_none_or(|c| x["customer"] == c)
    })
}

pub fn list_charges(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let customer = p.str("customer").map(str::to_owned);
    let pi = p.str("payment_intent").map(str::to_owned);
    st.list(acct, "charge", p, "/v1/charges", |x| {
        customer.as_deref().is_none_or(|c| x["customer"] == c)
            && pi.as_deref().is_none_or(|i| x["payment_intent"] == i)
    })
}

/// Refunds all or part of a charge (named directly or through its payment intent).
pub fn create_refund(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let charge_id = match (p.str("charge"), p.str("payment_intent")) {
        (Some(ch), _) => ch.to_owned(),
        (None, Some(pi)) => {
            let pi = st.get(acct, "payment_intent", pi)?;
            pi["latest_charge"]
                .as_str()
                .filter(|_| pi["status"] == "succeeded")
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "payment_intent",
                        "This PaymentIntent does not have a successful charge to refund.",
                    )
                })?
        }
        (None, None) => return Err(ApiError::missing("charge")),
    };
    let mut ch = st.get(acct, "charge", &charge_id)?;
    if ch["status"] != "succeeded" {
        return Err(ApiError::invalid(
            "charge",
            "This charge cannot be refunded because it did not succeed.",
        ));
    }
    let captured = ch["amount_captured"].as_i64().unwrap_or(0);
    let already = ch["amount_refunded"].as_i64().unwrap_or(0);
    let remaining = captured - already;
    if remaining <= 0 {
        let mut e = ApiError::invalid(
            "charge",
            format!("Charge {charge_id} has already been refunded."),
        );
        e.code = Some("charge_already_refunded".into());
        return Err(e);
    }
    let amount = p.i64("amount")?.unwrap_or(remaining);
    if amount < 1 || amount > remaining {
        return Err(ApiError::invalid(
            "amount",
            format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
            ),
        ));
    }
    let id = st.new_id("re_");
    let txn = crate::transfer::settle_refund(st, acct, &ch, &id, amount, p)?;
    let customer = ch["customer"].as_str().map(str::to_owned);
    let mut re = template("refund");
    re["balance_transaction"] = json!(txn);
    re["id"] = json!(id);
    re["amount"] = json!(amount);
    re["currency"] = ch["currency"].clone();
    re["charge"] = json!(charge_id);
    re["payment_intent"] = ch["payment_intent"].clone();
    re["customer"] = ch["customer"].clone();
    re["payment_method"] = ch["payment_method"].clone();
    re["created"] = json!(now_for(st, acct, customer.as_deref()));
    re["reason"] = json!(p.str("reason"));
    re["status"] = json!("succeeded");
    re["metadata"] = json!({});
    merge_metadata(&mut re["metadata"], p.object("metadata"));
    st.put(acct, re.clone());
    let before = ch.clone();
    ch["amount_refunded"] = json!(already + amount);
    ch["refunded"] = json!(already + amount == captured);
    if let Some(data) = ch["refunds"]["data"].as_array_mut() {
        data.insert(0, re.clone());
    }
    st.put(acct, ch.clone());
    st.emit(acct, "refund.created", &re, None);
    st.emit(acct, "charge.refunded", &ch, Some(json!({ "amount_refunded": before["amount_refunded"], "refunded": before["refunded"], "refunds": before["refunds"] })));
    Ok(re)
}

pub fn list_refunds(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let charge = p.str("charge").map(str::to_owned);
    let pi = p.str("payment_intent").map(str::to_owned);
    st.list(acct, "refund", p, "/v1/refunds", |x| {
        charge.as_deref().is_none_or(|c| x["charge"] == c)
            && pi.as_deref().is_none_or(|i| x["payment_intent"] == i)
    })
}

pub fn list_refunds_of_charge(
    st: &mut State,
    acct: &str,
    id: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    st.get(acct, "charge", id)?;
    st.list(
        acct,
        "refund",
        p,
        &format!("/v1/charges/{id}/refunds"),
        |x| x["charge"] == id,
    )
}

pub fn update_refund(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let before = st.get(acct, "refund", id)?;
    let mut re = before.clone();
    merge_metadata(&mut re["metadata"], p.object("metadata"));
    st.put(acct, re.clone());
    st.emit(
        acct,
        "refund.updated",
        &re,
        Some(json!({ "metadata": before["metadata"] })),
    );
    Ok(re)
}

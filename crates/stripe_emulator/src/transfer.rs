//! Money between accounts: what a succeeded charge books (Stripe's fee, application fees on direct charges,
//! the transfer of a destination charge), separate transfers and their reversals, application fees and their
//! refunds, and what a refund takes back (`refund_application_fee`, `reverse_transfer`, proportional when partial).
//! See <https://docs.stripe.com/connect/charges>.

use serde_json::{Value, json};

use crate::account;
use crate::api_error::ApiError;
use crate::balance::{self, Entry, Fee};
use crate::ledger::{PLATFORM, State};
use crate::params::{Params, merge_metadata};

/// The Connect fields a payment intent carries from its parameters (or from Checkout's `payment_intent_data`).
pub fn apply_intent_params(
    st: &State,
    acct: &str,
    pi: &mut Value,
    p: &serde_json::Map<String, Value>,
    prefix: &str,
) -> Result<(), ApiError> {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}[{k}]")
        }
    };
    let amount = pi["amount"].as_i64().unwrap_or(0);
    if let Some(fee) = crate::params::value_i64(
        p.get("application_fee_amount"),
        &name("application_fee_amount"),
    )? {
        if acct == PLATFORM && p.get("transfer_data").is_none() {
            return Err(ApiError::invalid(
                &name("application_fee_amount"),
                "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment (using an OAuth key or Stripe-Account header) or destination payment (using `transfer_data[destination]`).",
            ));
        }
        if fee < 0 || fee > amount {
            return Err(ApiError::invalid(
                &name("application_fee_amount"),
                "The application fee amount must be between 0 and the amount of the PaymentIntent.",
            ));
        }
        pi["application_fee_amount"] = json!(fee);
    }
    if let Some(data) = p.get("transfer_data").and_then(Value::as_object) {
        if acct != PLATFORM {
            return Err(ApiError::invalid(
                &name("transfer_data"),
                "transfer_data cannot be used on a connected account (a destination charge is made by the platform).",
            ));
        }
        let destination = data
            .get("destination")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing(&format!("{}[destination]", name("transfer_data"))))?;
        transfer_destination(
            st,
            destination,
            &format!("{}[destination]", name("transfer_data")),
        )?;
        let mut td = json!({ "destination": destination, "amount": null });
        if let Some(a) = crate::params::value_i64(data.get("amount"), "transfer_data[amount]")? {
            if a < 0 || a > amount {
                return Err(ApiError::invalid(
                    &format!("{}[amount]", name("transfer_data")),
                    "The transfer amount must be between 0 and the amount of the PaymentIntent.",
                ));
            }
            td["amount"] = json!(a);
        }
        pi["transfer_data"] = td;
    }
    if let Some(obo) = p.get("on_behalf_of").and_then(Value::as_str) {
        transfer_destination(st, obo, &name("on_behalf_of"))?;
        pi["on_behalf_of"] = json!(obo);
    }
    if let Some(group) = p.get("transfer_group").and_then(Value::as_str) {
        pi["transfer_group"] = json!(group);
    }
    Ok(())
}

/// A connected account that can receive transfers, or Stripe's refusal naming `param`.
fn transfer_destination(st: &State, id: &str, param: &str) -> Result<Value, ApiError> {
    let account = st
        .get(PLATFORM, "account", id)
        .map_err(|_| ApiError::invalid_reference(param, id))?;
    if account["capabilities"]["transfers"] != "active" {
        return Err(ApiError::invalid(
            param,
            "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
        ));
    }
    Ok(account)
}

/// Books a succeeded charge on the balances it touches and returns it with its `balance_transaction`,
/// `application_fee` and `transfer` set. Called before the charge's events are emitted.
pub fn settle_charge(st: &mut State, acct: &str, pi: &Value, mut ch: Value) -> Value {
    let amount = ch["amount"].as_i64().unwrap_or(0);
    let currency = ch["currency"].as_str().unwrap_or("usd").to_owned();
    let created = ch["created"].as_i64().unwrap_or_else(|| st.now());
    let ch_id = ch["id"].as_str().unwrap_or_default().to_owned();
    let pending = !bypasses_pending(st, acct, &ch);
    let app_fee = pi["application_fee_amount"].as_i64().filter(|f| *f > 0);
    let stripe = Fee {
        kind: "stripe_fee",
        amount: balance::stripe_fee(amount),
        description: "Stripe processing fees",
    };
    ch["application_fee_amount"] = pi["application_fee_amount"].clone();
    ch["transfer_data"] = pi["transfer_data"].clone();
    ch["on_behalf_of"] = pi["on_behalf_of"].clone();
    ch["transfer_group"] = pi["transfer_group"].clone();
    let mut fees = vec![stripe];
    let direct_fee = app_fee.filter(|_| acct != PLATFORM);
    if let Some(fee) = direct_fee {
        fees.push(Fee {
            kind: "application_fee",
            amount: fee,
            description: "Application fee",
        });
    }
    let txn = balance::record(
        st,
        acct,
        Entry {
            kind: "charge",
            amount,
            currency: &currency,
            source: &ch_id,
            fees,
            description: ch["description"].as_str(),
            created,
            pending,
        },
    );
    ch["balance_transaction"] = json!(txn);
    if let Some(fee) = direct_fee {
        let fee_id = new_application_fee(st, acct, &ch_id, None, fee, &currency, created, pending);
        ch["application_fee"] = json!(fee_id);
    }
    if acct == PLATFORM
        && let Some(destination) = pi["transfer_data"]["destination"].as_str()
    {
        // With an application fee the whole amount goes over and the fee comes back; with
        // `transfer_data[amount]` only that amount goes over (https://docs.stripe.com/connect/destination-charges).
        let transferred = pi["transfer_data"]["amount"].as_i64().unwrap_or(amount);
        let destination = destination.to_owned();
        let (tr, py) = new_transfer(
            st,
            NewTransfer {
                amount: transferred,
                currency: &currency,
                destination: &destination,
                source_transaction: Some(&ch_id),
                transfer_group: pi["transfer_group"].as_str(),
                description: None,
                metadata: json!({}),
                created,
                pending,
                fee: app_fee,
            },
        );
        ch["transfer"] = json!(tr);
        if let Some(fee) = app_fee {
            let fee_id = new_application_fee(
                st,
                &destination,
                &py,
                Some(&ch_id),
                fee,
                &currency,
                created,
                pending,
            );
            ch["application_fee"] = json!(fee_id);
        }
    }
    st.put(acct, ch.clone());
    ch
}

/// Stripe's `4000 0000 0000 0077` card: the funds skip the pending balance.
fn bypasses_pending(st: &State, acct: &str, ch: &Value) -> bool {
    ch["payment_method"]
        .as_str()
        .and_then(|pm| st.find(acct, pm))
        .is_some_and(|pm| pm["card"]["last4"] == "0077")
}

/// An application fee collected from `acct`'s charge `charge` (on the platform, with its balance transaction).
#[allow(clippy::too_many_arguments)]
fn new_application_fee(
    st: &mut State,
    acct: &str,
    charge: &str,
    originating: Option<&str>,
    amount: i64,
    currency: &str,
    created: i64,
    pending: bool,
) -> String {
    let id = st.new_id("fee_");
    let txn = balance::record(
        st,
        PLATFORM,
        Entry {
            kind: "application_fee",
            amount,
            currency,
            source: &id,
            fees: Vec::new(),
            description: None,
            created,
            pending,
        },
    );
    let fee = json!({
        "id": id, "object": "application_fee", "account": acct, "amount": amount, "amount_refunded": 0,
        "application": account::APPLICATION, "balance_transaction": txn, "charge": charge, "created": created,
        "currency": currency, "fee_source": { "charge": charge, "type": "charge" }, "livemode": false,
        "originating_transaction": originating, "refunded": false,
        "refunds": { "object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/application_fees/{id}/refunds") },
    });
    st.put(PLATFORM, fee.clone());
    st.emit(PLATFORM, "application_fee.created", &fee, None);
    id
}

struct NewTransfer<'a> {
    amount: i64,
    currency: &'a str,
    destination: &'a str,
    source_transaction: Option<&'a str>,
    transfer_group: Option<&'a str>,
    description: Option<&'a str>,
    metadata: Value,
    created: i64,
    pending: bool,
    /// The application fee the destination pays out of this payment (destination charges).
    fee: Option<i64>,
}

/// A transfer from the platform to `destination`, with the payment (`py_…`) it creates there; returns both ids.
fn new_transfer(st: &mut State, t: NewTransfer<'_>) -> (String, String) {
    let id = st.new_id("tr_");
    let py = st.new_id("py_");
    let out = balance::record(
        st,
        PLATFORM,
        Entry {
            kind: "transfer",
            amount: -t.amount,
            currency: t.currency,
            source: &id,
            fees: Vec::new(),
            description: t.description,
            created: t.created,
            // A transfer paid from a charge still pending (a destination charge) leaves the platform when the
            // charge's funds do, not out of its available balance now
            // (https://docs.stripe.com/connect/separate-charges-and-transfers#transfer-availability).
            pending: t.pending,
        },
    );
    let fees = t
        .fee
        .map(|amount| Fee {
            kind: "application_fee",
            amount,
            description: "Application fee",
        })
        .into_iter()
        .collect();
    let incoming = balance::record(
        st,
        t.destination,
        Entry {
            kind: "payment",
            amount: t.amount,
            currency: t.currency,
            source: &py,
            fees,
            description: None,
            created: t.created,
            pending: t.pending,
        },
    );
    let mut payment = crate::ledger::template("charge");
    payment["id"] = json!(py);
    payment["amount"] = json!(t.amount);
    payment["amount_captured"] = json!(t.amount);
    payment["currency"] = json!(t.currency);
    payment["created"] = json!(t.created);
    payment["balance_transaction"] = json!(incoming);
    payment["source_transfer"] = json!(id);
    payment["status"] = json!("succeeded");
    payment["paid"] = json!(true);
    payment["captured"] = json!(true);
    payment["customer"] = Value::Null;
    payment["payment_intent"] = Value::Null;
    payment["payment_method"] = Value::Null;
    payment["metadata"] = json!({});
    payment["refunds"] = json!({ "object": "list", "data": [], "has_more": false, "url": format!("/v1/charges/{py}/refunds") });
    st.put(t.destination, payment);
    let transfer = json!({
        "id": id, "object": "transfer", "amount": t.amount, "amount_reversed": 0, "balance_transaction": out,
        "created": t.created, "currency": t.currency, "description": t.description, "destination": t.destination,
        "destination_payment": py, "livemode": false, "metadata": t.metadata, "reversed": false,
        "reversals": { "object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/transfers/{id}/reversals") },
        "source_transaction": t.source_transaction, "source_type": "card", "transfer_group": t.transfer_group,
    });
    st.put(PLATFORM, transfer.clone());
    st.emit(PLATFORM, "transfer.created", &transfer, None);
    (id, py)
}

/// `POST /v1/transfers`: separate charges and transfers. Without `source_transaction` the platform's
/// available balance must cover it, as at Stripe.
pub fn create(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    if acct != PLATFORM {
        return Err(ApiError::state(
            "Transfers can only be created by the platform.",
        ));
    }
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
    let destination = p.required_str("destination")?.to_owned();
    transfer_destination(st, &destination, "destination")?;
    let now = st.now();
    let source = p.str("source_transaction").map(str::to_owned);
    match &source {
        Some(ch_id) => {
            let ch = st
                .get(PLATFORM, "charge", ch_id)
                .map_err(|_| ApiError::invalid_reference("source_transaction", ch_id))?;
            if ch["status"] != "succeeded" || ch["currency"] != currency.as_str() {
                return Err(ApiError::invalid(
                    "source_transaction",
                    "The source_transaction must be a succeeded charge in the transfer's currency.",
                ));
            }
            let already: i64 = st
                .all(PLATFORM, "transfer")
                .iter()
                .filter(|t| t["source_transaction"] == ch_id.as_str())
                .map(|t| t["amount"].as_i64().unwrap_or(0))
                .sum();
            if already + amount > ch["amount"].as_i64().unwrap_or(0) {
                return Err(ApiError::invalid(
                    "amount",
                    "The transfer amount exceeds the unspent amount of the source_transaction.",
                ));
            }
        }
        None => {
            let available = balance::amounts(st, PLATFORM, now)
                .get(&currency)
                .map_or(0, |v| v.0);
            if available < amount {
                let mut e = ApiError::state(
                    "You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Charges using the 4000000000000077 test card.",
                );
                e.code = Some("balance_insufficient".into());
                return Err(e);
            }
        }
    }
    let mut metadata = json!({});
    merge_metadata(&mut metadata, p.object("metadata"));
    let (id, _) = new_transfer(
        st,
        NewTransfer {
            amount,
            currency: &currency,
            destination: &destination,
            source_transaction: source.as_deref(),
            transfer_group: p.str("transfer_group"),
            description: p.str("description"),
            metadata,
            created: now,
            pending: false,
            fee: None,
        },
    );
    st.get(PLATFORM, "transfer", &id)
}

pub fn list(st: &State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let destination = p.str("destination").map(str::to_owned);
    let group = p.str("transfer_group").map(str::to_owned);
    st.list(acct, "transfer", p, "/v1/transfers", |t| {
        destination.as_deref().is_none_or(|d| t["destination"] == d)
            && group.as_deref().is_none_or(|g| t["transfer_group"] == g)
    })
}

/// `POST /v1/transfers/{id}/reversals`: the rest of the transfer unless `amount` says less.
pub fn create_reversal(
    st: &mut State,
    acct: &str,
    id: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    let tr = st.get(acct, "transfer", id)?;
    let remaining =
        tr["amount"].as_i64().unwrap_or(0) - tr["amount_reversed"].as_i64().unwrap_or(0);
    let amount = p.i64("amount")?.unwrap_or(remaining);
    if amount < 1 || amount > remaining {
        return Err(ApiError::invalid(
            "amount",
            format!(
                "Reversal amount ({amount}) is greater than the transfer's unreversed amount ({remaining})."
            ),
        ));
    }
    let mut metadata = json!({});
    merge_metadata(&mut metadata, p.object("metadata"));
    reverse(st, id, amount, None, metadata)
}

/// Takes `amount` of transfer `id` back from its destination, with `transfer.reversed`.
fn reverse(
    st: &mut State,
    id: &str,
    amount: i64,
    source_refund: Option<&str>,
    metadata: Value,
) -> Result<Value, ApiError> {
    let mut tr = st.get(PLATFORM, "transfer", id)?;
    let before = tr.clone();
    let currency = tr["currency"].as_str().unwrap_or("usd").to_owned();
    let destination = tr["destination"].as_str().unwrap_or_default().to_owned();
    let py = tr["destination_payment"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let now = st.now();
    let trr = st.new_id("trr_");
    let back = balance::record(
        st,
        PLATFORM,
        Entry {
            kind: "transfer_refund",
            amount,
            currency: &currency,
            source: &trr,
            fees: Vec::new(),
            description: None,
            created: now,
            pending: false,
        },
    );
    let pyr = st.new_id("pyr_");
    balance::record(
        st,
        &destination,
        Entry::settled("payment_refund", -amount, &currency, &pyr, now),
    );
    let reversal = json!({
        "id": trr, "object": "transfer_reversal", "amount": amount, "balance_transaction": back, "created": now,
        "currency": currency, "destination_payment_refund": pyr, "metadata": metadata,
        "source_refund": source_refund, "transfer": id,
    });
    st.put(PLATFORM, reversal.clone());
    let reversed = tr["amount_reversed"].as_i64().unwrap_or(0) + amount;
    tr["amount_reversed"] = json!(reversed);
    tr["reversed"] = json!(reversed == tr["amount"].as_i64().unwrap_or(0));
    if let Some(data) = tr["reversals"]["data"].as_array_mut() {
        data.insert(0, reversal.clone());
    }
    tr["reversals"]["total_count"] = json!(tr["reversals"]["data"].as_array().map_or(0, Vec::len));
    st.put(PLATFORM, tr.clone());
    if !py.is_empty()
        && let Some(mut payment) = st.find(&destination, &py).cloned()
    {
        payment["amount_refunded"] = json!(reversed);
        payment["refunded"] = tr["reversed"].clone();
        st.put(&destination, payment);
    }
    let previous = json!({ "amount_reversed": before["amount_reversed"], "reversed": before["reversed"], "reversals": before["reversals"] });
    st.emit(PLATFORM, "transfer.reversed", &tr, Some(previous));
    Ok(reversal)
}

pub fn list_reversals(st: &State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    st.get(acct, "transfer", id)?;
    st.list(
        acct,
        "transfer_reversal",
        p,
        &format!("/v1/transfers/{id}/reversals"),
        |r| r["transfer"] == id,
    )
}

pub fn list_fees(st: &State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let charge = p.str("charge").map(str::to_owned);
    st.list(acct, "application_fee", p, "/v1/application_fees", |f| {
        charge.as_deref().is_none_or(|c| f["charge"] == c)
    })
}

/// `POST /v1/application_fees/{id}/refunds`: gives (part of) the fee back to the account that paid it.
pub fn refund_fee(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let fee = st.get(acct, "application_fee", id)?;
    let remaining =
        fee["amount"].as_i64().unwrap_or(0) - fee["amount_refunded"].as_i64().unwrap_or(0);
    let amount = p.i64("amount")?.unwrap_or(remaining);
    if amount < 1 || amount > remaining {
        return Err(ApiError::invalid(
            "amount",
            format!(
                "Refund amount ({amount}) is greater than the unrefunded amount of the application fee ({remaining})."
            ),
        ));
    }
    let mut metadata = json!({});
    merge_metadata(&mut metadata, p.object("metadata"));
    give_back_fee(st, id, amount, metadata)
}

fn give_back_fee(
    st: &mut State,
    id: &str,
    amount: i64,
    metadata: Value,
) -> Result<Value, ApiError> {
    let mut fee = st.get(PLATFORM, "application_fee", id)?;
    let before = fee.clone();
    let currency = fee["currency"].as_str().unwrap_or("usd").to_owned();
    let payer = fee["account"].as_str().unwrap_or_default().to_owned();
    let now = st.now();
    let fr = st.new_id("fr_");
    let txn = balance::record(
        st,
        PLATFORM,
        Entry::settled("application_fee_refund", -amount, &currency, &fr, now),
    );
    balance::record(
        st,
        &payer,
        Entry {
            kind: "application_fee_refund",
            amount,
            currency: &currency,
            source: &fr,
            fees: Vec::new(),
            description: None,
            created: now,
            pending: false,
        },
    );
    let refund = json!({
        "id": fr, "object": "fee_refund", "amount": amount, "balance_transaction": txn, "created": now,
        "currency": currency, "fee": id, "metadata": metadata,
    });
    st.put(PLATFORM, refund.clone());
    let refunded = fee["amount_refunded"].as_i64().unwrap_or(0) + amount;
    fee["amount_refunded"] = json!(refunded);
    fee["refunded"] = json!(refunded == fee["amount"].as_i64().unwrap_or(0));
    if let Some(data) = fee["refunds"]["data"].as_array_mut() {
        data.insert(0, refund.clone());
    }
    fee["refunds"]["total_count"] = json!(fee["refunds"]["data"].as_array().map_or(0, Vec::len));
    st.put(PLATFORM, fee.clone());
    let previous = json!({ "amount_refunded": before["amount_refunded"], "refunded": before["refunded"], "refunds": before["refunds"] });
    st.emit(PLATFORM, "application_fee.refunded", &fee, Some(previous));
    Ok(refund)
}

pub fn list_fee_refunds(st: &State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    st.get(acct, "application_fee", id)?;
    st.list(
        acct,
        "fee_refund",
        p,
        &format!("/v1/application_fees/{id}/refunds"),
        |r| r["fee"] == id,
    )
}

/// What a refund of `amount` of charge `ch` on `acct` books: the refund on the charge's balance, and, when
/// asked, the proportional part of its application fee and of its transfer. Returns the refund's balance
/// transaction.
pub fn settle_refund(
    st: &mut State,
    acct: &str,
    ch: &Value,
    refund_id: &str,
    amount: i64,
    p: &Params,
) -> Result<String, ApiError> {
    let refund_fee = p.bool("refund_application_fee")?.unwrap_or(false);
    let reverse_transfer = p.bool("reverse_transfer")?.unwrap_or(false);
    let transfer = ch["transfer"].as_str().map(str::to_owned);
    if reverse_transfer && transfer.is_none() {
        return Err(ApiError::invalid(
            "reverse_transfer",
            "reverse_transfer can only be used when refunding a destination charge (one with transfer_data).",
        ));
    }
    let charged = ch["amount"].as_i64().unwrap_or(0).max(1);
    let currency = ch["currency"].as_str().unwrap_or("usd").to_owned();
    let now = st.now();
    let txn = balance::record(
        st,
        acct,
        Entry::settled("refund", -amount, &currency, refund_id, now),
    );
    if refund_fee && let Some(fee_id) = ch["application_fee"].as_str() {
        let fee = st.get(PLATFORM, "application_fee", fee_id)?;
        let left =
            fee["amount"].as_i64().unwrap_or(0) - fee["amount_refunded"].as_i64().unwrap_or(0);
        let share = (fee["amount"].as_i64().unwrap_or(0) * amount / charged).min(left);
        if share > 0 {
            give_back_fee(st, fee_id, share, json!({}))?;
        }
    }
    if reverse_transfer && let Some(tr_id) = transfer {
        let tr = st.get(PLATFORM, "transfer", &tr_id)?;
        let left = tr["amount"].as_i64().unwrap_or(0) - tr["amount_reversed"].as_i64().unwrap_or(0);
        let share = (tr["amount"].as_i64().unwrap_or(0) * amount / charged).min(left);
        if share > 0 {
            reverse(st, &tr_id, share, Some(refund_id), json!({}))?;
        }
    }
    Ok(txn)
}

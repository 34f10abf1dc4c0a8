//! Balances: Stripe's processing fee (one rule, here), balance transactions per account, `GET /v1/balance`, and
//! the automatic daily payout of what is available.
//!
//! Every movement of money on an account is one balance transaction; the balance is their sum, split into
//! available and pending by `available_on`. Nothing else holds an account's money, so the two cannot disagree.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::ledger::State;
use crate::params::Params;

/// Card funds become available two days after the charge (Stripe's default US schedule in test mode).
pub const PENDING_SECONDS: i64 = 2 * 86_400;

/// Stripe's card processing fee as the emulator models it: 2.9% of the amount, rounded half up, plus 30 minor
/// units, in the charge's currency (<https://stripe.com/pricing>). A $100.00 charge costs $3.20.
pub fn stripe_fee(amount: i64) -> i64 {
    (amount * 29 + 500) / 1000 + 30
}

/// One line of a balance transaction's `fee_details`.
pub struct Fee {
    pub kind: &'static str,
    pub amount: i64,
    pub description: &'static str,
}

/// What moves on an account's balance.
pub struct Entry<'a> {
    pub kind: &'static str,
    pub amount: i64,
    pub currency: &'a str,
    pub source: &'a str,
    pub fees: Vec<Fee>,
    pub description: Option<&'a str>,
    pub created: i64,
    /// Whether the funds wait `PENDING_SECONDS` before they are available.
    pub pending: bool,
}

impl<'a> Entry<'a> {
    /// A movement available at once and without fees: refunds, reversals, transfers, payouts.
    pub fn settled(
        kind: &'static str,
        amount: i64,
        currency: &'a str,
        source: &'a str,
        created: i64,
    ) -> Self {
        Entry {
            kind,
            amount,
            currency,
            source,
            fees: Vec::new(),
            description: None,
            created,
            pending: false,
        }
    }
}

/// Records a balance transaction on `acct`; returns its id.
pub fn record(st: &mut State, acct: &str, entry: Entry<'_>) -> String {
    let id = st.new_id("txn_");
    let fee: i64 = entry.fees.iter().map(|f| f.amount).sum();
    let available_on = entry.created + if entry.pending { PENDING_SECONDS } else { 0 };
    let fee_details: Vec<Value> = entry
        .fees
        .iter()
        .map(|f| {
            let application = (f.kind == "application_fee").then_some(crate::account::APPLICATION);
            json!({ "amount": f.amount, "application": application, "currency": entry.currency, "description": f.description, "type": f.kind })
        })
        .collect();
    let txn = json!({
        "id": id, "object": "balance_transaction", "amount": entry.amount, "available_on": available_on,
        "balance_type": "payments", "created": entry.created, "currency": entry.currency,
        "description": entry.description, "exchange_rate": null, "fee": fee, "fee_details": fee_details,
        "net": entry.amount - fee, "reporting_category": reporting_category(entry.kind), "source": entry.source,
        "status": if entry.pending { "pending" } else { "available" }, "type": entry.kind,
    });
    st.put(acct, txn);
    id
}

fn reporting_category(kind: &str) -> &str {
    match kind {
        "payment" => "charge",
        "payment_refund" => "refund",
        "application_fee_refund" => "fee",
        "transfer_refund" => "transfer_reversal",
        "payout_failure" => "payout_reversal",
        other => other,
    }
}

/// A balance transaction as of `now` (its `status` follows `available_on`).
fn as_of(mut txn: Value, now: i64) -> Value {
    if txn["available_on"].as_i64().unwrap_or(0) <= now {
        txn["status"] = json!("available");
    }
    txn
}

/// Available and pending amounts per currency on `acct` at `now`.
pub fn amounts(st: &State, acct: &str, now: i64) -> BTreeMap<String, (i64, i64)> {
    let mut by_currency: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for txn in st.all(acct, "balance_transaction") {
        let currency = txn["currency"].as_str().unwrap_or("usd").to_owned();
        let net = txn["net"].as_i64().unwrap_or(0);
        let slot = by_currency.entry(currency).or_default();
        if txn["available_on"].as_i64().unwrap_or(0) <= now {
            slot.0 += net;
        } else {
            slot.1 += net;
        }
    }
    by_currency
}

pub fn retrieve(st: &State, acct: &str) -> Value {
    let now = st.now();
    let mut by_currency = amounts(st, acct, now);
    if by_currency.is_empty() {
        by_currency.insert("usd".to_owned(), (0, 0));
    }
    let side = |pick: fn(&(i64, i64)) -> i64| -> Vec<Value> {
        by_currency
            .iter()
            .map(|(c, v)| json!({ "amount": pick(v), "currency": c, "source_types": { "card": pick(v) } }))
            .collect()
    };
    let reserved: Vec<Value> = by_currency
        .keys()
        .map(|c| json!({ "amount": 0, "currency": c }))
        .collect();
    json!({
        "object": "balance", "livemode": false, "available": side(|v| v.0), "pending": side(|v| v.1),
        "connect_reserved": reserved,
    })
}

pub fn list_transactions(st: &State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let kind = p.str("type").map(str::to_owned);
    let source = p.str("source").map(str::to_owned);
    let mut list = st.list(
        acct,
        "balance_transaction",
        p,
        "/v1/balance_transactions",
        |t| {
            kind.as_deref().is_none_or(|k| t["type"] == k)
                && source.as_deref().is_none_or(|s| t["source"] == s)
        },
    )?;
    let now = st.now();
    if let Some(data) = list["data"].as_array_mut() {
        for t in data.iter_mut() {
            *t = as_of(t.take(), now);
        }
    }
    Ok(list)
}

pub fn retrieve_transaction(st: &State, acct: &str, id: &str) -> Result<Value, ApiError> {
    Ok(as_of(st.get(acct, "balance_transaction", id)?, st.now()))
}

/// The automatic daily payout: everything available on `acct` at `now` goes to its bank account, with
/// `payout.created` then `payout.paid` (or `payout.failed` and the money back, when the knob is set).
pub fn pay_out(st: &mut State, acct: &str, now: i64) -> Result<(), ApiError> {
    let account = crate::account::get(st, acct)?;
    if account["payouts_enabled"] != true {
        return Ok(());
    }
    let destination = account["external_accounts"]["data"][0]["id"].clone();
    let fails = st.connect.failing_payouts.iter().any(|a| a == acct);
    for (currency, (available, _)) in amounts(st, acct, now) {
        if available <= 0 {
            continue;
        }
        let id = st.new_id("po_");
        let txn = record(
            st,
            acct,
            Entry {
                kind: "payout",
                amount: -available,
                currency: &currency,
                source: &id,
                fees: Vec::new(),
                description: Some("STRIPE PAYOUT"),
                created: now,
                pending: false,
            },
        );
        let mut payout = json!({
            "id": id, "object": "payout", "amount": available, "application_fee": null, "application_fee_amount": null,
            "arrival_date": now + 86_400, "automatic": true, "balance_transaction": txn, "created": now,
            "currency": currency, "description": "STRIPE PAYOUT", "destination": destination,
            "failure_balance_transaction": null, "failure_code": null, "failure_message": null, "livemode": false,
            "metadata": {}, "method": "standard", "original_payout": null, "payout_method": null,
            "reconciliation_status": "not_applicable", "reversed_by": null, "source_type": "card",
            "statement_descriptor": null, "status": "pending", "trace_id": { "status": "pending", "value": null },
            "type": "bank_account",
        });
        st.put(acct, payout.clone());
        st.emit(acct, "payout.created", &payout, None);
        if fails {
            let back = record(
                st,
                acct,
                Entry {
                    kind: "payout_failure",
                    amount: available,
                    currency: &currency,
                    source: &id,
                    fees: Vec::new(),
                    description: Some("Payout failure"),
                    created: now,
                    pending: false,
                },
            );
            payout["status"] = json!("failed");
            payout["failure_balance_transaction"] = json!(back);
            payout["failure_code"] = json!("account_closed");
            payout["failure_message"] = json!("The bank account has been closed.");
            st.put(acct, payout.clone());
            st.emit(
                acct,
                "payout.failed",
                &payout,
                Some(json!({ "status": "pending" })),
            );
        } else {
            payout["status"] = json!("paid");
            payout["reconciliation_status"] = json!("completed");
            payout["trace_id"] = json!({ "status": "supported", "value": st.new_id("TRACE") });
            st.put(acct, payout.clone());
            st.emit(
                acct,
                "payout.paid",
                &payout,
                Some(json!({ "status": "pending" })),
            );
        }
    }
    Ok(())
}

pub fn list_payouts(st: &State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let status = p.str("status").map(str::to_owned);
    st.list(acct, "payout", p, "/v1/payouts", |x| {
        status.as_deref().is_none_or(|s| x["status"] == s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hundred_dollar_charge_costs_three_dollars_twenty() {
        assert_eq!(stripe_fee(10_000), 320);
        assert_eq!(stripe_fee(1_000), 59);
        // 2.9% of 50 is 1.45, rounded half up to 1.
        assert_eq!(stripe_fee(50), 31);
    }
}

//! Test clocks: customers created on a clock live in its time; advancing it runs every renewal, retry, trial end
//! and expiry that falls due, each at its own moment, in time order.

use serde_json::{Value, json};

use crate::api::Ctx;
use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::Params;
use crate::subscription;

pub fn create(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let frozen = p
        .i64("frozen_time")?
        .ok_or_else(|| ApiError::missing("frozen_time"))?;
    let mut clock = template("test_helpers.test_clock");
    clock["id"] = json!(st.new_id("clock_"));
    clock["created"] = json!(st.now());
    clock["frozen_time"] = json!(frozen);
    clock["deletes_after"] = json!(frozen + 30 * 86_400);
    clock["name"] = json!(p.str("name"));
    clock["status"] = json!("ready");
    st.put(acct, clock.clone());
    st.emit(acct, "test_helpers.test_clock.created", &clock, None);
    Ok(clock)
}

pub fn delete(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let clock = st.get(acct, "test_helpers.test_clock", id)?;
    st.remove(acct, "test_helpers.test_clock", id);
    st.emit(acct, "test_helpers.test_clock.deleted", &clock, None);
    Ok(json!({ "id": id, "object": "test_helpers.test_clock", "deleted": true }))
}

/// Moves the clock to `frozen_time`, stopping at each moment something is due.
pub fn advance(st: &mut State, ctx: &Ctx<'_>, id: &str, p: &Params) -> Result<Value, ApiError> {
    let acct = ctx.acct;
    let mut clock = st.get(acct, "test_helpers.test_clock", id)?;
    let target = p
        .i64("frozen_time")?
        .ok_or_else(|| ApiError::missing("frozen_time"))?;
    let current = clock["frozen_time"].as_i64().unwrap_or(0);
    if target <= current {
        return Err(ApiError::invalid(
            "frozen_time",
            "The test clock can only be advanced to a time after its current frozen_time.",
        ));
    }
    clock["status"] = json!("advancing");
    clock["status_details"] = json!({ "advancing": { "target_frozen_time": target } });
    st.put(acct, clock.clone());
    st.emit(acct, "test_helpers.test_clock.advancing", &clock, None);
    let customers: Vec<String> = st
        .all(acct, "customer")
        .into_iter()
        .filter(|c| c["test_clock"] == id)
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    // Bounded so that a bug in a due computation can never hang a request.
    for _ in 0..10_000 {
        let subs: Vec<String> = st
            .all(acct, "subscription")
            .into_iter()
            .filter(|s| {
                s["customer"]
                    .as_str()
                    .is_some_and(|c| customers.iter().any(|x| x == c))
            })
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect();
        let next = subs
            .iter()
            .filter_map(|s| subscription::next_due(st, acct, s).map(|t| (t, s.clone())))
            .filter(|(t, _)| *t <= target)
            .min();
        let Some((at, sub)) = next else { break };
        let at = at.max(current);
        set_time(st, acct, id, at)?;
        subscription::run_due(st, acct, &sub, at)?;
    }
    set_time(st, acct, id, target)?;
    let sessions: Vec<String> = st
        .all(acct, "checkout.session")
        .into_iter()
        .filter(|s| {
            s["status"] == "open"
                && s["customer"]
                    .as_str()
                    .is_some_and(|c| customers.iter().any(|x| x == c))
        })
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    for s in sessions {
        crate::checkout::expire_if_due(st, acct, &s)?;
    }
    // Verification left pending at onboarding finishes with time passing, and a connected account's
    // available balance goes out in its daily automatic payout.
    crate::account::verify_pending(st)?;
    if acct != crate::ledger::PLATFORM {
        // Charges outside the clock live in the emulator's time; whichever is later has passed.
        let now = target.max(st.now());
        crate::balance::pay_out(st, acct, now)?;
    }
    let mut clock = st.get(acct, "test_helpers.test_clock", id)?;
    clock["status"] = json!("ready");
    clock["status_details"] = json!({});
    st.put(acct, clock.clone());
    st.emit(acct, "test_helpers.test_clock.ready", &clock, None);
    Ok(clock)
}

fn set_time(st: &mut State, acct: &str, id: &str, at: i64) -> Result<(), ApiError> {
    let mut clock = st.get(acct, "test_helpers.test_clock", id)?;
    clock["frozen_time"] = json!(at);
    st.put(acct, clock);
    Ok(())
}

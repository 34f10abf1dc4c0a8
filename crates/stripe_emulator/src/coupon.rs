//! Coupons and promotion codes: percent or amount off, `once`/`repeating`/`forever`, redemption limits, expiry.

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::{Params, merge_metadata};

pub fn create_coupon(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let percent = match p.str("percent_off") {
        Some(s) => Some(
            s.parse::<f64>()
                .map_err(|_| ApiError::invalid("percent_off", "Invalid decimal"))?,
        ),
        None => None,
    };
    let amount = p.i64("amount_off")?;
    if percent.is_some() == amount.is_some() {
        return Err(ApiError::invalid(
            "percent_off",
            "You must pass exactly one of percent_off or amount_off.",
        ));
    }
    if let Some(pct) = percent
        && !(pct > 0.0 && pct <= 100.0)
    {
        return Err(ApiError::invalid(
            "percent_off",
            "percent_off must be between 0 and 100.",
        ));
    }
    let currency = p.str("currency").map(str::to_lowercase);
    if amount.is_some() && currency.is_none() {
        return Err(ApiError::missing("currency"));
    }
    let duration = p.str("duration").unwrap_or("once");
    if !["once", "repeating", "forever"].contains(&duration) {
        return Err(ApiError::invalid(
            "duration",
            "duration must be one of once, repeating or forever.",
        ));
    }
    let months = p.i64("duration_in_months")?;
    if duration == "repeating" && months.is_none() {
        return Err(ApiError::missing("duration_in_months"));
    }
    let id = match p.str("id") {
        Some(id) if st.find(acct, id).is_some() => {
            return Err(ApiError::invalid("id", "Coupon already exists."));
        }
        Some(id) => id.to_owned(),
        None => st.new_id("")[..8].to_owned(),
    };
    let mut c = template("coupon");
    c["id"] = json!(id);
    c["created"] = json!(st.now());
    c["percent_off"] = json!(percent);
    c["amount_off"] = json!(amount);
    c["currency"] = json!(currency);
    c["duration"] = json!(duration);
    c["duration_in_months"] = json!(months);
    c["max_redemptions"] = json!(p.i64("max_redemptions")?);
    c["redeem_by"] = json!(p.i64("redeem_by")?);
    c["name"] = json!(p.str("name"));
    c["metadata"] = json!({});
    merge_metadata(&mut c["metadata"], p.object("metadata"));
    st.put(acct, c.clone());
    st.emit(acct, "coupon.created", &c, None);
    Ok(c)
}

pub fn delete_coupon(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let c = st.get(acct, "coupon", id)?;
    st.remove(acct, "coupon", id);
    st.emit(acct, "coupon.deleted", &c, None);
    Ok(json!({ "id": id, "object": "coupon", "deleted": true }))
}

pub fn create_promotion_code(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    // API 2025-09-30 moved the coupon under `promotion[coupon]`; older clients send `coupon`.
    let coupon_id = p
        .object("promotion")
        .and_then(|pr| pr.get("coupon"))
        .and_then(Value::as_str)
        .or(p.str("coupon"))
        .ok_or_else(|| ApiError::missing("promotion[coupon]"))?
        .to_owned();
    st.get(acct, "coupon", &coupon_id)?;
    let id = st.new_id("promo_");
    let code = match p.str("code") {
        Some(code) => code.to_owned(),
        None => st.new_id("")[..8].to_uppercase(),
    };
    if st
        .all(acct, "promotion_code")
        .iter()
        .any(|x| x["code"] == code.as_str() && x["active"] == true)
    {
        return Err(ApiError::invalid(
            "code",
            "An active promotion code with that code already exists.",
        ));
    }
    let mut pc = template("promotion_code");
    pc["id"] = json!(id);
    pc["code"] = json!(code);
    pc["created"] = json!(st.now());
    pc["promotion"] = json!({ "type": "coupon", "coupon": coupon_id });
    pc["active"] = json!(p.bool("active")?.unwrap_or(true));
    pc["customer"] = json!(p.str("customer"));
    pc["expires_at"] = json!(p.i64("expires_at")?);
    pc["max_redemptions"] = json!(p.i64("max_redemptions")?);
    pc["metadata"] = json!({});
    merge_metadata(&mut pc["metadata"], p.object("metadata"));
    st.put(acct, pc.clone());
    st.emit(acct, "promotion_code.created", &pc, None);
    Ok(pc)
}

pub fn update_promotion_code(
    st: &mut State,
    acct: &str,
    id: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut pc = st.get(acct, "promotion_code", id)?;
    if let Some(active) = p.bool("active")? {
        pc["active"] = json!(active);
    }
    merge_metadata(&mut pc["metadata"], p.object("metadata"));
    st.put(acct, pc.clone());
    st.emit(acct, "promotion_code.updated", &pc, None);
    Ok(pc)
}

pub fn list_promotion_codes(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let code = p.str("code").map(str::to_owned);
    let active = p.bool("active")?;
    st.list(acct, "promotion_code", p, "/v1/promotion_codes", |x| {
        code.as_deref().is_none_or(|c| x["code"] == c) && active.is_none_or(|a| x["active"] == a)
    })
}

/// Checks that a coupon can still be redeemed at `now`.
fn usable_coupon(coupon: &Value, now: i64) -> bool {
    let under_limit = coupon["max_redemptions"]
        .as_i64()
        .is_none_or(|m| coupon["times_redeemed"].as_i64().unwrap_or(0) < m);
    let in_time = coupon["redeem_by"].as_i64().is_none_or(|t| now < t);
    under_limit && in_time
}

/// Finds an active promotion code by its customer-facing code; returns (coupon id, promotion code id).
pub fn lookup_code(
    st: &State,
    acct: &str,
    code: &str,
    now: i64,
) -> Result<(String, String), ApiError> {
    let invalid = || ApiError::invalid("promotion_code", "This code is invalid.");
    let pc = st
        .all(acct, "promotion_code")
        .into_iter()
        .find(|x| {
            x["code"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(code.trim()))
        })
        .ok_or_else(invalid)?;
    check_promotion(st, acct, &pc, now)
}

fn check_promotion(
    st: &State,
    acct: &str,
    pc: &Value,
    now: i64,
) -> Result<(String, String), ApiError> {
    let invalid = || ApiError::invalid("promotion_code", "This code is invalid.");
    let active = pc["active"] == true
        && pc["expires_at"].as_i64().is_none_or(|t| now < t)
        && pc["max_redemptions"]
            .as_i64()
            .is_none_or(|m| pc["times_redeemed"].as_i64().unwrap_or(0) < m);
    let coupon_id = pc["promotion"]["coupon"].as_str().ok_or_else(invalid)?;
    let coupon = st.find(acct, coupon_id).ok_or_else(invalid)?;
    if !active || !usable_coupon(coupon, now) {
        return Err(invalid());
    }
    Ok((
        coupon_id.to_owned(),
        pc["id"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// `discounts[0][coupon]` / `discounts[0][promotion_code]` (or the older `coupon` / `promotion_code`).
pub fn from_params(
    st: &State,
    acct: &str,
    p: &Params,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let first = p.array("discounts").into_iter().next();
    let coupon = first
        .as_ref()
        .and_then(|d| d["coupon"].as_str().map(str::to_owned))
        .or(p.str("coupon").map(str::to_owned));
    let promo = first
        .as_ref()
        .and_then(|d| d["promotion_code"].as_str().map(str::to_owned))
        .or(p.str("promotion_code").map(str::to_owned));
    let now = st.now();
    if let Some(promo) = promo {
        let pc = st.get(acct, "promotion_code", &promo)?;
        let (coupon, promo) = check_promotion(st, acct, &pc, now)?;
        return Ok((Some(coupon), Some(promo)));
    }
    if let Some(coupon) = coupon {
        let c = st.get(acct, "coupon", &coupon)?;
        if !usable_coupon(&c, now) {
            return Err(ApiError::invalid(
                "coupon",
                format!("Coupon {coupon} is no longer valid."),
            ));
        }
        return Ok((Some(coupon), None));
    }
    Ok((None, None))
}

/// How much a coupon takes off `subtotal` (never more than the subtotal).
pub fn discount_amount(coupon: &Value, subtotal: i64) -> i64 {
    let off = if let Some(amount) = coupon["amount_off"].as_i64() {
        amount
    } else {
        // Percentages are decimals in Stripe; rounding half up to the minor unit, in integers.
        let basis_points = (coupon["percent_off"].as_f64().unwrap_or(0.0) * 100.0).round() as i128;
        ((subtotal as i128 * basis_points + 5_000) / 10_000) as i64
    };
    off.clamp(0, subtotal)
}

/// How many invoices a coupon discounts: `Some(1)` once, `Some(n)` repeating (monthly), `None` forever.
pub fn invoices_covered(coupon: &Value) -> Option<i64> {
    match coupon["duration"].as_str() {
        Some("forever") => None,
        Some("repeating") => Some(coupon["duration_in_months"].as_i64().unwrap_or(1)),
        _ => Some(1),
    }
}

/// Counts a redemption and returns the discount object attached to a subscription or session.
pub fn new_discount(
    st: &mut State,
    acct: &str,
    coupon_id: &str,
    promo: Option<&str>,
    subscription: &str,
    now: i64,
) -> Result<Value, ApiError> {
    redeem(st, acct, coupon_id, promo)?;
    let coupon = st.get(acct, "coupon", coupon_id)?;
    let id = st.new_id("di_");
    let mut d = template("discount");
    d["id"] = json!(id);
    d["start"] = json!(now);
    d["end"] = match coupon["duration"].as_str() {
        Some("repeating") => json!(crate::subscription::add_interval(
            now,
            "month",
            1,
            coupon["duration_in_months"].as_i64().unwrap_or(1)
        )),
        _ => Value::Null,
    };
    d["customer"] = Value::Null;
    d["subscription"] = json!(subscription);
    d["promotion_code"] = json!(promo);
    d["source"] = json!({ "type": "coupon", "coupon": coupon_id });
    st.put(acct, d.clone());
    Ok(d)
}

fn redeem(
    st: &mut State,
    acct: &str,
    coupon_id: &str,
    promo: Option<&str>,
) -> Result<(), ApiError> {
    let mut coupon = st.get(acct, "coupon", coupon_id)?;
    let times = coupon["times_redeemed"].as_i64().unwrap_or(0) + 1;
    coupon["times_redeemed"] = json!(times);
    if coupon["max_redemptions"]
        .as_i64()
        .is_some_and(|m| times >= m)
    {
        coupon["valid"] = json!(false);
    }
    st.put(acct, coupon);
    if let Some(promo) = promo {
        let mut pc = st.get(acct, "promotion_code", promo)?;
        pc["times_redeemed"] = json!(pc["times_redeemed"].as_i64().unwrap_or(0) + 1);
        st.put(acct, pc);
    }
    Ok(())
}

/// Redemption for a one-time payment (no subscription to hang a discount on).
pub fn redeem_once(
    st: &mut State,
    acct: &str,
    coupon_id: &str,
    promo: Option<&str>,
) -> Result<(), ApiError> {
    redeem(st, acct, coupon_id, promo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_off_rounds_half_up_in_integer_minor_units() {
        assert_eq!(discount_amount(&json!({ "percent_off": 25.5 }), 1999), 510);
        assert_eq!(discount_amount(&json!({ "percent_off": 50 }), 1), 1);
    }

    #[test]
    fn amount_off_never_exceeds_the_subtotal() {
        assert_eq!(discount_amount(&json!({ "amount_off": 5000 }), 2000), 2000);
    }
}

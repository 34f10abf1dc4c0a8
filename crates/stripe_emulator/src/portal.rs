//! Billing portal sessions and what a customer can do on the portal page: cancel, resume, switch plan, change card.

use serde_json::{Value, json};

use crate::api::Ctx;
use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::Params;
use crate::payment;

pub fn create(st: &mut State, ctx: &Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let customer = p.required_str("customer")?;
    st.get(ctx.acct, "customer", customer)?;
    let id = st.new_id("bps_");
    let mut s = template("billing_portal.session");
    s["id"] = json!(id);
    s["customer"] = json!(customer);
    s["created"] = json!(st.now());
    s["return_url"] = json!(p.str("return_url"));
    s["locale"] = json!(p.str("locale"));
    s["url"] = json!(format!("{}/portal/{id}", ctx.base_url));
    st.put(ctx.acct, s.clone());
    Ok(s)
}

/// One action from the portal page's forms.
pub fn act(st: &mut State, acct: &str, session: &str, form: &Params) -> Result<String, ApiError> {
    let s = st.get(acct, "billing_portal.session", session)?;
    let customer = s["customer"].as_str().unwrap_or_default().to_owned();
    let ctx = Ctx { acct, base_url: "" };
    let action = form.required_str("action")?;
    if action == "update_card" {
        let number = form.required_str("card_number")?;
        let behaviour = payment::card_number(number).ok_or_else(|| {
            ApiError::card("incorrect_number", None, "Your card number is incorrect.")
        })?;
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let pm = payment::new_card(
            st,
            acct,
            behaviour,
            &digits[digits.len().saturating_sub(4)..],
            Some(&customer),
        );
        let mut up = Params::default();
        up.0.insert(
            "invoice_settings".into(),
            json!({ "default_payment_method": pm }),
        );
        crate::customer::update(st, acct, &customer, &up)?;
        return Ok("Your payment method was updated.".into());
    }
    let sub_id = form.required_str("subscription")?;
    let sub = st.get(acct, "subscription", sub_id)?;
    if sub["customer"] != customer.as_str() {
        return Err(ApiError::not_found("subscription", sub_id));
    }
    let mut p = Params::default();
    let message = match action {
        "cancel_now" => {
            crate::subscription::cancel_now(st, acct, sub_id, "cancellation_requested")?;
            "Your subscription was canceled."
        }
        "cancel_at_period_end" => {
            p.0.insert("cancel_at_period_end".into(), json!("true"));
            crate::subscription::update(st, &ctx, sub_id, &p)?;
            "Your subscription will end at the end of the period."
        }
        "resume" => {
            crate::subscription::resume(st, &ctx, sub_id)?;
            "Your subscription was renewed."
        }
        "switch" => {
            let price = form.required_str("price")?;
            p.0.insert(
                "items".into(),
                json!([{ "id": sub["items"]["data"][0]["id"], "price": price }]),
            );
            p.0.insert("proration_behavior".into(), json!("create_prorations"));
            crate::subscription::update(st, &ctx, sub_id, &p)?;
            "Your plan was changed."
        }
        other => {
            return Err(ApiError::invalid(
                "action",
                format!("Unknown action {other}"),
            ));
        }
    };
    Ok(message.into())
}

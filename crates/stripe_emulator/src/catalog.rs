//! Products and prices: one-time and recurring, `lookup_key` (unique, with `transfer_lookup_key`), list filters.

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::{Params, merge_metadata};

pub fn create_product(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let name = p.required_str("name")?.to_owned();
    let id = match p.str("id") {
        Some(id) if st.find(acct, id).is_some() => {
            return Err(ApiError::invalid(
                "id",
                format!("Product already exists: {id}"),
            ));
        }
        Some(id) => id.to_owned(),
        None => st.new_id("prod_"),
    };
    let mut prod = template("product");
    prod["id"] = json!(id);
    prod["name"] = json!(name);
    prod["created"] = json!(st.now());
    prod["updated"] = json!(st.now());
    prod["description"] = json!(p.str("description"));
    prod["active"] = json!(p.bool("active")?.unwrap_or(true));
    prod["metadata"] = json!({});
    merge_metadata(&mut prod["metadata"], p.object("metadata"));
    st.put(acct, prod.clone());
    st.emit(acct, "product.created", &prod, None);
    if let Some(data) = p.object("default_price_data") {
        let mut price_params = Params(data.clone());
        price_params.0.insert("product".into(), json!(id));
        let price = create_price(st, acct, &price_params)?;
        prod["default_price"] = price["id"].clone();
        st.put(acct, prod.clone());
    }
    Ok(prod)
}

pub fn update_product(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let before = st.get(acct, "product", id)?;
    let mut prod = before.clone();
    for key in ["name", "description"] {
        if let Some(v) = p.str(key) {
            prod[key] = json!(v);
        }
    }
    if let Some(active) = p.bool("active")? {
        prod["active"] = json!(active);
    }
    if let Some(price) = p.str("default_price") {
        st.get(acct, "price", price)?;
        prod["default_price"] = json!(price);
    }
    merge_metadata(&mut prod["metadata"], p.object("metadata"));
    prod["updated"] = json!(st.now());
    st.put(acct, prod.clone());
    st.emit(
        acct,
        "product.updated",
        &prod,
        Some(crate::customer::previous(&before, &prod)),
    );
    Ok(prod)
}

pub fn delete_product(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let prod = st.get(acct, "product", id)?;
    if st.all(acct, "price").iter().any(|pr| pr["product"] == id) {
        return Err(ApiError::state(
            "This product cannot be deleted because it has one or more user-created prices.",
        ));
    }
    st.remove(acct, "product", id);
    st.emit(acct, "product.deleted", &prod, None);
    Ok(json!({ "id": id, "object": "product", "deleted": true }))
}

pub fn list_products(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let active = p.bool("active")?;
    st.list(acct, "product", p, "/v1/products", |x| {
        active.is_none_or(|a| x["active"] == a)
    })
}

/// Builds (and stores) a price; `price_data` at checkout goes through here too, with an inline product.
pub fn create_price(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let currency = p.required_str("currency")?.to_lowercase();
    let unit_amount = p
        .i64("unit_amount")?
        .or(p.str("unit_amount_decimal").and_then(|d| d.parse().ok()))
        .ok_or_else(|| ApiError::missing("unit_amount"))?;
    if unit_amount < 0 {
        return Err(ApiError::invalid(
            "unit_amount",
            "This value must be greater than or equal to 0.",
        ));
    }
    let product = match (p.str("product"), p.object("product_data")) {
        (Some(id), _) => st.get(acct, "product", id)?["id"].clone(),
        (None, Some(data)) => create_product(st, acct, &Params(data.clone()))?["id"].clone(),
        (None, None) => return Err(ApiError::missing("product")),
    };
    let id = st.new_id("price_");
    let mut price = template("price");
    price["id"] = json!(id);
    price["created"] = json!(st.now());
    price["currency"] = json!(currency);
    price["unit_amount"] = json!(unit_amount);
    price["unit_amount_decimal"] = json!(unit_amount.to_string());
    price["product"] = product;
    price["nickname"] = json!(p.str("nickname"));
    price["active"] = json!(p.bool("active")?.unwrap_or(true));
    price["metadata"] = json!({});
    merge_metadata(&mut price["metadata"], p.object("metadata"));
    match p.object("recurring") {
        Some(r) => {
            let interval = r
                .get("interval")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::missing("recurring[interval]"))?;
            if !["day", "week", "month", "year"].contains(&interval) {
                return Err(ApiError::invalid(
                    "recurring[interval]",
                    "Invalid recurring[interval]: must be one of day, week, month, or year"
                        .to_string(),
                ));
            }
            let count =
                crate::params::value_i64(r.get("interval_count"), "recurring[interval_count]")?
                    .unwrap_or(1);
            let trial = crate::params::value_i64(
                r.get("trial_period_days"),
                "recurring[trial_period_days]",
            )?;
            price["type"] = json!("recurring");
            price["recurring"] = json!({
                "interval": interval, "interval_count": count, "meter": null,
                "trial_period_days": trial, "usage_type": "licensed",
            });
        }
        None => {
            price["type"] = json!("one_time");
            price["recurring"] = Value::Null;
        }
    }
    if let Some(key) = p.str("lookup_key") {
        let holder = st
            .all(acct, "price")
            .into_iter()
            .find(|x| x["lookup_key"] == key);
        if let Some(mut holder) = holder {
            if !p.bool("transfer_lookup_key")?.unwrap_or(false) {
                return Err(ApiError::invalid(
                    "lookup_key",
                    format!(
                        "A price (`{}`) already uses that lookup key.",
                        holder["id"].as_str().unwrap_or_default()
                    ),
                ));
            }
            holder["lookup_key"] = Value::Null;
            st.put(acct, holder);
        }
        price["lookup_key"] = json!(key);
    }
    st.put(acct, price.clone());
    st.emit(acct, "price.created", &price, None);
    Ok(price)
}

pub fn update_price(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let before = st.get(acct, "price", id)?;
    let mut price = before.clone();
    if let Some(active) = p.bool("active")? {
        price["active"] = json!(active);
    }
    if let Some(n) = p.str("nickname") {
        price["nickname"] = json!(n);
    }
    if let Some(key) = p.get("lookup_key").and_then(Value::as_str) {
        price["lookup_key"] = if key.is_empty() {
            Value::Null
        } else {
            json!(key)
        };
    }
    merge_metadata(&mut price["metadata"], p.object("metadata"));
    st.put(acct, price.clone());
    st.emit(
        acct,
        "price.updated",
        &price,
        Some(crate::customer::previous(&before, &price)),
    );
    Ok(price)
}

pub fn list_prices(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let active = p.bool("active")?;
    let product = p.str("product").map(str::to_owned);
    let kind = p.str("type").map(str::to_owned);
    let currency = p.str("currency").map(str::to_owned);
    let keys: Vec<String> = p
        .array("lookup_keys")
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let interval = p
        .object("recurring")
        .and_then(|r| r.get("interval"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    st.list(acct, "price", p, "/v1/prices", |x| {
        active.is_none_or(|a| x["active"] == a)
            && product.as_deref().is_none_or(|pr| x["product"] == pr)
            && kind.as_deref().is_none_or(|k| x["type"] == k)
            && currency.as_deref().is_none_or(|c| x["currency"] == c)
            && (keys.is_empty() || keys.iter().any(|k| x["lookup_key"] == k.as_str()))
            && interval
                .as_deref()
                .is_none_or(|i| x["recurring"]["interval"] == i)
    })
}

/// The legacy `plan` view of a recurring price that subscription items still carry.
pub fn plan_of(price: &Value) -> Value {
    json!({
        "id": price["id"], "object": "plan", "active": price["active"],
        "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit", "created": price["created"], "currency": price["currency"],
        "interval": price["recurring"]["interval"], "interval_count": price["recurring"]["interval_count"],
        "livemode": false, "metadata": price["metadata"], "meter": null, "nickname": price["nickname"],
        "product": price["product"], "tiers_mode": null, "transform_usage": null,
        "trial_period_days": price["recurring"]["trial_period_days"], "usage_type": "licensed",
    })
}

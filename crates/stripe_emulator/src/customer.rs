//! Customers: create, retrieve, update, delete, list by email, and search with Stripe's query language.

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::ledger::{State, template};
use crate::params::{Params, merge_metadata};

pub fn create(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let id = st.new_id("cus_");
    let mut c = template("customer");
    c["id"] = json!(id);
    c["created"] = json!(st.now());
    c["invoice_prefix"] = json!(id[4..12].to_uppercase());
    c["preferred_locales"] = json!([]);
    c["metadata"] = json!({});
    if let Some(clock) = p.str("test_clock") {
        let clock = st.get(acct, "test_helpers.test_clock", clock)?;
        c["test_clock"] = clock["id"].clone();
        c["created"] = clock["frozen_time"].clone();
    }
    apply(st, acct, &mut c, p)?;
    st.put(acct, c.clone());
    st.emit(acct, "customer.created", &c, None);
    Ok(c)
}

fn apply(st: &mut State, acct: &str, c: &mut Value, p: &Params) -> Result<(), ApiError> {
    for key in ["email", "name", "phone", "description"] {
        if let Some(v) = p.get(key).and_then(Value::as_str) {
            c[key] = if v.is_empty() { Value::Null } else { json!(v) };
        }
    }
    merge_metadata(&mut c["metadata"], p.object("metadata"));
    if let Some(settings) = p.object("invoice_settings")
        && let Some(pm) = settings
            .get("default_payment_method")
            .and_then(Value::as_str)
    {
        if pm.is_empty() {
            c["invoice_settings"]["default_payment_method"] = Value::Null;
        } else {
            let pm = crate::payment::resolve_method(st, acct, pm, c["id"].as_str())?;
            c["invoice_settings"]["default_payment_method"] = json!(pm);
        }
    }
    if let Some(pm) = p.str("payment_method") {
        let pm = crate::payment::resolve_method(st, acct, pm, c["id"].as_str())?;
        c["invoice_settings"]["default_payment_method"] = json!(pm);
    }
    Ok(())
}

pub fn retrieve(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    match st.find(acct, id) {
        Some(v) if v["object"] == "customer" => Ok(v.clone()),
        _ => match st.ledger(acct).objects.get(&format!("deleted:{id}")) {
            Some(v) => Ok(v.clone()),
            None => Err(ApiError::not_found("customer", id)),
        },
    }
}

pub fn update(st: &mut State, acct: &str, id: &str, p: &Params) -> Result<Value, ApiError> {
    let before = st.get(acct, "customer", id)?;
    let mut c = before.clone();
    apply(st, acct, &mut c, p)?;
    st.put(acct, c.clone());
    if c != before {
        st.emit(acct, "customer.updated", &c, Some(previous(&before, &c)));
    }
    Ok(c)
}

/// `previous_attributes`: the top-level fields that changed, with their old values.
pub fn previous(before: &Value, after: &Value) -> Value {
    let mut prev = serde_json::Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, old) in b {
            if a.get(k) != Some(old) {
                prev.insert(k.clone(), old.clone());
            }
        }
    }
    Value::Object(prev)
}

pub fn delete(st: &mut State, acct: &str, id: &str) -> Result<Value, ApiError> {
    let c = st.get(acct, "customer", id)?;
    // Deleting a customer cancels its subscriptions, as Stripe does.
    for sub in st.all(acct, "subscription") {
        if sub["customer"] == id
            && sub["status"] != "canceled"
            && sub["status"] != "incomplete_expired"
            && let Some(sub_id) = sub["id"].as_str()
        {
            crate::subscription::cancel_now(st, acct, sub_id, "cancellation_requested")?;
        }
    }
    st.remove(acct, "customer", id);
    let deleted = json!({ "id": id, "object": "customer", "deleted": true });
    // Kept (outside the lists) so that a retrieve after delete answers `deleted: true` like Stripe.
    st.ledger(acct)
        .objects
        .insert(format!("deleted:{id}"), deleted.clone());
    st.emit(acct, "customer.deleted", &c, None);
    Ok(deleted)
}

pub fn list(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let email = p.str("email").map(str::to_owned);
    let clock = p.str("test_clock").map(str::to_owned);
    st.list(acct, "customer", p, "/v1/customers", |c| {
        email.as_deref().is_none_or(|e| c["email"] == e)
            && clock.as_deref().is_none_or(|k| c["test_clock"] == k)
    })
}

/// `GET /v1/customers/search`: `email:'a@b.c'`, `name:`, `phone:`, `metadata['key']:'v'`, `~` for substring,
/// joined by all-`AND` or all-`OR` as Stripe's search query language allows.
pub fn search(st: &mut State, acct: &str, p: &Params) -> Result<Value, ApiError> {
    let query = p.required_str("query")?;
    let (clauses, any) = parse_query(query)?;
    let mut hits: Vec<Value> = st
        .all(acct, "customer")
        .into_iter()
        .filter(|c| {
            let mut results = clauses.iter().map(|cl| cl.matches(c));
            if any {
                results.any(|r| r)
            } else {
                results.all(|r| r)
            }
        })
        .collect();
    hits.reverse();
    let limit = p.i64("limit")?.unwrap_or(10).clamp(1, 100) as usize;
    let offset: usize = p.str("page").and_then(|s| s.parse().ok()).unwrap_or(0);
    let total = hits.len();
    let data: Vec<Value> = hits.into_iter().skip(offset).take(limit).collect();
    let has_more = offset + data.len() < total;
    Ok(json!({
        "object": "search_result",
        "data": data,
        "has_more": has_more,
        "next_page": if has_more { json!((offset + limit).to_string()) } else { Value::Null },
        "url": "/v1/customers/search",
    }))
}

struct Clause {
    field: Vec<String>,
    substring: bool,
    negate: bool,
    value: String,
}

impl Clause {
    fn matches(&self, c: &Value) -> bool {
        let mut v = c;
        for f in &self.field {
            v = &v[f.as_str()];
        }
        let found = match v.as_str() {
            Some(s) if self.substring => s.to_lowercase().contains(&self.value.to_lowercase()),
            Some(s) => s == self.value,
            None => false,
        };
        found != self.negate
    }
}

fn parse_query(query: &str) -> Result<(Vec<Clause>, bool), ApiError> {
    let bad = || ApiError::invalid("query", format!("Invalid search query: {query}"));
    let any = query.contains(" OR ");
    if any && query.contains(" AND ") {
        return Err(ApiError::invalid(
            "query",
            "Search queries cannot mix AND and OR.",
        ));
    }
    let separator = if any { " OR " } else { " AND " };
    let mut clauses = Vec::new();
    for part in query.split(separator) {
        let part = part.trim();
        let (negate, part) = match part.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, part),
        };
        let op = part.find([':', '~']).ok_or_else(bad)?;
        // `metadata['k']:v` has a colon only after the bracket.
        let (field, rest) = if part.starts_with("metadata[") {
            let close = part.find(']').ok_or_else(bad)?;
            let key = part[9..close].trim_matches(|c| c == '\'' || c == '"');
            (
                vec!["metadata".to_owned(), key.to_owned()],
                &part[close + 1..],
            )
        } else {
            (vec![part[..op].to_owned()], &part[op..])
        };
        let substring = rest.starts_with('~');
        let value = rest
            .get(1..)
            .ok_or_else(bad)?
            .trim()
            .trim_matches(|c| c == '\'' || c == '"')
            .to_owned();
        if !["email", "name", "phone", "metadata"].contains(&field[0].as_str()) {
            return Err(ApiError::invalid(
                "query",
                format!("Field '{}' is an unsupported search field.", field[0]),
            ));
        }
        clauses.push(Clause {
            field,
            substring,
            negate,
            value,
        });
    }
    Ok((clauses, any))
}

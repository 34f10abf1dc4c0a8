//! Connect accounts: create, update, delete, the platform's own account, capabilities, account links and login
//! links, and the onboarding states that keep `charges_enabled`, `payouts_enabled`, `details_submitted`,
//! capabilities and requirements consistent with each other.
//!
//! Accounts live on the platform's ledger. A connected account moves through three states, each a function of
//! one field (`Onboarding`), so the gating fields can never disagree:
//! `new` (requirements currently due and past due, nothing enabled) → `pending` (details submitted, a document
//! pending verification, capabilities `pending`) → `complete` (capabilities `active`, charges and payouts
//! enabled, a bank account attached). See <https://docs.stripe.com/connect/handling-api-verification>.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::Ctx;
use crate::api_error::ApiError;
use crate::ledger::{PLATFORM, State};
use crate::params::{Params, merge_metadata};

/// How long an account link can be used (Stripe's links last a few minutes).
pub const LINK_LIFETIME: i64 = 300;

/// The Connect application the emulator's platform is (named in `account.application.deauthorized`).
pub const APPLICATION: &str = "ca_emulatorplatform";

/// What onboarding a connected account has been through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Onboarding {
    #[default]
    New,
    Pending,
    Complete,
}

/// One account link: single use, until `expires_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountLink {
    pub account: String,
    pub kind: String,
    pub refresh_url: String,
    pub return_url: String,
    pub expires_at: i64,
    /// The page has been opened: opening it again goes to `refresh_url`.
    pub opened: bool,
    /// A choice was posted: the link is spent.
    pub finished: bool,
}

/// Connect bookkeeping that is not part of Stripe's objects.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectState {
    /// Account link token (the last path segment of its `url`) → link.
    pub links: HashMap<String, AccountLink>,
    /// Login link token → account.
    pub login_links: HashMap<String, String>,
    /// Account → its onboarding state.
    pub onboarding: HashMap<String, Onboarding>,
    /// Webhook endpoints created with `connect=true`: they receive connected accounts' events, and only those.
    pub connect_endpoints: Vec<String>,
    /// Accounts whose next payouts fail (`POST /_emulator/accounts/{id}/payout_failure`).
    pub failing_payouts: Vec<String>,
}

/// The requirements a new account has to meet before it can take payments.
const ONBOARDING_FIELDS: [&str; 8] = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
];

/// The document still being verified once details are submitted.
const PENDING_FIELD: &str = "representative.verification.document";

fn default_currency(country: &str) -> &'static str {
    match country {
        "GB" => "gbp",
        "CA" => "cad",
        "AU" => "aud",
        "JP" => "jpy",
        "CH" => "chf",
        "DE" | "FR" | "ES" | "IT" | "NL" | "IE" | "BE" | "AT" | "PT" | "FI" => "eur",
        _ => "usd",
    }
}

/// Whether `acct` may be named in `Stripe-Account` by the platform: the platform itself or one of its accounts.
pub fn accessible(st: &State, acct: &str) -> bool {
    acct == PLATFORM
        || st
            .find(PLATFORM, acct)
            .is_some_and(|a| a["object"] == "account")
}

/// Stripe's answer to a `Stripe-Account` the key has no access to.
pub fn invalid_account(acct: &str) -> ApiError {
    let mut e = ApiError::state(format!(
        "The provided key does not have access to account '{acct}' (or that account does not exist). Application access may have been revoked."
    ));
    e.status = 403;
    e.code = Some("account_invalid".into());
    e
}

/// The connected account `id` as the platform sees it.
pub fn get(st: &State, id: &str) -> Result<Value, ApiError> {
    st.get(PLATFORM, "account", id)
        .map_err(|_| ApiError::not_found("account", id))
}

/// The dashboard, fee, loss and requirement-collection model behind an account type, as Stripe's
/// `controller` hash describes it (<https://docs.stripe.com/connect/migrate-to-controller-properties>).
fn controller_for_type(kind: &str) -> Value {
    let (dashboard, fees, losses, collection) = match kind {
        "standard" => ("full", "account", "stripe", "stripe"),
        "express" => ("express", "application", "application", "stripe"),
        _ => ("none", "application", "application", "application"),
    };
    json!({
        "type": "application", "is_controller": true,
        "stripe_dashboard": { "type": dashboard }, "fees": { "payer": fees },
        "losses": { "payments": losses }, "requirement_collection": collection,
    })
}

/// The account type a `controller` hash maps to, or `none` when it matches no classic type.
fn type_for_controller(c: &Value) -> &'static str {
    for kind in ["standard", "express", "custom"] {
        let classic = controller_for_type(kind);
        let same = ["stripe_dashboard", "fees", "losses"]
            .iter()
            .all(|k| c[k].is_null() || c[k] == classic[k])
            && (c["requirement_collection"].is_null()
                || c["requirement_collection"] == classic["requirement_collection"]);
        if same && c["stripe_dashboard"]["type"] == classic["stripe_dashboard"]["type"] {
            return kind;
        }
    }
    "none"
}

fn controller_from_params(p: &Params) -> Result<Option<Value>, ApiError> {
    let Some(c) = p.object("controller") else {
        return Ok(None);
    };
    let allowed = [
        ("stripe_dashboard", "type", &["express", "full", "none"][..]),
        ("fees", "payer", &["account", "application"][..]),
        ("losses", "payments", &["application", "stripe"][..]),
    ];
    let mut out = controller_for_type("custom");
    out["stripe_dashboard"] = Value::Null;
    out["fees"] = Value::Null;
    out["losses"] = Value::Null;
    out["requirement_collection"] = Value::Null;
    for (group, field, values) in allowed {
        if let Some(v) = c
            .get(group)
            .and_then(|g| g.get(field))
            .and_then(Value::as_str)
        {
            if !values.contains(&v) {
                return Err(ApiError::invalid(
                    &format!("controller[{group}][{field}]"),
                    format!("Invalid {field}: must be one of {}", values.join(", ")),
                ));
            }
            out[group] = json!({ field: v });
        }
    }
    if let Some(v) = c.get("requirement_collection").and_then(Value::as_str) {
        if !["application", "stripe"].contains(&v) {
            return Err(ApiError::invalid(
                "controller[requirement_collection]",
                "Invalid requirement_collection: must be one of application, stripe",
            ));
        }
        out["requirement_collection"] = json!(v);
    }
    // What the caller left out takes Stripe's defaults for a Stripe-dashboard account.
    let defaults = controller_for_type("standard");
    for k in [
        "stripe_dashboard",
        "fees",
        "losses",
        "requirement_collection",
    ] {
        if out[k].is_null() {
            out[k] = defaults[k].clone();
        }
    }
    Ok(Some(out))
}

fn requirements(due: &[&str], pending: &[&str], disabled: Option<&str>) -> Value {
    json!({
        "alternatives": [], "current_deadline": null, "currently_due": due, "disabled_reason": disabled,
        "errors": [], "eventually_due": due, "past_due": due, "pending_verification": pending,
    })
}

/// Sets every gating field from the onboarding state, so they always agree.
fn apply_onboarding(st: &State, account: &mut Value, state: Onboarding) {
    let (submitted, enabled, capability) = match state {
        Onboarding::New => (false, false, "inactive"),
        Onboarding::Pending => (true, false, "pending"),
        Onboarding::Complete => (true, true, "active"),
    };
    account["details_submitted"] = json!(submitted);
    account["charges_enabled"] = json!(enabled);
    account["payouts_enabled"] = json!(enabled);
    account["requirements"] = match state {
        Onboarding::New => requirements(&ONBOARDING_FIELDS, &[], Some("requirements.past_due")),
        Onboarding::Pending => requirements(
            &[],
            &[PENDING_FIELD],
            Some("requirements.pending_verification"),
        ),
        Onboarding::Complete => requirements(&[], &[], None),
    };
    account["future_requirements"] = requirements(&[], &[], None);
    if let Some(caps) = account["capabilities"].as_object_mut() {
        for v in caps.values_mut() {
            *v = json!(capability);
        }
    }
    if submitted && account["tos_acceptance"]["date"].is_null() {
        account["tos_acceptance"]["date"] = json!(st.now());
        account["tos_acceptance"]["ip"] = json!("127.0.0.1");
    }
}

pub fn create(st: &mut State, ctx: &Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    if ctx.acct != PLATFORM {
        return Err(ApiError::state(
            "You can only create new accounts if you've signed up for Connect, which you can learn how to do at https://stripe.com/docs/connect.",
        ));
    }
    let controller = controller_from_params(p)?;
    let kind = match (p.str("type"), &controller) {
        (Some(t), None) => {
            if !["express", "standard", "custom"].contains(&t) {
                return Err(ApiError::invalid(
                    "type",
                    format!("Invalid type: must be one of custom, express, or standard (got {t})"),
                ));
            }
            t.to_owned()
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "type",
                "You cannot specify both type and controller; use controller properties alone.",
            ));
        }
        (None, Some(c)) => type_for_controller(c).to_owned(),
        (None, None) => return Err(ApiError::missing("type")),
    };
    let controller = controller.unwrap_or_else(|| controller_for_type(&kind));
    let requested = requested_capabilities(p)?;
    if requested.is_empty() && controller["requirement_collection"] == "application" {
        return Err(ApiError::missing("capabilities"));
    }
    let country = p.str("country").unwrap_or("US").to_uppercase();
    let id = st.new_id("acct_");
    let mut account = crate::ledger::template("account");
    account["id"] = json!(id);
    account["type"] = json!(kind);
    account["controller"] = controller;
    account["created"] = json!(st.now());
    account["country"] = json!(country);
    account["default_currency"] = json!(
        p.str("default_currency")
            .map(str::to_lowercase)
            .unwrap_or_else(|| default_currency(&country).to_owned())
    );
    account["email"] = json!(p.str("email"));
    account["business_type"] = json!(p.str("business_type"));
    account["metadata"] = json!({});
    account["tos_acceptance"] = json!({ "date": null, "ip": null, "user_agent": null });
    account["external_accounts"] = json!({ "object": "list", "data": [], "has_more": false, "url": format!("/v1/accounts/{id}/external_accounts") });
    let caps: serde_json::Map<String, Value> = if requested.is_empty() {
        // Accounts on Stripe's own requirement collection get the usual pair when none is asked for.
        ["card_payments", "transfers"]
            .iter()
            .map(|c| ((*c).to_owned(), json!("inactive")))
            .collect()
    } else {
        requested
            .iter()
            .map(|c| (c.clone(), json!("inactive")))
            .collect()
    };
    account["capabilities"] = Value::Object(caps);
    apply_profile(&mut account, p);
    apply_onboarding(st, &mut account, Onboarding::New);
    st.connect.onboarding.insert(id.clone(), Onboarding::New);
    st.put(PLATFORM, account.clone());
    // The account's own ledger exists from now on, so its events can be listed under it.
    st.ledger(&id);
    Ok(account)
}

fn requested_capabilities(p: &Params) -> Result<Vec<String>, ApiError> {
    let Some(caps) = p.object("capabilities") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, v) in caps {
        let requested = crate::params::value_bool(v.get("requested"), "requested")?;
        if requested == Some(true) {
            out.push(name.clone());
        }
    }
    out.sort();
    Ok(out)
}

fn apply_profile(account: &mut Value, p: &Params) {
    if let Some(profile) = p.object("business_profile") {
        for (k, v) in profile {
            if v.is_string() {
                account["business_profile"][k] = v.clone();
            }
        }
    }
    if let Some(email) = p.str("email") {
        account["email"] = json!(email);
    }
    merge_metadata(&mut account["metadata"], p.object("metadata"));
}

/// `GET /v1/accounts/{id}`, or `GET /v1/account` for the caller (the platform, or the `Stripe-Account` named).
pub fn retrieve(st: &State, id: &str) -> Result<Value, ApiError> {
    if id == PLATFORM {
        return Ok(platform_account(st));
    }
    get(st, id)
}

/// The platform's own account: complete, with a name the hosted pages show.
fn platform_account(st: &State) -> Value {
    let mut account = crate::ledger::template("account");
    account["id"] = json!(PLATFORM);
    account["type"] = json!("standard");
    account["controller"] = json!({ "type": "account" });
    account["created"] = json!(0);
    account["email"] = json!("platform@example.com");
    account["business_profile"]["name"] = json!("Emulated platform");
    account["metadata"] = json!({});
    account["capabilities"] = json!({ "card_payments": "active", "transfers": "active" });
    apply_onboarding(st, &mut account, Onboarding::Complete);
    account
}

pub fn update(st: &mut State, ctx: &Ctx<'_>, id: &str, p: &Params) -> Result<Value, ApiError> {
    let before = retrieve_for(st, ctx, id)?;
    let mut account = before.clone();
    apply_profile(&mut account, p);
    for name in requested_capabilities(p)? {
        if account["capabilities"][&name].is_null() {
            let state = st.connect.onboarding.get(id).copied().unwrap_or_default();
            account["capabilities"][&name] = json!(match state {
                Onboarding::Complete => "active",
                Onboarding::Pending => "pending",
                Onboarding::New => "inactive",
            });
        }
    }
    save(st, &before, account)
}

/// The account `id` as the caller may see it: the platform sees its accounts, an account only itself.
pub fn retrieve_for(st: &State, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    if ctx.acct != PLATFORM && ctx.acct != id {
        return Err(ApiError::not_found("account", id));
    }
    get(st, id)
}

/// Stores a changed account and emits `account.updated` (and `capability.updated` for each capability whose
/// status moved) with `previous_attributes`, as connected-account events.
fn save(st: &mut State, before: &Value, account: Value) -> Result<Value, ApiError> {
    let id = account["id"].as_str().unwrap_or_default().to_owned();
    st.put(PLATFORM, account.clone());
    let previous = crate::customer::previous(before, &account);
    if previous.as_object().is_some_and(|m| !m.is_empty()) {
        st.emit(&id, "account.updated", &account, Some(previous));
    }
    let caps = account["capabilities"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (name, status) in caps {
        if before["capabilities"][&name] != status {
            let cap = capability(&account, &name);
            let prev = json!({ "status": before["capabilities"][&name] });
            st.emit(&id, "capability.updated", &cap, Some(prev));
        }
    }
    Ok(account)
}

/// A capability object of an account, derived from the account (one source of truth).
fn capability(account: &Value, name: &str) -> Value {
    let status = account["capabilities"][name].clone();
    let req = if status == "active" {
        requirements(&[], &[], None)
    } else {
        account["requirements"].clone()
    };
    json!({
        "id": name, "object": "capability", "account": account["id"], "requested": true,
        "requested_at": account["created"], "status": status, "requirements": req,
        "future_requirements": requirements(&[], &[], None),
    })
}

pub fn list_capabilities(st: &State, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    let account = retrieve_for(st, ctx, id)?;
    let mut names: Vec<String> = account["capabilities"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    let data: Vec<Value> = names.iter().map(|n| capability(&account, n)).collect();
    Ok(
        json!({ "object": "list", "data": data, "has_more": false, "url": format!("/v1/accounts/{id}/capabilities") }),
    )
}

pub fn retrieve_capability(
    st: &State,
    ctx: &Ctx<'_>,
    id: &str,
    name: &str,
) -> Result<Value, ApiError> {
    let account = retrieve_for(st, ctx, id)?;
    if account["capabilities"][name].is_null() {
        return Err(ApiError::not_found("capability", name));
    }
    Ok(capability(&account, name))
}

pub fn list(st: &State, ctx: &Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    if ctx.acct != PLATFORM {
        return Ok(
            json!({ "object": "list", "data": [], "has_more": false, "url": "/v1/accounts" }),
        );
    }
    st.list(PLATFORM, "account", p, "/v1/accounts", |_| true)
}

/// Deletes a connected account: the platform loses access to it, and the account's Connect endpoints hear
/// `account.application.deauthorized`.
pub fn delete(st: &mut State, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    if ctx.acct != PLATFORM {
        return Err(ApiError::not_found("account", id));
    }
    get(st, id)?;
    deauthorize(st, id);
    Ok(json!({ "id": id, "object": "account", "deleted": true }))
}

/// The platform's access to `id` ends: `account.application.deauthorized`, then the account is gone from the
/// platform's view (any later `Stripe-Account: id` is `account_invalid`). Its ledger stays, so its events can
/// still be read by the emulator's own routes.
pub fn deauthorize(st: &mut State, id: &str) {
    let application =
        json!({ "id": APPLICATION, "object": "application", "name": "Emulated platform" });
    st.emit(id, "account.application.deauthorized", &application, None);
    st.remove(PLATFORM, "account", id);
    st.connect.onboarding.remove(id);
}

/// Moves an account to `to` and emits what changed. Finishing onboarding also attaches a bank account.
pub fn transition(st: &mut State, id: &str, to: Onboarding) -> Result<Value, ApiError> {
    let before = get(st, id)?;
    let mut account = before.clone();
    apply_onboarding(st, &mut account, to);
    st.connect.onboarding.insert(id.to_owned(), to);
    let needs_bank = to == Onboarding::Complete
        && account["external_accounts"]["data"]
            .as_array()
            .is_none_or(Vec::is_empty);
    if needs_bank {
        let bank = json!({
            "id": st.new_id("ba_"), "object": "bank_account", "account": id, "account_holder_name": null,
            "account_holder_type": null, "bank_name": "STRIPE TEST BANK", "country": account["country"],
            "currency": account["default_currency"], "default_for_currency": true, "fingerprint": st.new_id(""),
            "last4": "6789", "metadata": {}, "routing_number": "110000000", "status": "new",
        });
        account["external_accounts"]["data"] = json!([bank.clone()]);
        account["external_accounts"]["total_count"] = json!(1);
        let saved = save(st, &before, account)?;
        st.emit(id, "account.external_account.created", &bank, None);
        return Ok(saved);
    }
    save(st, &before, account)
}

pub fn onboarding_state(st: &State, id: &str) -> Onboarding {
    st.connect.onboarding.get(id).copied().unwrap_or_default()
}

/// Finishes the verification of every account left pending (what a test-clock advance does).
pub fn verify_pending(st: &mut State) -> Result<(), ApiError> {
    let mut pending: Vec<String> = st
        .connect
        .onboarding
        .iter()
        .filter(|(_, s)| **s == Onboarding::Pending)
        .map(|(a, _)| a.clone())
        .collect();
    pending.sort();
    for id in pending {
        transition(st, &id, Onboarding::Complete)?;
    }
    Ok(())
}

pub fn create_link(st: &mut State, ctx: &Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    if ctx.acct != PLATFORM {
        return Err(ApiError::state(
            "Account links can only be created by the platform.",
        ));
    }
    let account_id = p.required_str("account")?.to_owned();
    let account = st
        .get(PLATFORM, "account", &account_id)
        .map_err(|_| ApiError::invalid_reference("account", &account_id))?;
    let kind = p.required_str("type")?.to_owned();
    match kind.as_str() {
        "account_onboarding" => {}
        "account_update" => {
            if account["controller"]["requirement_collection"] != "application" {
                return Err(ApiError::invalid(
                    "type",
                    "You cannot create `account_update` type Account Links for accounts where Stripe is responsible for collecting requirements (Express and Standard accounts).",
                ));
            }
        }
        other => {
            return Err(ApiError::invalid(
                "type",
                format!(
                    "Invalid type: must be one of account_onboarding or account_update (got {other})"
                ),
            ));
        }
    }
    if let Some(options) = p.object("collection_options")
        && let Some(fields) = options.get("fields").and_then(Value::as_str)
        && !["currently_due", "eventually_due"].contains(&fields)
    {
        return Err(ApiError::invalid(
            "collection_options[fields]",
            "Invalid fields: must be one of currently_due or eventually_due",
        ));
    }
    let refresh_url = p.required_str("refresh_url")?.to_owned();
    let return_url = p.required_str("return_url")?.to_owned();
    let token = st.new_id("");
    let now = st.now();
    let link = AccountLink {
        account: account_id.clone(),
        kind,
        refresh_url,
        return_url,
        expires_at: now + LINK_LIFETIME,
        opened: false,
        finished: false,
    };
    st.connect.links.insert(token.clone(), link);
    Ok(json!({
        "object": "account_link", "created": now, "expires_at": now + LINK_LIFETIME,
        "url": format!("{}/connect/onboarding/{account_id}/{token}", ctx.base_url),
    }))
}

pub fn create_login_link(st: &mut State, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    if ctx.acct != PLATFORM {
        return Err(ApiError::not_found("account", id));
    }
    let account = get(st, id)?;
    if account["controller"]["stripe_dashboard"]["type"] != "express" {
        return Err(ApiError::state(
            "Cannot create a login link for an account that is not an Express account.",
        ));
    }
    if account["details_submitted"] != true {
        return Err(ApiError::state(
            "Cannot create a login link for an account that has not completed onboarding.",
        ));
    }
    let token = st.new_id("");
    st.connect.login_links.insert(token.clone(), id.to_owned());
    Ok(json!({
        "object": "login_link", "created": st.now(),
        "url": format!("{}/express/{id}/{token}", ctx.base_url),
    }))
}

//! Which parameters each endpoint accepts, one table for all (`param_table.json`: Stripe's OpenAPI spec plus a
//! named overlay of newer fields, written by `tools/params_from_spec.py`), and the one check every `/v1` request
//! passes before it reaches a handler. The table is also the list of routes: a path it does not know is not
//! Stripe's, so it is answered as an unrecognized URL even when parameters would otherwise be refused.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api_error::ApiError;
use crate::params::Params;

/// What the table knows of one parameter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ParamSpec {
    /// The JSON types it may take (`string`, `integer`, `number`, `boolean`, `object`, `array`).
    #[serde(rename = "type", default)]
    pub types: Vec<String>,
    #[serde(default)]
    pub required: bool,
    /// The values a string may take, when Stripe lists them.
    #[serde(rename = "enum")]
    pub values: Option<Vec<String>>,
    /// An object's sub-keys; `None` for free-form objects such as `metadata`.
    pub keys: Option<Vec<String>>,
    /// The keys of one item of a list of objects (`line_items[0][price]`).
    pub item_keys: Option<Vec<String>>,
    /// Whether `""` is accepted (Stripe's way to unset a parameter).
    #[serde(default)]
    pub emptiable: bool,
}

#[derive(Deserialize)]
struct File {
    endpoints: BTreeMap<String, BTreeMap<String, ParamSpec>>,
    /// Added or replaced since the spec's version; `null` removes a parameter.
    newer_than_spec: BTreeMap<String, BTreeMap<String, Option<ParamSpec>>>,
}

/// One endpoint: `GET /v1/customers/{customer}` as a method and its path segments below `/v1/`.
#[derive(Debug)]
pub struct Endpoint {
    pub method: String,
    pub template: Vec<String>,
    pub params: BTreeMap<String, ParamSpec>,
}

impl Endpoint {
    /// `METHOD /v1/path/{param}`, as the table keys it (for messages of the tests).
    #[cfg(test)]
    pub fn key(&self) -> String {
        format!("{} /v1/{}", self.method, self.template.join("/"))
    }

    /// How well a request path fits: `None` when it does not, else the number of literal segments that match
    /// (so `/v1/customers/search` wins over `/v1/customers/{customer}`).
    fn fit(&self, method: &str, segments: &[&str]) -> Option<usize> {
        if self.method != method || self.template.len() != segments.len() {
            return None;
        }
        let mut literal = 0;
        for (t, s) in self.template.iter().zip(segments) {
            if t.starts_with('{') {
                continue;
            }
            if t != s {
                return None;
            }
            literal += 1;
        }
        Some(literal)
    }
}

/// Every endpoint the emulator may serve.
pub fn endpoints() -> &'static [Endpoint] {
    static TABLE: OnceLock<Vec<Endpoint>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let file: File = serde_json::from_str(include_str!("param_table.json"))
            .expect("BUG: param_table.json is the table params_from_spec.py writes");
        let mut merged = file.endpoints;
        for (key, newer) in file.newer_than_spec {
            let params = merged.entry(key).or_default();
            for (name, spec) in newer {
                match spec {
                    Some(spec) => params.insert(name, spec),
                    None => params.remove(&name),
                };
            }
        }
        merged
            .into_iter()
            .filter_map(|(key, params)| {
                let (method, path) = key.split_once(' ')?;
                let template = path
                    .strip_prefix("/v1/")?
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                Some(Endpoint {
                    method: method.to_owned(),
                    template,
                    params,
                })
            })
            .collect()
    })
}

/// The table's entry for a request, if Stripe has such an endpoint.
pub fn endpoint(method: &str, segments: &[&str]) -> Option<&'static Endpoint> {
    endpoints()
        .iter()
        .filter_map(|e| e.fit(method, segments).map(|fit| (fit, e)))
        .max_by_key(|(fit, _)| *fit)
        .map(|(_, e)| e)
}

/// The one gate before dispatch: a path Stripe does not have is an unrecognized URL; otherwise `check`.
pub fn admit(method: &str, segments: &[&str], params: &Params) -> Result<(), ApiError> {
    match endpoint(method, segments) {
        Some(endpoint) => check(endpoint, params),
        None => Err(ApiError::unknown_route(
            method,
            &format!("/v1/{}", segments.join("/")),
        )),
    }
}

/// Refuses what Stripe refuses before any handler runs: an unknown parameter (top level, an object's sub-key
/// or a list item's key), a missing required one, a value of the wrong type, `""` where it cannot unset, and
/// a string outside its listed values. `expand` is always allowed.
pub fn check(endpoint: &Endpoint, params: &Params) -> Result<(), ApiError> {
    for (name, value) in &params.0 {
        if name == "expand" {
            continue;
        }
        let Some(spec) = endpoint.params.get(name) else {
            return Err(ApiError::unknown_param(name));
        };
        check_value(name, spec, value)?;
    }
    for (name, spec) in &endpoint.params {
        if spec.required && params.0.get(name).is_none_or(is_blank) {
            return Err(ApiError::missing(name));
        }
    }
    Ok(())
}

fn is_blank(value: &Value) -> bool {
    value.as_str() == Some("")
}

fn check_value(name: &str, spec: &ParamSpec, value: &Value) -> Result<(), ApiError> {
    let accepts = |t: &str| spec.types.iter().any(|have| have == t);
    if let Value::String(s) = value {
        if s.is_empty() {
            let unsettable = spec.emptiable || accepts("string") || accepts("object");
            return if unsettable {
                Ok(())
            } else {
                Err(ApiError::invalid_empty(name))
            };
        }
        if accepts("string") {
            return match &spec.values {
                Some(values) if !values.iter().any(|v| v == s) => {
                    Err(ApiError::invalid_enum(name, values))
                }
                _ => Ok(()),
            };
        }
        if accepts("integer") && s.parse::<i64>().is_ok() {
            return Ok(());
        }
        if accepts("number") && s.parse::<f64>().is_ok() {
            return Ok(());
        }
        if accepts("boolean") && (s == "true" || s == "false") {
            return Ok(());
        }
        if accepts("integer") {
            return Err(ApiError::invalid_integer(name, s));
        }
        if accepts("boolean") {
            return Err(ApiError::invalid(name, format!("Invalid boolean: {s}")));
        }
        if accepts("number") {
            return Err(ApiError::invalid(name, format!("Invalid decimal: {s}")));
        }
        return Err(ApiError::invalid(name, invalid_shape(spec)));
    }
    match value {
        Value::Object(map) if accepts("object") => check_keys(name, spec.keys.as_deref(), map),
        Value::Array(items) if accepts("array") => {
            for (i, item) in items.iter().enumerate() {
                if let Value::Object(map) = item {
                    check_keys(&format!("{name}[{i}]"), spec.item_keys.as_deref(), map)?;
                }
            }
            Ok(())
        }
        // A list sent as `x[0]=…` whose spec says object (a hash keyed by numbers) is still an object to Stripe.
        Value::Array(_) if accepts("object") && spec.keys.is_none() => Ok(()),
        _ => Err(ApiError::invalid(name, invalid_shape(spec))),
    }
}

fn check_keys(
    name: &str,
    keys: Option<&[String]>,
    map: &Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(keys) = keys else { return Ok(()) };
    match map.keys().find(|k| !keys.contains(k)) {
        Some(unknown) => Err(ApiError::unknown_param(&format!("{name}[{unknown}]"))),
        None => Ok(()),
    }
}

fn invalid_shape(spec: &ParamSpec) -> &'static str {
    if spec.types.iter().any(|t| t == "object") {
        "Invalid object"
    } else if spec.types.iter().any(|t| t == "array") {
        "Invalid array"
    } else {
        "Invalid value"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of the right shape for a parameter, with every sub-key the table lists for it.
    fn form_for(name: &str, spec: &ParamSpec) -> Vec<(String, String)> {
        let has = |t: &str| spec.types.iter().any(|have| have == t);
        let scalar = || {
            if let Some(values) = &spec.values {
                values.first().cloned().unwrap_or_default()
            } else if has("string") {
                "x".to_owned()
            } else if has("integer") || has("number") {
                "1".to_owned()
            } else if has("boolean") {
                "true".to_owned()
            } else {
                String::new()
            }
        };
        if has("array") {
            return match &spec.item_keys {
                Some(keys) => keys
                    .iter()
                    .map(|k| (format!("{name}[0][{k}]"), "x".to_owned()))
                    .collect(),
                None => vec![(format!("{name}[]"), "x".to_owned())],
            };
        }
        if has("object") && !has("string") && !has("integer") {
            return match &spec.keys {
                Some(keys) => keys
                    .iter()
                    .map(|k| (format!("{name}[{k}]"), "x".to_owned()))
                    .collect(),
                None => vec![(format!("{name}[some_key]"), "x".to_owned())],
            };
        }
        vec![(name.to_owned(), scalar())]
    }

    fn params_of(form: &[(String, String)]) -> Params {
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        Params::parse(encoded.as_bytes())
    }

    #[test]
    fn every_endpoint_accepts_all_its_parameters_and_refuses_an_unknown_one_by_name() {
        assert!(endpoints().len() > 400, "the table lost endpoints");
        for endpoint in endpoints() {
            let form: Vec<(String, String)> = endpoint
                .params
                .iter()
                .flat_map(|(name, spec)| form_for(name, spec))
                .collect();
            let known = params_of(&form);
            assert_eq!(
                check(endpoint, &known),
                Ok(()),
                "{}: {form:?}",
                endpoint.key()
            );

            let mut unknown_form = form.clone();
            unknown_form.push(("not_a_stripe_param".to_owned(), "1".to_owned()));
            let err = check(endpoint, &params_of(&unknown_form)).expect_err(&endpoint.key());
            assert_eq!(
                err.code.as_deref(),
                Some("parameter_unknown"),
                "{}",
                endpoint.key()
            );
            assert_eq!(err.param.as_deref(), Some("not_a_stripe_param"));
        }
    }

    #[test]
    fn every_required_parameter_is_reported_missing_by_name() {
        for endpoint in endpoints() {
            for name in endpoint
                .params
                .iter()
                .filter(|(_, s)| s.required)
                .map(|(n, _)| n)
            {
                let form: Vec<(String, String)> = endpoint
                    .params
                    .iter()
                    .filter(|(n, _)| *n != name)
                    .flat_map(|(n, s)| form_for(n, s))
                    .collect();
                let err = check(endpoint, &params_of(&form)).expect_err(&endpoint.key());
                assert_eq!(err.code.as_deref(), Some("parameter_missing"));
                assert_eq!(
                    err.param.as_deref(),
                    Some(name.as_str()),
                    "{}",
                    endpoint.key()
                );
            }
        }
    }

    /// The `("METHOD", ["segment", id, …])` patterns of `api::dispatch`, read from its source.
    fn dispatched_routes() -> Vec<(String, Vec<Option<String>>)> {
        let source = include_str!("api.rs");
        let body = source
            .split_once("fn dispatch(")
            .expect("api.rs has fn dispatch")
            .1;
        let mut routes = Vec::new();
        for line in body.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("(\"") else {
                continue;
            };
            let Some((method, rest)) = rest.split_once("\", [") else {
                continue;
            };
            let Some((inside, _)) = rest.split_once("])") else {
                continue;
            };
            let segments = inside
                .split(',')
                .map(str::trim)
                .map(|s| {
                    s.strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .map(str::to_owned)
                })
                .collect();
            routes.push((method.to_owned(), segments));
        }
        routes
    }

    #[test]
    fn every_route_the_emulator_dispatches_has_a_table_entry() {
        let routes = dispatched_routes();
        assert!(
            routes.len() > 60,
            "read too few routes from api.rs: {}",
            routes.len()
        );
        for (method, segments) in routes {
            let path: Vec<&str> = segments
                .iter()
                .map(|s| s.as_deref().unwrap_or("x_1"))
                .collect();
            let entry = endpoint(&method, &path);
            assert!(
                entry.is_some(),
                "{method} /v1/{} has no entry in param_table.json",
                path.join("/")
            );
            let entry = entry.expect("checked");
            for (t, s) in entry.template.iter().zip(&segments) {
                assert_eq!(
                    t.starts_with('{'),
                    s.is_none(),
                    "{method} {}: {:?}",
                    entry.key(),
                    segments
                );
            }
        }
    }

    #[test]
    fn the_most_literal_template_wins_and_unknown_paths_have_no_entry() {
        let search = endpoint("GET", &["subscriptions", "search"]).expect("search");
        assert_eq!(search.key(), "GET /v1/subscriptions/search");
        let retrieve = endpoint("GET", &["subscriptions", "sub_1"]).expect("retrieve");
        assert_eq!(
            retrieve.key(),
            "GET /v1/subscriptions/{subscription_exposed_id}"
        );
        assert!(endpoint("GET", &["no_such_things"]).is_none());
    }

    #[test]
    fn nested_unknown_keys_wrong_types_and_enums_are_named() {
        let create = endpoint("POST", &["checkout", "sessions"]).expect("entry");
        let cases: [(&[u8], &str, Option<&str>); 5] = [
            (
                b"line_items[0][prize]=p",
                "line_items[0][prize]",
                Some("parameter_unknown"),
            ),
            (
                b"expires_at=soon",
                "expires_at",
                Some("parameter_invalid_integer"),
            ),
            (
                b"expires_at=",
                "expires_at",
                Some("parameter_invalid_empty"),
            ),
            (b"mode=rent", "mode", None),
            (b"ui_mode=hosted", "ui_mode", None),
        ];
        for (raw, param, code) in cases {
            let err = check(create, &Params::parse(raw)).expect_err(param);
            assert_eq!(err.param.as_deref(), Some(param));
            assert_eq!(err.code.as_deref(), code, "{param}");
        }
        let ok = Params::parse(b"mode=payment&ui_mode=hosted_page&metadata[anything]=1&expand[]=x");
        assert_eq!(check(create, &ok), Ok(()));
    }
}
